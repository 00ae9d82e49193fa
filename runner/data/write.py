"""Writing a tile store: slice by slice, statistics on the fly, atomically.

    with StoreWriter("data.h5", grid=1024, n_slices=4, redshifts=[0, 1], provenance="...") as w:
        w.write("dm", 0.0, 100, 0, array)        # one (grid, grid) slice at a time
        ...

The file is built as a hidden temporary in the output's folder and moved over the output with
`os.replace` only when every slice was written; on any error the temporary is deleted. An
existing output is refused unless `force=True`.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

from runner.data.check import check_transform, fail
from runner.data.layout import (
    DEPTHS,
    FIELDS,
    FORMAT,
    FORMAT_VERSION,
    PIXEL_SIZE,
    STAT_ATTRS,
    UNITS,
    DataError,
    FieldStats,
    dataset_path,
)
from runner.runtime import commit, temp_path


class RunningStats:
    """Mean, variance, min and max over slices, combined exactly (Chan et al.), in float64."""

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0
        self.min, self.max = np.inf, -np.inf

    def add(self, a: np.ndarray) -> None:
        n, mean = a.size, float(a.mean(dtype=np.float64))
        m2 = float(a.var(dtype=np.float64)) * n
        delta, total = mean - self.mean, self.n + n
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total
        self.min, self.max = min(self.min, float(a.min())), max(self.max, float(a.max()))

    def attrs(self) -> dict:
        return {"mean": self.mean, "variance": self.m2 / self.n, "min": self.min, "max": self.max}


def check_output(path: Path, force: bool, error_cls: type[Exception] = DataError) -> None:
    """Refuse to overwrite unless forced, and never a folder; the parent folder must exist.
    The one check of an output file, for stores and painted files alike (``error_cls`` is raised)."""
    path = Path(path)
    if path.is_dir():
        raise error_cls(f"{path}: is a folder; name the file to write")
    if path.exists() and not force:
        raise error_cls(f"{path.name}: already exists; pass --force to replace it ({path})")
    if not path.parent.is_dir():
        raise error_cls(f"{path.name}: folder {path.parent} does not exist")


def check_free_space(path: Path, nbytes: int, error_cls: type[Exception] = DataError) -> None:
    """Refuse up front a file of about ``nbytes`` that its folder has no room for: HDF5 hitting a
    full disk mid-write fails late, and h5py 3.16 (HDF5 2.0) then crashed at exit (a segfault,
    seen on a full tmpfs)."""
    free = shutil.disk_usage(Path(path).parent).free
    if free < nbytes:
        raise error_cls(
            f"{Path(path).name}: needs about {nbytes / 2**20:,.1f} MiB, but {Path(path).parent} has "
            f"{free / 2**20:,.1f} MiB free; free some space or write it elsewhere"
        )


class StoreWriter:
    """Context manager that writes a complete store or nothing.

    Args:
        path: output file. grid: pixels per side. n_slices: slices per depth.
        redshifts: ascending. box_size: Mpc/h, default grid x PIXEL_SIZE.
        provenance: one line saying where the data came from. force: replace an existing file.
        attrs: extra root attributes (JSON-serialisable values are stored as JSON strings).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        grid: int,
        n_slices: int,
        redshifts: list[float],
        provenance: str,
        box_size: float | None = None,
        force: bool = False,
        attrs: dict | None = None,
    ):
        self.path = Path(path)
        check_output(self.path, force)
        self.grid, self.n_slices = int(grid), int(n_slices)
        self.redshifts = [float(z) for z in redshifts]
        self.box_size = float(box_size) if box_size is not None else self.grid * PIXEL_SIZE
        self.provenance = provenance
        self.extra = attrs or {}
        maps = len(FIELDS) * len(self.redshifts) * len(DEPTHS) * self.n_slices * self.grid * self.grid * 4
        check_free_space(self.path, maps + (1 << 20))  # the maps, and a MiB for the layout and attributes
        self.tmp = temp_path(self.path)
        self.stats: dict[str, RunningStats] = {}
        self.written: dict[str, np.ndarray] = {}
        self.file: h5py.File | None = None

    def __enter__(self) -> StoreWriter:
        self.file = h5py.File(self.tmp, "w")
        self._write_root()
        for field in FIELDS:
            for z in self.redshifts:
                for depth in DEPTHS:
                    self._create(field, z, depth)
        return self

    def _write_root(self) -> None:
        a = self.file.attrs
        a["format"], a["format_version"] = FORMAT, FORMAT_VERSION
        a["grid"], a["n_slices"] = self.grid, self.n_slices
        a["box_size"], a["pixel_size"] = self.box_size, self.box_size / self.grid
        a["depths"], a["redshifts"] = np.array(DEPTHS), np.array(self.redshifts)
        a["fields"] = np.array(FIELDS, dtype=h5py.string_dtype())
        a["provenance"] = self.provenance
        a["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        for key, value in self.extra.items():
            a[key] = value if isinstance(value, (str, int, float)) else json.dumps(value)

    def _create(self, field: str, z: float, depth: int) -> None:
        name = dataset_path(field, z, depth)
        shape = (self.n_slices, self.grid, self.grid)
        ds = self.file.create_dataset(name, shape=shape, dtype=np.float32, chunks=(1, self.grid, self.grid))
        ds.attrs.update(
            units=UNITS[field], box_size=self.box_size, slice_depth=float(depth), redshift=z, provenance=self.provenance
        )
        self.file[name.rsplit("/", 1)[0]].attrs["redshift"] = z
        self.stats[name] = RunningStats()
        self.written[name] = np.zeros(self.n_slices, dtype=bool)

    def write(self, field: str, z: float, depth: int, s: int, values: np.ndarray, source: str = "") -> None:
        """Write slice `s` of `/field/z/depth`. `source` names the input in error messages."""
        name = dataset_path(field, z, depth)
        where = source or f"slice {s} of {name}"
        if name not in self.stats:
            raise DataError(f"{self.path.name}: {name} is not part of this store's layout")
        a = np.asarray(values, dtype=np.float32)
        if a.shape != (self.grid, self.grid):
            raise DataError(f"{where}: slice has shape {a.shape}, expected {(self.grid,) * 2}")
        bad = int(np.count_nonzero(~np.isfinite(a)))
        if bad:
            raise DataError(f"{where}: {bad} NaN/inf values")
        self.file[name][s] = a
        self.stats[name].add(a)
        self.written[name][s] = True

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._finish()
        finally:
            if self.file is not None and self.file.id.valid:
                self.file.close()
            if exc_type is not None or self.tmp.exists():
                self.tmp.unlink(missing_ok=True)
        return False

    def _finish(self) -> None:
        missing = [f"{name}[{int(np.argmin(w))}]" for name, w in self.written.items() if not w.all()]
        if missing:
            raise DataError(
                f"{self.path.name}: {len(missing)} dataset(s) incomplete, e.g. "
                f"{', '.join(missing[:3])}; nothing was written"
            )
        problems = []
        for field in FIELDS:  # a store that open_store would refuse is not written
            for z in self.redshifts:
                per_depth = {d: self.stats[dataset_path(field, z, d)].attrs() for d in DEPTHS}
                problems += check_transform(
                    field, z, FieldStats(field, z, *({d: s[k] for d, s in per_depth.items()} for k in STAT_ATTRS))
                )
        if problems:
            raise fail(self.path, problems)
        for name, st in self.stats.items():
            self.file[name].attrs.update(st.attrs())
        self.file.close()
        commit(self.tmp, self.path)
