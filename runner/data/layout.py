"""The tile store's layout as data: format, fields, depths, units, and the names inside the file.

Layout (every dataset float32, shape (n_slices, grid, grid), chunked one slice per chunk)::

    /                       attrs: format, format_version, grid, n_slices, box_size, pixel_size,
                                   depths, redshifts, fields, provenance, created
    /dm/z0.000/100          attrs: units, box_size, slice_depth, redshift, provenance,
    /dm/z0.000/150                 mean, variance, min, max  (over all slices of that depth)
    /pressure/z0.000/100    ...

The reader (store.py), its checks (check.py) and the writer (write.py) share these names, so no
two of them import each other in a circle.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FORMAT = "archspec-tiles"
FORMAT_VERSION = 1
FIELDS = ("dm", "pressure")  # dark matter (1 + delta), electron pressure
DEPTHS = (100, 150)  # slice depths in Mpc/h; a sample sums one tile of each
REDSHIFTS = (0.0, 0.125, 0.25, 0.375, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)  # the original's 11
FULL_GRID, FULL_SLICES = 2048, 14  # the original: 400 Mpc/h, 14 slices per depth
DEFAULT_GRID, DEFAULT_SLICES = 1024, 4  # the default mock store, a laptop's: 200 Mpc/h slices
PIXEL_SIZE = 400.0 / 2048  # Mpc/h per pixel in the original BAHAMAS maps (0.1953125)
UNITS = {
    "dm": "projected density in units of the mean (1 + delta)",
    "pressure": "electron pressure, projected (BAHAMAS calibration units)",
}
ROOT_ATTRS = ("format", "format_version", "grid", "n_slices", "box_size", "pixel_size",
              "depths", "redshifts", "fields")
STAT_ATTRS = ("mean", "variance", "min", "max")
SCAN_LIMIT_BYTES = 1 << 30  # open_store scans values for NaN/inf by default below this size


class DataError(Exception):
    """A data file or data option is wrong. The message is one line and names the file."""


def z_key(z: float) -> str:
    """Group name of a redshift: 0.5 -> 'z0.500' (the original's {z:.3f})."""
    return f"z{z:.3f}"


def dataset_path(field: str, z: float, depth: int) -> str:
    return f"/{field}/{z_key(z)}/{depth}"


@dataclass(frozen=True)
class FieldStats:
    """Statistics of one field at one redshift, per slice depth, as stored in the file."""

    field: str
    z: float
    mean: dict  # depth -> mean over all slices of that depth
    var: dict  # depth -> variance over all pixels of all slices of that depth
    min: dict
    max: dict

    @property
    def sum_mean(self) -> float:
        """Mean of a summed 100 + 150 Mpc/h sample."""
        return float(sum(self.mean.values()))

    @property
    def sum_var(self) -> float:
        """Variance of a summed sample: the depths are independent slices, so variances add."""
        return float(sum(self.var.values()))

    @property
    def sigma(self) -> float:
        """sigma_z of the shift-log transform: sqrt(var_100 + var_150)."""
        return float(np.sqrt(self.sum_var))
