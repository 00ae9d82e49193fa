"""The HDF5 tile store: one file, a group per field and redshift, a dataset per slice depth.

Layout (every dataset float32, shape (n_slices, grid, grid), chunked one slice per chunk)::

    /                       attrs: format, format_version, grid, n_slices, box_size, pixel_size,
                                   depths, redshifts, fields, provenance, created
    /dm/z0.000/100          attrs: units, box_size, slice_depth, redshift, provenance,
    /dm/z0.000/150                 mean, variance, min, max  (over all slices of that depth)
    /pressure/z0.000/100    ...

The statistics live in the file, so the shift-log transform never rescans the data. Opening a
file validates all of this and raises `DataError` with one line naming the file and each problem.
Writing goes through `StoreWriter` (store_write.py): a temporary file in the same folder, then
`os.replace`, and never over an existing file unless asked.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from runner.data.check import H5_ERRORS, check_file, damaged, read_error
from runner.data.layout import UNITS, DataError, FieldStats, dataset_path
from runner.data.samples import SampleSpace, default_test_count


class TileStore:
    """An open, validated tile store. Build one with `open_store`.

    Attributes:
        path: the file. grid: pixels per side. n_slices: slices per depth.
        box_size: side in Mpc/h. pixel_size: Mpc/h. redshifts: tuple of floats, ascending.
        depths: (100, 150). fields: ('dm', 'pressure'). attrs: all root attributes.
    """

    def __init__(self, path: str | os.PathLike, attrs: dict, stats: dict):
        self.path = Path(path)
        self.attrs = attrs
        self.grid = int(attrs["grid"])
        self.n_slices = int(attrs["n_slices"])
        self.box_size = float(attrs["box_size"])
        self.pixel_size = float(attrs["pixel_size"])
        self.redshifts = tuple(float(z) for z in attrs["redshifts"])
        self.depths = tuple(int(d) for d in attrs["depths"])
        self.fields = tuple(str(f) for f in attrs["fields"])
        self.provenance = str(attrs.get("provenance", ""))
        self._stats = stats  # (field, z index) -> FieldStats
        self._file: h5py.File | None = None
        self._pid: int | None = None

    # -- lookup ------------------------------------------------------------------------------
    def z_index(self, z: float) -> int:
        """Index of a stored redshift; DataError if z is not one of them."""
        for i, zz in enumerate(self.redshifts):
            if abs(zz - float(z)) < 5e-4:
                return i
        stored = ", ".join(f"{zz:g}" for zz in self.redshifts)
        raise DataError(f"{self.path.name}: redshift {z:g} is not stored. Stored: {stored}")

    def _check_field(self, field: str) -> None:
        if field not in self.fields:
            raise DataError(f"{self.path.name}: no field {field!r}. Fields: {', '.join(self.fields)}")

    def stats(self, field: str, z: float) -> FieldStats:
        """Stored statistics of `field` at the stored redshift `z`."""
        self._check_field(field)
        return self._stats[(field, self.z_index(z))]

    # -- data --------------------------------------------------------------------------------
    @property
    def file(self) -> h5py.File:
        """The open h5py file; reopened after a fork (h5py handles don't survive one)."""
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def dataset(self, field: str, z: float, depth: int) -> h5py.Dataset:
        self._check_field(field)
        name = dataset_path(field, self.redshifts[self.z_index(z)], depth)
        try:
            return self.file[name]
        except H5_ERRORS as exc:  # the file changed since it was checked, or its metadata is damaged
            raise damaged(self.path, name, exc) from None

    def read_slice(self, field: str, z: float, depth: int, s: int) -> np.ndarray:
        """One slice, (grid, grid) float32."""
        return self.read(self.dataset(field, z, depth), s)

    def read(self, ds: h5py.Dataset, key) -> np.ndarray:
        """``ds[key]``; a read HDF5 refuses (a corrupt chunk) is a one-line DataError naming the dataset."""
        try:
            return ds[key]
        except OSError as exc:
            raise read_error(self.path, ds.name, exc) from None
        except H5_ERRORS as exc:
            raise damaged(self.path, ds.name, exc) from None

    def nbytes(self) -> int:
        """Bytes of map data in the store (both fields, all redshifts and depths)."""
        n = len(self.fields) * len(self.redshifts) * len(self.depths) * self.n_slices
        return n * self.grid * self.grid * 4

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None

    def __enter__(self) -> TileStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:  # picklable for DataLoader workers: drop the handle
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, None
        return state

    def __repr__(self) -> str:
        return (
            f"TileStore({self.path.name}: {len(self.fields)} fields x {len(self.redshifts)} "
            f"redshifts x {len(self.depths)} depths x {self.n_slices} slices of "
            f"{self.grid}^2, {self.box_size:g} Mpc/h)"
        )


def open_store(path: str | os.PathLike, scan: bool | None = None) -> TileStore:
    """Open a tile store and validate its layout.

    Args:
        path: the HDF5 file.
        scan: read every value to check for NaN/inf. None: only when the maps take at most
            SCAN_LIMIT_BYTES (1 GiB); a larger store is checked when `DeviceTiles` loads it.

    Raises:
        DataError: one line naming the file and what is missing or malformed.
    """
    attrs, stats = check_file(Path(path), scan=scan)
    return TileStore(path, attrs, stats)


def describe(store: TileStore, tile: int | None = None) -> str:
    """What `runner data info` prints: layout, provenance, stored statistics, sample counts."""
    mb = store.path.stat().st_size / 2**20
    lines = [
        f"{store.path} ({mb:,.1f} MiB)",
        f"  layout     {len(store.fields)} fields x {len(store.redshifts)} redshifts x "
        f"{len(store.depths)} depths x {store.n_slices} slices of {store.grid}^2 float32",
        f"  box        {store.box_size:g} Mpc/h, pixel {store.pixel_size:.7g} Mpc/h, "
        f"slice depths {', '.join(map(str, store.depths))} Mpc/h",
        f"  redshifts  {', '.join(f'{z:g}' for z in store.redshifts)}",
        f"  provenance {store.provenance}",
        f"  created    {store.attrs.get('created', '?')}",
    ]
    tile = tile or next((t for t in (512, 256, 128, 64) if store.grid % t == 0), store.grid)
    k = default_test_count(store.n_slices)
    try:
        for split in ("train", "test"):
            sp = SampleSpace(store, tile, split)
            which = f"slice {sp.slices[0]}" if len(sp.slices) == 1 else f"slices {sp.slices[0]}-{sp.slices[-1]}"
            lines.append(
                f"  {split:<10} {which}: {len(sp):,} samples of {tile}^2 = "
                f"{len(sp.redshifts)} z x ({len(sp.slices)} slices x {sp.per_slice} "
                f"tiles)^2, from {sp.independent_tiles:,} tiles per depth"
            )
        lines.append(f"  (default split: the last {k} of {store.n_slices} slices are test)")
    except DataError as exc:
        lines.append(f"  no default train/test split: {exc}")
    for field in store.fields:
        lines += [f"  {field}: {UNITS[field]}"] + stats_table(store, field)
    lines.append(
        "  (orig.: the original BAHAMAS maps' statistics of a summed sample, docs/data.md; "
        "* = interpolated between its redshifts)"
    )
    return "\n".join(lines)


def stats_table(store: TileStore, field: str) -> list[str]:
    """Per-depth statistics, the summed sample's, and the original's beside them."""
    from runner.data.original_stats import in_table, reference

    lines = [
        f"    {'z':>6} {'mean 100':>10} {'var 100':>10} {'mean 150':>10} {'var 150':>10} | "
        f"{'sum mean':>10} {'sum var':>10} | {'orig. mean':>10} {'orig. var':>10} | "
        f"{'sigma_z':>9}"
    ]
    for z in store.redshifts:
        st = store.stats(field, z)
        mark = " " if in_table(z) else "*"
        lines.append(
            f"    {z:>6.3f} {st.mean[100]:>10.4g} {st.var[100]:>10.4g} "
            f"{st.mean[150]:>10.4g} {st.var[150]:>10.4g} | {st.sum_mean:>10.4g} "
            f"{st.sum_var:>10.4g} | {reference(field, 'mean', z):>10.4g} "
            f"{reference(field, 'var', z):>9.4g}{mark} | {st.sigma:>9.4g}"
        )
    return lines
