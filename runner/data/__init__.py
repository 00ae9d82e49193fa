"""Tile data of the baryon painter: the HDF5 store, its checks and writer, transforms, the sample
space, datasets, the mock generator and the npy importer.

    from runner.data import open_store, SampleSpace, Sampler, TileDataset
    store = open_store("data.h5")                   # validated; DataError names what is wrong
    ds = TileDataset(store, tile=512, split="train")
    sampler = Sampler(len(ds), seed=0)
    x, y = ds.batch(sampler.next(24))               # x (24, 1, 512, 512), y (24, 2, 512, 512)

Where things live:
    layout.py        format, fields, depths, units, names inside the file; DataError
    store.py         TileStore, open_store, describe (what `runner data info` prints)
    check.py         validation of a store's layout, statistics and values
    identity.py      a store's identity (path, size, header hash), recorded by runs
    write.py         StoreWriter: atomic writing with running statistics
    transforms.py    ShiftLog: t = ln(v / sigma_z + 1) / 4 and its inverse
    samples.py       SampleSpace (the index space of two-tile samples), Sampler (resumable)
    tiles.py         TileDataset (CPU), DeviceTiles (on the training device); needs torch
    open.py          the datasets a spec's data section describes; the mock cache folder
    mock.py, mock_fields.py    calibrated mock stores; ensure_mock_store
    npy_import.py    the original's npy files -> a store
    original_stats.py  the statistics the original stored for its transform (its 11 redshifts)

Names are imported on first use, so that ``runner data`` and the store never pay for torch or
for the mock generator's cosmology libraries unless they use them.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "DEPTHS": "layout",
    "FIELDS": "layout",
    "PIXEL_SIZE": "layout",
    "UNITS": "layout",
    "DataError": "layout",
    "FieldStats": "layout",
    "TileStore": "store",
    "describe": "store",
    "open_store": "store",
    "StoreWriter": "write",
    "ShiftLog": "transforms",
    "Sample": "samples",
    "SampleSpace": "samples",
    "Sampler": "samples",
    "split_slices": "samples",
    "TileDataset": "tiles",
    "DeviceTiles": "tiles",
    "assemble": "tiles",
    "cache_dir": "open",
    "open_data": "open",
    "REDSHIFTS": "layout",
    "ensure_mock_store": "mock",
    "format_table": "mock",
    "generate_mock": "mock",
    "import_npy": "npy_import",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"runner.data.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'runner.data' has no attribute {name!r}")
