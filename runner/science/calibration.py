"""Painting pressure's own mean: a per-redshift map from the painted t to E[p | painted t].

A model trained with the paper's likelihood paints t ≈ E[t | y], the mean of the *logarithm*
t = ln(1 + p/σ_z)/4 of pressure, and the pressure it paints is e^{4t} − 1. Where the truth
scatters around that mean (halo centres) the mean of the logarithm lies far below the
logarithm of the mean: the painting is too faint exactly in the pixels that carry the power
spectrum. The gap is measured, not modelled:

    t* = ¼ ln E[e^{4 t_true} | t_painted, z]                     (so e^{4t*} − 1 = E[p/σ_z | t_painted])

estimated on held-out (validation) tiles, or training tiles where a spec names none, painted
by the trained model itself (the estimator of the ceiling, :mod:`runner.science.ceiling`:
equal-count bins in the bulk, finer towards the top, log-linear between bin means), one table
per stored redshift, linear in z between them. Beyond the outermost bins a constant correction
t* − t is kept, measured on the brightest (faintest) 1% of the fitted pixels pooled,
¼ ln(Σ e^{4 t_true} / Σ e^{4 t_painted}): a painting brighter than any the fit saw (a cluster
rarer than the fit's samples hold) stays as much brighter, where holding t* itself would cap
every such cluster at the brightest fitted one, and the pooled pixels give the correction
without the noise of the outermost bin's few. The map is monotone in practice but not forced
to be; it is fitted after training, changes no weight, and the ELBO and every loss are those
of the raw model. If the scatter of t around the painting were Gaussian with variance s², t*
would be t + 2s² (a heteroscedastic likelihood's painting); the estimate needs no such
assumption, and
``bench/calibration.py`` scores both (they agree to a few hundredths on the quickstart).

The spec asks for it (``training.calibration: pressure_mean``); the table is written into every
checkpoint (key :data:`KEY`) and applied wherever a painting becomes pressure: ``runner
evaluate``, ``runner paint`` and :class:`runner.science.painter.Painter`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from runner.science.ceiling import fit_conditional_mean, min_count_for

KEY = "calibration"  # the checkpoint's key
METHOD = "pressure_mean"
# The thinnest bin of the tail holds this share of the fitted pixels (2,097 of 256 tiles of 64²):
# dozens of cluster cores, so that the mean of a heavy tail is an average over clusters and not
# over the pixels of one. Eight pixels (the ceiling's, and this table's until 2026-12-07) made
# the painted auto power swing by a factor of two with the choice of fitted tiles
# (docs/calibration.md, "The tail's bins"); bench/calibration.py --min-count measures others.
MIN_SHARE = 0.002
TILES_PER_REDSHIFT = 256  # training samples painted per redshift for the fit (4096 px each at 64²)
FIT_BATCH = 16
TAIL_SHARE = 0.01  # of the fitted pixels, pooled at each end for the correction beyond the table


class CalibrationError(ValueError):
    """A calibration table that cannot be used (from a damaged or foreign checkpoint)."""


@dataclass(frozen=True)
class Calibration:
    """One table per stored redshift: painted t at the bins' means (increasing) -> t*.

    Attributes:
        redshifts: increasing stored redshifts.
        knots: per redshift, the painted t of each bin (its mean), increasing.
        values: per redshift, t* = ¼ ln E[e^{4 t_true} | t_painted] at those knots.
        tiles: samples painted per redshift for the fit.
        split: the split they came from ('validation' where the spec names validation slices).
        beyond: per redshift, the correction t* − t below the first knot and above the last
            (None: the outermost knots' own, as tables written before 2026-12-07 are read).
    """

    redshifts: tuple[float, ...]
    knots: tuple[np.ndarray, ...]
    values: tuple[np.ndarray, ...]
    tiles: int
    split: str = "train"
    beyond: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self):
        problems = _problems(self)
        if problems:
            raise CalibrationError("; ".join(problems))

    def apply(self, t: np.ndarray, z: float) -> np.ndarray:
        """t* for painted t (any shape) at redshift z: linear in z between the stored tables,
        the nearest table beyond them."""
        t = np.asarray(t)
        zs = self.redshifts
        if z <= zs[0] or len(zs) == 1:
            return self._at(0, t)
        if z >= zs[-1]:
            return self._at(len(zs) - 1, t)
        hi = int(np.searchsorted(zs, z, side="right"))
        lo = hi - 1
        if math.isclose(z, zs[lo], abs_tol=1e-9):
            return self._at(lo, t)
        w = (z - zs[lo]) / (zs[hi] - zs[lo])
        return (1 - w) * self._at(lo, t) + w * self._at(hi, t)

    def _at(self, i: int, t: np.ndarray) -> np.ndarray:
        knots, values = self.knots[i], self.values[i]
        below, above = self.beyond[i] if self.beyond is not None else (values[0] - knots[0], values[-1] - knots[-1])
        out = np.interp(t, knots, values)
        # beyond the table: a constant correction t* - t, not the outermost t* (module docstring)
        out = np.where(t > knots[-1], t + above, out)
        out = np.where(t < knots[0], t + below, out)
        return out.astype(t.dtype, copy=False)

    def describe(self) -> str:
        return f"{METHOD}: E[p | painted t] from {self.tiles} {self.split} samples per redshift"

    # --- the checkpoint's form ----------------------------------------------------------------
    def to_state(self) -> dict:
        """Plain tensors and numbers (read back with ``torch.load(weights_only=True)``)."""
        return {
            "method": METHOD,
            "redshifts": torch.tensor(self.redshifts, dtype=torch.float64),
            "knots": [torch.from_numpy(np.asarray(k, np.float64)) for k in self.knots],
            "values": [torch.from_numpy(np.asarray(v, np.float64)) for v in self.values],
            "tiles": int(self.tiles),
            "split": str(self.split),
            **({"beyond": torch.tensor(self.beyond, dtype=torch.float64)} if self.beyond is not None else {}),
        }

    @classmethod
    def from_state(cls, state) -> Calibration:
        """The table a checkpoint holds; CalibrationError naming what is wrong."""
        if not isinstance(state, dict) or state.get("method") != METHOD:
            method = state.get("method") if isinstance(state, dict) else type(state).__name__
            raise CalibrationError(f"expected a '{METHOD}' calibration, found {method!r}")
        try:
            redshifts = tuple(float(z) for z in torch.as_tensor(state["redshifts"]).tolist())
            knots = tuple(torch.as_tensor(k).double().numpy() for k in state["knots"])
            values = tuple(torch.as_tensor(v).double().numpy() for v in state["values"])
            tiles = int(state["tiles"])
            split = str(state.get("split", "train"))  # tables written before validation splits: training tiles
            beyond = state.get("beyond")
            if beyond is not None:
                beyond = tuple(
                    (float(a), float(b)) for a, b in torch.as_tensor(beyond).double().reshape(-1, 2).tolist()
                )
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CalibrationError(f"an incomplete calibration table ({type(exc).__name__}: {exc})") from None
        return cls(redshifts, knots, values, tiles, split, beyond)


def _problems(c: Calibration) -> list[str]:
    out = []
    if not c.redshifts or len(c.knots) != len(c.redshifts) or len(c.values) != len(c.redshifts):
        return [f"{len(c.redshifts)} redshifts, {len(c.knots)} knot tables and {len(c.values)} value tables"]
    if any(b <= a for a, b in zip(c.redshifts, c.redshifts[1:])):
        out.append(f"redshifts not increasing: {list(c.redshifts)}")
    for z, k, v in zip(c.redshifts, c.knots, c.values):
        if k.ndim != 1 or k.shape != v.shape or k.size < 2:
            out.append(f"z = {z:g}: {k.shape} knots for {v.shape} values (at least 2 each)")
        elif not (np.isfinite(k).all() and np.isfinite(v).all()):
            out.append(f"z = {z:g}: non-finite knots or values")
        elif np.any(np.diff(k) <= 0):
            out.append(f"z = {z:g}: knots not increasing")
    if c.beyond is not None and (
        len(c.beyond) != len(c.redshifts) or not all(np.isfinite(v).all() for v in map(np.asarray, c.beyond))
    ):
        out.append(
            f"expected a finite pair of corrections beyond the table for each of {len(c.redshifts)} redshifts, "
            f"found {len(c.beyond)} pairs (or non-finite ones)"
        )
    return out


def fit(
    painted: Sequence[np.ndarray],
    true: Sequence[np.ndarray],
    redshifts: Sequence[float],
    tiles: int,
    min_count: int | None = None,
    split: str = "train",
):
    """The calibration from painted and true t (network units), one pair of arrays per redshift;
    ``min_count`` pixels in the thinnest bin of the tail (None: :data:`MIN_SHARE` of them); ``split``
    names where the samples came from."""
    knots, values, beyond = [], [], []
    for p, t in zip(painted, true):
        centre, mean = fit_conditional_mean(
            p, np.exp(4.0 * np.asarray(t, np.float64)), min_count or min_count_for(np.size(p), MIN_SHARE)
        )  # E[1 + p/σ_z | painted]
        centre, value = as_table(centre, np.log(mean) / 4.0)
        knots.append(centre)
        values.append(value)
        beyond.append(_pooled_corrections(np.ravel(p), np.ravel(t)))
    zs = tuple(float(z) for z in redshifts)
    return Calibration(zs, tuple(knots), tuple(values), int(tiles), split, tuple(beyond))


def _pooled_corrections(painted: np.ndarray, true: np.ndarray, share: float = TAIL_SHARE) -> tuple[float, float]:
    """(below, above): ¼ ln(Σ e^{4 t_true} / Σ e^{4 t_painted}) over the faintest and the brightest
    ``share`` of the painted pixels: the correction t* − t the table keeps beyond its ends."""
    painted, true = np.asarray(painted, np.float64), np.asarray(true, np.float64)
    n = max(1, int(round(share * painted.size)))
    order = np.argsort(painted, kind="stable")
    out = []
    for pick in (order[:n], order[-n:]):
        top = max(painted[pick].max(), true[pick].max())  # factored out: no overflow of e^{4t}
        out.append(float(np.log(np.exp(4 * (true[pick] - top)).sum() / np.exp(4 * (painted[pick] - top)).sum()) / 4))
    return out[0], out[1]


def as_table(centre: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A table's knots and values from fitted bins: a single bin (a constant painting, a collapsed
    model) becomes two knots around it with its value, so every pixel gets that value."""
    if len(centre) == 1:
        return centre + np.array([-0.5, 0.5]), np.repeat(value, 2)
    return centre, value


def fit_model(model, kind, data, *, device, precision: str, seed: int, tiles: int = TILES_PER_REDSHIFT):
    """Paint ``tiles`` samples per redshift of ``data`` (the validation split, or the training
    split where there is none) with the model and fit the calibration (:func:`paint_training`,
    then :func:`fit`)."""
    painted, true = paint_training(model, kind, data, device=device, precision=precision, seed=seed, tiles=tiles)
    return fit(painted, true, data.space.redshifts, min(tiles, data.space.per_depth**2), split=data.space.split)


def paint_training(model, kind, data, *, device, precision: str, seed: int, tiles: int = TILES_PER_REDSHIFT):
    """(painted, true) t per stored redshift, (n, T, T) each: ``tiles`` samples of the training
    split ``data`` painted by the model in eval mode with prior draws as painting makes them, in
    the run's precision. The model's mode and the caller's random streams are restored."""
    from runner.runtime import autocast_for, seeded
    from runner.science.choice import choose_samples

    space = data.space
    rng = np.random.default_rng([seed, 11])
    painted, true = [], []
    was_training = model.training
    model.train(False)
    try:
        with torch.no_grad(), seeded(device, seed * 1000 + 11):
            for zi in range(len(space.redshifts)):
                idx = choose_samples(space, zi, tiles, rng)
                p_z, t_z = [], []
                for start in range(0, len(idx), FIT_BATCH):
                    x, y = data.batch(idx[start : start + FIT_BATCH])
                    with autocast_for(precision, device):
                        out = kind.paint(model, y.to(device), "sample")
                    p_z.append(out[:, 0].float().cpu().numpy())
                    t_z.append(x[:, 0].float().cpu().numpy())
                painted.append(np.concatenate(p_z))
                true.append(np.concatenate(t_z))
    finally:
        model.train(was_training)
    return painted, true
