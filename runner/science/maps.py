"""Judging painted maps against true ones, as arrays: the paper's spectra for a notebook.

    spectra = evaluate_maps(painted, true, dm, box_size=136.7)
    spectra.k, spectra.auto_ratio_mean, spectra.cross_ratio_mean      # (n_bins,) each

The auto power spectrum of painted and of true pressure, and the cross spectra of dark matter
with each, per map, in log-spaced bins from the fundamental mode to the Nyquist frequency (20, as
``runner evaluate``), with the ratios painted / true − 1 per map and their mean and standard
deviation over maps (:func:`runner.science.spectra.ratio_stats`, as the evaluation computes
them). Units: k in h/Mpc, power in (Mpc/h)² × map units², whatever units the maps are in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from runner.science.protocol import N_BINS
from runner.science.spectra import power_spectrum, ratio_stats


@dataclass(frozen=True)
class MapSpectra:
    """Spectra of painted against true maps; per-map arrays have the maps' leading axes.

    Attributes:
        k: (n_bins,) mean |k| of each bin's modes [h/Mpc]. n_modes: (n_bins,). edges: (n_bins + 1,).
        auto, auto_true: (..., n_bins) pressure auto spectra, painted and true.
        cross, cross_true: (..., n_bins) dark matter × pressure cross spectra, painted and true.
        auto_ratio, cross_ratio: (..., n_bins) painted / true − 1, per map.
        auto_ratio_mean, auto_ratio_std, cross_ratio_mean, cross_ratio_std: (n_bins,) over
            maps (the std is NaN for a single map).
    """

    k: np.ndarray
    n_modes: np.ndarray
    edges: np.ndarray
    auto: np.ndarray
    auto_true: np.ndarray
    cross: np.ndarray
    cross_true: np.ndarray
    auto_ratio: np.ndarray
    cross_ratio: np.ndarray
    auto_ratio_mean: np.ndarray
    auto_ratio_std: np.ndarray
    cross_ratio_mean: np.ndarray
    cross_ratio_std: np.ndarray


def evaluate_maps(
    painted, true, dm, box_size: float | Sequence[float], *, bins: int | Sequence[float] = N_BINS
) -> MapSpectra:
    """Auto and cross spectra of painted against true pressure.

    Args:
        painted, true: (..., H, W) pressure maps of the same shape, in the same units.
        dm: the dark matter they were painted from, (..., H, W) like them (or (H, W) for all).
        box_size: the maps' side [Mpc/h], one for both axes or (L_y, L_x); pixels × pixel size
            (0.1953125 Mpc/h in the original's grids).
        bins: number of log-spaced bins from the fundamental to the Nyquist frequency, or edges [h/Mpc].

    Returns:
        A :class:`MapSpectra`.
    """
    painted, true = np.asarray(painted, dtype=np.float64), np.asarray(true, dtype=np.float64)
    dm = (
        np.broadcast_to(np.asarray(dm, dtype=np.float64), painted.shape)
        if np.ndim(dm) == 2
        else np.asarray(dm, np.float64)
    )
    if painted.shape != true.shape or dm.shape != painted.shape or painted.ndim < 2:
        raise ValueError(
            f"painted, true and dm must be maps (..., H, W) of one shape. Received: painted {painted.shape}, "
            f"true {true.shape}, dm {dm.shape}"
        )
    spectra = {
        name: power_spectrum(a, b, box_size=box_size, bins=bins)
        for name, (a, b) in {
            "auto": (painted, None),
            "auto_true": (true, None),
            "cross": (dm, painted),
            "cross_true": (dm, true),
        }.items()
    }
    power = {name: s.power for name, s in spectra.items()}
    first = spectra["auto_true"]
    summary = {}
    for kind in ("auto", "cross"):
        est, ref = power[kind].reshape(-1, len(first.k)), power[f"{kind}_true"].reshape(-1, len(first.k))
        with np.errstate(invalid="ignore", divide="ignore"):
            if len(est) > 1:
                summary[kind] = ratio_stats(est, ref)
            else:  # one map: its ratio, and no scatter to speak of
                summary[kind] = (est[0] / ref[0] - 1, np.full(len(first.k), np.nan))
            summary[f"{kind}_each"] = power[kind] / power[f"{kind}_true"] - 1
    return MapSpectra(
        k=first.k,
        n_modes=first.n_modes,
        edges=first.edges,
        **power,
        auto_ratio=summary["auto_each"],
        cross_ratio=summary["cross_each"],
        auto_ratio_mean=summary["auto"][0],
        auto_ratio_std=summary["auto"][1],
        cross_ratio_mean=summary["cross"][0],
        cross_ratio_std=summary["cross"][1],
    )


__all__ = ["MapSpectra", "evaluate_maps"]
