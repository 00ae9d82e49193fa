"""The dark-matter units painting expects, stated and checked where maps come in.

A model paints from dark matter in the units it learnt from. The convention (the original's,
``docs/data.md``): a projected density, scaled so that a 250 Mpc/h-deep projection — a 100 plus a
150 Mpc/h slice, as every training sample is — has a mean of about 1. Each slice is a sum of
sheets, so a projection of depth D has a mean of about D / 250 in these units. A checkpoint that
records its training data's mean (``ShiftLog.means``) is checked against that mean; an older one
against the convention.

What painting does with each map, from its mean m and the mean e expected for its depth:

    1/1.5 <= m/e <= 1.5      paint it (a tile's mean scatters around e; that is normal)
    1/10  <= m/e <= 10       paint it, with a warning that names the factor and what to do
    otherwise, or m <= 0     refuse: these are not the model's units
    rescale                  multiply the map by e/m first (its mean becomes e), and say so

and a depth other than the model's is a warning: the model never saw such a slab.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from runner.data.layout import DM_SUM_MEAN, SUM_DEPTH

# The convention, as the data layout states it (layout.UNITS): a summed 100 + 150 Mpc/h
# dark-matter sample has mean 1 (the original's stored means are 1.0008-1.0018 at every redshift).
TRAINED_DEPTH = float(SUM_DEPTH)  # Mpc/h: the depth of every training sample (250)
SAMPLE_DM_MEAN = DM_SUM_MEAN  # mean of dark matter over a TRAINED_DEPTH-deep projection, in model units
WARN_FACTOR = 1.5  # a mean this far from the expected one (either way) is a warning
REFUSE_FACTOR = 10.0  # ... and this far, a refusal (another unit, not another map)
BAHAMAS_HINT = "raw BAHAMAS grids: times Ωm/(Ωm − Ωb)/(n_grid/8·5), as the original loaded them"


@dataclass(frozen=True)
class DarkMatterUnits:
    """The dark matter a model expects.

    Attributes:
        depth: of the projections it learnt from [Mpc/h].
        redshifts, means: the training data's mean of such a projection per redshift, or None
            where the checkpoint does not record it (the convention's SAMPLE_DM_MEAN then).
    """

    depth: float = TRAINED_DEPTH
    redshifts: tuple[float, ...] | None = None
    means: tuple[float, ...] | None = None

    @classmethod
    def of(cls, dm_transform) -> DarkMatterUnits:
        """The units of a model whose dark-matter transform is ``dm_transform`` (a ShiftLog)."""
        means = getattr(dm_transform, "means", None)
        if means is None:
            return cls()
        return cls(TRAINED_DEPTH, tuple(float(z) for z in dm_transform.redshifts), tuple(float(m) for m in means))

    @property
    def recorded(self) -> bool:
        """Whether the expected mean comes from the training data (else from the convention)."""
        return self.means is not None

    def expected_mean(self, z: float, depth: float | None = None) -> float:
        """Mean of a ``depth``-deep projection (default the model's) at redshift z, in model units."""
        full = SAMPLE_DM_MEAN if self.means is None else float(np.interp(z, self.redshifts, self.means))
        return full * (self.depth if depth is None else float(depth)) / self.depth

    def __str__(self) -> str:
        source = "at z = 0, as its training data" if self.recorded else "the convention of docs/data.md"
        return (
            f"dark matter as a projected density scaled so that a {self.depth:g} Mpc/h-deep projection has "
            f"mean ≈ {self.expected_mean(0.0):.3g} ({source}); a D Mpc/h-deep map has mean ≈ D/{self.depth:g} "
            f"of that"
        )


@dataclass(frozen=True)
class UnitsCheck:
    """What to do with a stack of maps: ``scale`` (n,) multiplies each map before painting (1
    unless rescaled); ``warnings`` are one line each; ``error`` is set when they cannot be painted."""

    scale: np.ndarray
    warnings: tuple[str, ...]
    error: str | None = None


def check_maps(
    means: Sequence[float],
    zs: Sequence[float],
    units: DarkMatterUnits,
    *,
    depth: float | None = None,
    rescale: bool = False,
    cli: bool = False,
    label: str = "the dark-matter map",
) -> UnitsCheck:
    """Check maps by their means against the units the model expects.

    Args:
        means, zs: each map's mean and redshift.
        units: what the model expects (:meth:`DarkMatterUnits.of`).
        depth: the maps' projection depth [Mpc/h]; default the model's.
        rescale: bring each map's mean to the expected one instead of judging it.
        cli: name the command-line options in the advice (else the Python arguments).
        label: what the messages call the maps.

    Returns:
        A :class:`UnitsCheck`.
    """
    means, zs = np.asarray(means, dtype=np.float64), np.asarray(zs, dtype=np.float64)
    opt = {"rescale": "--rescale" if cli else "rescale=True", "depth": "--depth D" if cli else "depth=D"}
    depth = units.depth if depth is None else float(depth)
    expected = np.array([units.expected_mean(z, depth) for z in zs])
    warnings = []
    if depth <= 0:
        return UnitsCheck(np.ones(len(means)), (), f"the depth must be positive [Mpc/h]. Received: {depth:g}")
    if abs(depth / units.depth - 1) > 0.05:
        warnings.append(
            f"the model learnt from {units.depth:g} Mpc/h-deep projections; {label} is {depth:g} Mpc/h "
            f"deep, which it never saw (sum slices to about {units.depth:g} Mpc/h where you can)"
        )
    if not np.all(np.isfinite(means)):
        return UnitsCheck(
            np.ones(len(means)),
            tuple(warnings),
            f"{_which(label, len(means), ~np.isfinite(means))} has NaN or infinite values",
        )
    if np.any(means <= 0):
        bad = float(means[means <= 0][0])
        return UnitsCheck(
            np.ones(len(means)),
            tuple(warnings),
            f"{label} has mean {bad:.4g}: dark matter must be a positive projected density "
            f"(1 + δ times the depth's share, not δ); the model expects {units}",
        )
    if rescale:
        scale = expected / means
        warnings.append(
            f"rescaled {_which(label, len(means))} by {_span(scale)} so that the mean is {_span(expected)}, "
            f"the model's for a {depth:g} Mpc/h-deep projection"
        )
        return UnitsCheck(scale, tuple(warnings))
    ratio = means / expected
    far = np.abs(np.log(ratio)) > np.log(REFUSE_FACTOR)
    off = np.abs(np.log(ratio)) > np.log(WARN_FACTOR)
    if not off.any():
        return UnitsCheck(np.ones(len(means)), tuple(warnings))
    advice = (
        f"if the map is in other units, multiply it by {_span(1 / ratio[off], 3)} or pass {opt['rescale']}; "
        f"if it is a projection of another depth, pass {opt['depth']} [Mpc/h]"
    )
    if far.any():
        return UnitsCheck(
            np.ones(len(means)),
            tuple(warnings),
            f"{_which(label, len(means), far)} has mean {_span(means[far])}, {_span(ratio[far])} times the "
            f"{_span(expected[far])} the model expects for a {depth:g} Mpc/h-deep projection: not its units "
            f"({BAHAMAS_HINT}); {advice}",
        )
    warnings.append(
        f"{_which(label, len(means), off)} has mean {_span(means[off])}, {_span(ratio[off])} times the "
        f"{_span(expected[off])} the model expects for a {depth:g} Mpc/h-deep projection; {advice}"
    )
    return UnitsCheck(np.ones(len(means)), tuple(warnings))


def _which(label: str, n: int, mask: np.ndarray | None = None) -> str:
    """'the map', or 'maps 0, 3 of 8 in the stack' for a stack."""
    if n == 1:
        return label
    index = np.flatnonzero(np.ones(n, bool) if mask is None else mask)
    shown = ", ".join(str(i) for i in index[:6]) + (", ..." if len(index) > 6 else "")
    return f"{label} (map{'s' if len(index) > 1 else ''} {shown} of {n})"


def _span(values: np.ndarray, digits: int = 4) -> str:
    """One number, or 'lo-hi' for several."""
    values = np.atleast_1d(values)
    lo, hi = float(values.min()), float(values.max())
    return f"{lo:.{digits}g}" if f"{lo:.{digits}g}" == f"{hi:.{digits}g}" else f"{lo:.{digits}g}-{hi:.{digits}g}"


__all__ = [
    "DarkMatterUnits",
    "REFUSE_FACTOR",
    "SAMPLE_DM_MEAN",
    "TRAINED_DEPTH",
    "UnitsCheck",
    "WARN_FACTOR",
    "check_maps",
]
