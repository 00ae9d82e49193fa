"""Scores with their uncertainty: bootstrap intervals over test samples, band-averaged ratios,
the field-level correlation r(k), and the spread over seeds.

    ratio, lo, hi = bootstrap_ratio(painted, true, rng=rng)        # per k bin, 16-84% interval
    band = band_ratio(painted, true, n_modes, k, (0.5, 2.0), rng=rng)  # one number with its interval

Every statistic is the *ratio of mean spectra* (Σ_tiles P_painted / Σ_tiles P_true), the same
statistic the scores and the figures' lines show; its interval comes from resampling the test
samples with replacement (N_BOOT times) and recomputing that ratio, so a figure's band is the
uncertainty of its line and not the scatter of per-tile ratios. Heavy-tailed pressure makes the
per-tile ratios useless one by one (a bin of 4 modes can hold almost no power on one tile), while
the ratio of sums stays well defined.

Band ratios sum the power of the bins in a k band weighted by their modes (the band's mean power
over its Fourier modes), for the painted and the true maps apart, and divide: one number for
"0.5 < k < 2 h/Mpc" that many bins of few modes each cannot give.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

N_BOOT = 400  # resamplings: the 16-84% interval's ends to ~2% of its width
INTERVAL = (16.0, 84.0)  # a 68% interval, read as ±1σ
BANDS = ((0.5, 2.0), (2.0, 5.0))  # h/Mpc: where the goals are judged


def _resample_index(n: int, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    return rng.integers(0, n, size=(n_boot, n))


def _percentiles(boot: np.ndarray, interval: Sequence[float]) -> np.ndarray:
    """Percentiles over resamplings; NaN (quietly) for bins without modes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(boot, interval, axis=0)


def bootstrap_ratio(
    estimate: np.ndarray,
    truth: np.ndarray,
    rng: np.random.Generator | None = None,
    n_boot: int = N_BOOT,
    interval: Sequence[float] = INTERVAL,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ratio − 1 of the mean spectra per k bin, and the interval's ends from the bootstrap.

    Args:
        estimate, truth: (n_samples, n_bins) spectra, sample for sample.
    Returns:
        (value, lo, hi), each (n_bins,): value = Σ estimate / Σ truth − 1.
    """
    estimate, truth = np.asarray(estimate, float), np.asarray(truth, float)
    if estimate.shape != truth.shape or estimate.ndim != 2:
        raise ValueError(
            f"estimate and truth must be (n_samples, n_bins) of one shape. Received: {estimate.shape} and {truth.shape}"
        )
    rng = rng if rng is not None else np.random.default_rng(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = estimate.sum(0) / truth.sum(0) - 1
        idx = _resample_index(len(estimate), rng, n_boot)
        boot = estimate[idx].sum(1) / truth[idx].sum(1) - 1  # (n_boot, n_bins)
        lo, hi = _percentiles(boot, interval) if len(estimate) > 1 else (np.full_like(value, np.nan),) * 2
    return value, lo, hi


def band_sums(power: np.ndarray, n_modes: np.ndarray, k: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """(n_samples,) mean power over the Fourier modes of the bins with band[0] <= k < band[1]."""
    power = np.asarray(power, float)
    inside = (np.asarray(k) >= band[0]) & (np.asarray(k) < band[1]) & (np.asarray(n_modes) > 0)
    if not inside.any():
        return np.full(len(power), np.nan)
    w = np.asarray(n_modes, float)[inside]
    return (power[:, inside] * w).sum(1) / w.sum()


def band_ratio(
    estimate: np.ndarray,
    truth: np.ndarray,
    n_modes: np.ndarray,
    k: np.ndarray,
    band: tuple[float, float],
    rng: np.random.Generator | None = None,
    n_boot: int = N_BOOT,
) -> tuple[float, float, float]:
    """(value, lo, hi) of the band's ratio − 1 of mean spectra; NaN when no bin is in the band."""
    e, t = band_sums(estimate, n_modes, k, band), band_sums(truth, n_modes, k, band)
    value, lo, hi = bootstrap_ratio(e[:, None], t[:, None], rng, n_boot)
    return float(value[0]), float(lo[0]), float(hi[0])


def brightest_share(truth: np.ndarray, n_modes: np.ndarray, k: np.ndarray, band: tuple[float, float]) -> float:
    """The share of the band's true power (summed over test samples) that the brightest sample
    holds: near 1/n for a sky of many similar clusters, near 1 when one cluster makes the band's
    power, and then every score of the band measures how that one cluster is painted (its
    bootstrap interval says so too: resamplings without it change the ratio wholesale)."""
    t = band_sums(truth, n_modes, k, band)
    total = np.nansum(t)
    return float(np.nanmax(t) / total) if total > 0 else float("nan")


def correlation(
    cross: np.ndarray,
    auto_a: np.ndarray,
    auto_b: np.ndarray,
    rng: np.random.Generator | None = None,
    n_boot: int = N_BOOT,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """r(k) = <P_ab> / sqrt(<P_aa> <P_bb>) of mean spectra, with its bootstrap interval: 1 for a
    painting that is the truth up to a scale, 0 for one unrelated to it."""
    cross, auto_a, auto_b = (np.asarray(v, float) for v in (cross, auto_a, auto_b))
    rng = rng if rng is not None else np.random.default_rng(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = cross.mean(0) / np.sqrt(auto_a.mean(0) * auto_b.mean(0))
        idx = _resample_index(len(cross), rng, n_boot)
        boot = cross[idx].mean(1) / np.sqrt(auto_a[idx].mean(1) * auto_b[idx].mean(1))
        lo, hi = _percentiles(boot, INTERVAL) if len(cross) > 1 else (np.full_like(value, np.nan),) * 2
    return value, lo, hi


def seed_spread(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, sample standard deviation, n) of one score over runs that differ only in seed."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    if v.size == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan"), int(v.size)


def distinguishable(a: Sequence[float], b: Sequence[float], factor: float = 2.0) -> bool | None:
    """Do two sets of seeds' scores differ by more than ``factor`` times their spread? The spread
    is the larger of the two seed standard deviations; None when either has fewer than 2 seeds."""
    (ma, sa, na), (mb, sb, nb) = seed_spread(a), seed_spread(b)
    if na < 2 or nb < 2:
        return None
    return abs(ma - mb) > factor * max(sa, sb)
