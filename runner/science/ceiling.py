"""The best local painting of a map: the conditional mean E[p | s] of a target given one number
per pixel, estimated from training maps and applied to others. bench/ceiling.py paints test
samples with it to bound what a painter of the summed dark matter can reach.

Why a resolved tail: the power of pressure sits in its rarest pixels (halo centres: the top
0.1% carry much of it). Quantile bins of equal counts put the top ~0.5% of pixels in one bin and
paint them all with one mean, which flattens the peaks and makes the "ceiling" an artefact of the
estimator (last round's bench/ceiling.py reported 0.25-0.33 of the auto power where the resolved
estimate reaches ~0.8). Here the bins are quantiles of equal count in the bulk and ever finer
towards the top (down to MIN_COUNT pixels a bin), and the mean is interpolated linearly in the
feature between the bins' own mean features (in log of the mean for a positive target), so a
target that *is* a function of the
feature is painted back with its power (tests/runner/science/test_ceiling.py: a ratio of 1.00 within 3% for a
lognormal target as heavy-tailed as the original's pressure at z = 0).
"""

from __future__ import annotations

import numpy as np

BULK_BINS = 100  # equal-count bins below the top TAIL fraction
TAIL = 0.02  # the top 2% of pixels is split further, geometrically towards the maximum
TAIL_BINS = 200
MIN_COUNT = 8  # pixels in the thinnest tail bin


def min_count_for(pixels: int, share: float) -> int:
    """Pixels in the thinnest tail bin when it should hold ``share`` of ``pixels`` fitted ones (at
    least MIN_COUNT; share 0 gives MIN_COUNT, the resolved tail)."""
    return max(MIN_COUNT, round(share * pixels))


def bin_edges(feature: np.ndarray, min_count: int = MIN_COUNT) -> np.ndarray:
    """Edges of bins of ``feature``: equal-count in the bulk, finer and finer in the upper tail
    (down to ``min_count`` values in the thinnest)."""
    f = np.sort(np.asarray(feature, float).ravel())
    n = f.size
    bulk = np.linspace(0.0, 1.0 - TAIL, BULK_BINS + 1)
    smallest = max(min_count / n, 1e-9)
    tail = 1.0 - np.geomspace(TAIL, smallest, TAIL_BINS + 1)[1:] if smallest < TAIL else np.array([])
    levels = np.unique(np.concatenate([bulk, tail, [1.0]]))
    edges = np.unique(np.quantile(f, levels))
    return edges


def fit_conditional_mean(
    feature: np.ndarray, target: np.ndarray, min_count: int = MIN_COUNT
) -> tuple[np.ndarray, np.ndarray]:
    """The binned E[target | feature]: each bin's mean feature (increasing) and mean target."""
    x = np.asarray(feature, float).ravel()
    y = np.asarray(target, float).ravel()
    edges = bin_edges(x, min_count)
    if len(edges) < 2:  # a constant feature (a collapsed painting): one bin, the target's mean
        return x[:1], np.array([y.mean()])
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(which, minlength=len(edges) - 1)
    keep = counts > 0
    centre = np.bincount(which, weights=x, minlength=len(edges) - 1)[keep] / counts[keep]
    mean = np.bincount(which, weights=y, minlength=len(edges) - 1)[keep] / counts[keep]
    order = np.argsort(centre)
    return centre[order], mean[order]


def apply_conditional_mean(centre: np.ndarray, mean: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The fitted mean at ``at``: linear in the feature between the bins' points (in log of the
    mean for a positive target), held at the outermost bins' means beyond them."""
    at = np.asarray(at, float)
    if np.all(mean > 0) and len(centre) > 1:
        # a positive target: linear in log(mean) (exact for a power law of s); held at the
        # outermost bins' means beyond them: a slope extrapolated from a thin tail bin's noise
        # painted single pixels thousands of times too bright on the halo sky
        return np.exp(np.interp(at, centre, np.log(mean)))
    return np.interp(at, centre, mean)


def conditional_mean(
    feature_fit: np.ndarray, target_fit: np.ndarray, feature_apply: np.ndarray, min_count: int = MIN_COUNT
) -> np.ndarray:
    """E[target | feature] from the fit pairs, evaluated at ``feature_apply`` (same shape out);
    ``min_count`` pixels in the thinnest tail bin."""
    return apply_conditional_mean(*fit_conditional_mean(feature_fit, target_fit, min_count), feature_apply)
