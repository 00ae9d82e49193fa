"""Tile data of the baryon painter: store, transforms, sample space, datasets and mock data.

One import for the training runner::

    from runner.data import open_store, SampleSpace, Sampler, TileDataset, DeviceTiles, ShiftLog
    store = open_store("data.h5")                   # validated; DataError names what is wrong
    ds = TileDataset(store, tile=512, split="train")
    sampler = Sampler(len(ds), seed=0)
    x, y = ds.batch(sampler.next(24))               # x (24, 1, 512, 512), y (24, 2, 512, 512)

Where things live:
    store.py, store_check.py, store_write.py   HDF5 layout, validation, atomic writing
    transforms.py                              ShiftLog: t = ln(v / sigma_z + 1) / 4 and inverse
    samples.py                                 SampleSpace (index space), Sampler (resumable)
    tiles.py                                   TileDataset (CPU), DeviceTiles (on a GPU)
    mock.py, mock_fields.py                    calibrated mock stores; ensure_mock_store
    npy_import.py                              the original's npy files -> a store

TileDataset, DeviceTiles and assemble need torch; they are imported on first use, so that the
store, the mock generator and `runner data` do not pay for importing torch.
"""
from __future__ import annotations

import importlib

from runner.mock import REDSHIFTS, ensure_mock_store, format_table, generate_mock
from runner.npy_import import import_npy
from runner.samples import Sample, Sampler, SampleSpace, split_slices
from runner.store import (DEPTHS, FIELDS, PIXEL_SIZE, DataError, FieldStats, TileStore, describe,
                          open_store)
from runner.store_write import StoreWriter
from runner.transforms import ShiftLog

_LAZY = {"TileDataset": "runner.tiles", "DeviceTiles": "runner.tiles", "assemble": "runner.tiles"}

__all__ = ["DEPTHS", "FIELDS", "PIXEL_SIZE", "REDSHIFTS", "DataError", "DeviceTiles",
           "FieldStats", "Sample", "SampleSpace", "Sampler", "ShiftLog", "StoreWriter",
           "TileDataset", "TileStore", "assemble", "describe", "ensure_mock_store",
           "format_table", "generate_mock", "import_npy", "open_store", "split_slices"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'runner.data' has no attribute {name!r}")
