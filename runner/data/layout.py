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
# 2: dark matter in the original's load-time units (below); version 1 stored it per depth with
# mean 1 (mock) or as raw npy sums (imported), so a version-1 store is refused, not reinterpreted.
FORMAT_VERSION = 2
FIELDS = ("dm", "pressure")  # dark matter (projected density), electron pressure
DEPTHS = (100, 150)  # slice depths in Mpc/h; a sample sums one tile of each
REDSHIFTS = (0.0, 0.125, 0.25, 0.375, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)  # the original's 11
FULL_GRID, FULL_SLICES = 2048, 14  # the original: 400 Mpc/h, 14 slices per depth
DEFAULT_GRID, DEFAULT_SLICES = 1024, 4  # the default mock store, a laptop's: 200 Mpc/h slices
PIXEL_SIZE = 400.0 / 2048  # Mpc/h per pixel in the original BAHAMAS maps (0.1953125)
SUM_DEPTH = sum(DEPTHS)  # 250 Mpc/h: the depth of a summed sample
# The dark-matter convention, the original's at load time: each slice is a projection (a sum of
# 50 Mpc/h sheets), so its mean is in proportion to its depth, and the density is scaled so that
# a summed 100 + 150 Mpc/h sample has mean DM_SUM_MEAN. Mock and imported stores hold it; a map
# given to the painter must be a summed sample in it.
DM_SUM_MEAN = 1.0
# A store's (or a large map's) summed dark-matter mean further than this from DM_SUM_MEAN is in
# another convention (raw npy sums are ~1,070; per-depth means of 1 sum to 2). A single small
# tile fluctuates more than a store: a 100 Mpc/h tile by a few percent at z = 0.
DM_SUM_MEAN_RTOL = 0.25
OMEGA_M, OMEGA_B = 0.2793, 0.0463  # BAHAMAS (WMAP9): the original's load-time factor uses them
UNITS = {
    "dm": (
        f"projected density scaled as the original loads it: a {SUM_DEPTH} Mpc/h "
        f"({' + '.join(map(str, DEPTHS))}) sample has mean ~{DM_SUM_MEAN:g}; each depth's mean "
        f"in proportion to its depth"
    ),
    "pressure": "electron pressure, projected (BAHAMAS calibration units)",
}
ROOT_ATTRS = ("format", "format_version", "grid", "n_slices", "box_size", "pixel_size", "depths", "redshifts", "fields")
STAT_ATTRS = ("mean", "variance", "min", "max")
SCAN_LIMIT_BYTES = 1 << 30  # open_store scans values for NaN/inf by default below this size


def depth_share(depth: int) -> float:
    """The fraction of a summed sample's mean that a slice of `depth` Mpc/h carries (0.4, 0.6)."""
    return float(depth) / SUM_DEPTH


def original_dm_scale(n_grid: int) -> float:
    """The factor the original applies to raw npy dark matter when it loads it.

    Omega_m / (Omega_m - Omega_b) / (n_grid / 8 * 5), n_grid the maps' pixels per side: a raw
    pixel is the dark-matter density in units of the mean matter density summed over the line
    of sight in cells of the map's pixel size, so a 50 Mpc/h sheet (an eighth of the 400 Mpc/h
    box) sums n_grid / 8 cells and a 250 Mpc/h sample 5 such sheets; Omega_m / (Omega_m -
    Omega_b) turns the dark matter's share of the matter into a mean of 1.
    """
    return OMEGA_M / (OMEGA_M - OMEGA_B) / (n_grid / 8 * 5)


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
