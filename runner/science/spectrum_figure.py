"""The spectra figure of an evaluation: mean spectra, truth and paintings, and their ratios.

Drawn as every figure of the runner (:mod:`runner.science.figures`): a ``Figure`` rendered by
Agg, written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from runner.science.figures import K_LABEL, save_png
from runner.science.protocol import PAPER_VIEW

RATIO_FLOOR = 1e-2  # the log view of painted/true spans at most 1e-2 ... 1e2


def plot_spectra(
    path: str | os.PathLike,
    k: np.ndarray,
    by_z: Mapping[float, Mapping],
    *,
    view: str = "log",
    interior_label: str | None = "painted in context",
    units: Mapping[str, str] | None = None,
    title: str = "",
) -> Path:
    """Auto and cross spectra, true and painted, and their ratios; one column per redshift.

    Rows: k² P_pp (pressure auto power), P_pp painted/true, k² P_mp (dark matter × pressure),
    P_mp painted/true, and (log view, when the summary has it) r(k) between painted and true
    pressure with its bootstrap interval; the spectra are means over tiles. ``view`` "log" draws the ratio of the
    mean spectra on a logarithmic axis (a ratio is positive, and too much power counts as much
    as too little), with its bootstrap 68% interval over test samples as the band (the same
    statistic as the line; older summaries: the 16-84% range of per-tile ratios, labelled so);
    the ±10% and ±5% goals are shaded and labelled; "paper" draws the
    paper's statistic, the mean ± standard deviation over tiles of P_painted/P_true − 1, on a
    linear axis clipped to the paper's ±35%, where the few-percent differences a paper quotes
    are visible.

    Args:
        path: PNG to write.
        k: (n_bins,) bin wavenumbers [h/Mpc].
        by_z: z -> {"power": {"true_auto", "painted_auto", "true_cross", "painted_cross",
            and "interior_auto", "interior_cross" when painted in context}: mean spectra over
            tiles (n_bins,); "ratio": {"auto", "cross"} -> {"tile", "interior"?} -> {"mean",
            "std", "ratio_of_means", "p16", "p84"}: of P_painted/P_true − 1 over tiles (n_bins,)
            each}. NaN where unknown.
        view: "log" or "paper".
        interior_label: the legend's name of the paintings in context.
        units: {"power": ...} for the axis labels.
        title: figure title.

    Returns:
        The path written.
    """
    if view not in ("log", "paper"):
        raise ValueError(f"view must be 'log' or 'paper'. Received: {view!r}")
    redshifts = sorted(by_z)
    with_r = view == "log" and all("r" in by_z[z] for z in redshifts)
    rows = 5 if with_r else 4
    fig = Figure(figsize=(3.0 * len(redshifts) + 0.9, 10.2 + (2.2 if with_r else 0)), layout="constrained")
    axes = fig.subplots(rows, len(redshifts), sharex=True, sharey="row", squeeze=False)
    styles = {
        "true": dict(color="k", ls=":", lw=1.6, label="true"),
        "painted": dict(color="C0", lw=1.4, label="painted, each tile alone"),
        "interior": dict(color="C1", ls="--", lw=1.4, label=interior_label or ""),
    }
    for c, z in enumerate(redshifts):
        entry = by_z[z]
        for r, kind in enumerate(("auto", "cross")):
            _power_panel(axes[2 * r, c], k, entry["power"], kind, styles)
            _ratio_panel(axes[2 * r + 1, c], k, entry["ratio"][kind], view, styles)
            axes[2 * r, c].set_title(f"{kind}, z = {z:g}", fontsize=10)
        if with_r:
            _r_panel(axes[4, c], k, entry["r"], styles)
    power_units = (units or {}).get("power", "")
    for r, (_, symbol) in enumerate((("auto", "pp"), ("cross", "mp"))):
        axes[2 * r, 0].set_ylabel(rf"$k^2 P_{{{symbol}}}(k)$" + ("\n" + _k2_units(power_units) if power_units else ""))
        axes[2 * r + 1, 0].set_ylabel(
            rf"$P_{{{symbol}}}^{{\rm painted}}/P_{{{symbol}}}^{{\rm true}}$" + (" − 1" if view == "paper" else "")
        )
    if with_r:
        axes[4, 0].set_ylabel("r(k), painted × true")
    for ax in axes[-1]:
        ax.set_xlabel(K_LABEL)
    for row in axes[1::2]:
        _ratio_limits(row[0], view)
    # a legend on every row, in its first panel: what each line and band of that row is
    for row in axes:
        handles, labels = row[0].get_legend_handles_labels()
        if handles:
            row[0].legend(handles, labels, fontsize=6, loc="lower left", framealpha=0.8)
    if title:
        fig.suptitle(title)
    return save_png(fig, path)


def _power_panel(ax, k, power: Mapping, kind: str, styles: Mapping) -> None:
    """k² P of the truth and the paintings; bins of non-positive mean power (a cross spectrum
    of the wrong sign) are left out of the log axis."""
    for name in ("true", "painted", "interior"):
        p = power.get(f"{name}_{kind}")
        if p is None or not styles[name]["label"]:
            continue
        y = k**2 * np.asarray(p, float)
        ax.plot(k, np.where(y > 0, y, np.nan), **styles[name])
    ax.set_xscale("log")
    ax.set_yscale("log")


def _ratio_panel(ax, k, ratios: Mapping, view: str, styles: Mapping) -> None:
    """Log view: <P_painted>/<P_true> (the ratio of the mean spectra, the curves above) and the
    16-84% range of the per-tile ratios. Paper view: mean ± std over tiles of the per-tile
    P_painted/P_true − 1, as the paper's figure."""
    offset = 1.0 if view == "log" else 0.0
    ax.axhline(offset, color="0.5", lw=0.8)
    # the goals, drawn as goals: painted within ±10% (and ±5%) of the true power
    for width, shade, label in ((0.10, "0.93", "goal: within ±10%"), (0.05, "0.86", "goal: within ±5%")):
        ax.axhspan(offset - width, offset + width, color=shade, lw=0, zorder=0, label=label)
    for mode, name in (("tile", "painted"), ("interior", "interior")):
        if mode not in ratios or not styles[name]["label"]:
            continue
        r = {key: np.asarray(v, float) for key, v in ratios[mode].items()}
        if view == "log" and "ci_lo" in r:  # the line and its band: one statistic, with its bootstrap interval
            centre, low, high = (
                np.where(v + 1 > 0, v + 1, RATIO_FLOOR) for v in (r["ratio_of_means"], r["ci_lo"], r["ci_hi"])
            )
            label = f"{styles[name]['label']}: ratio of mean spectra, 68% bootstrap interval"
        elif view == "log":  # an evaluation from before the bootstrap: its band is the spread of tiles
            centre, low, high = (
                np.where(v + 1 > 0, v + 1, RATIO_FLOOR) for v in (r["ratio_of_means"], r["p16"], r["p84"])
            )
            label = f"{styles[name]['label']}: ratio of mean spectra; band: 16-84% of per-tile ratios"
        else:
            std = np.nan_to_num(r["std"])
            centre, low, high = r["mean"], r["mean"] - std, r["mean"] + std
            label = f"{styles[name]['label']}: mean ± std over tiles"
        ax.fill_between(k, low, high, color=styles[name]["color"], alpha=0.2, lw=0)
        ax.plot(k, centre, **{key: v for key, v in styles[name].items() if key != "label"}, label=label)
    ax.set_xscale("log")


def _r_panel(ax, k, r: Mapping, styles: Mapping) -> None:
    """r(k) = <P_painted×true> / sqrt(<P_painted><P_true>) with its bootstrap interval: 1 where
    the painting is the truth up to a scale, whatever its amplitude."""
    ax.axhline(1.0, color="0.5", lw=0.8)
    for mode, name in (("tile", "painted"), ("interior", "interior")):
        if mode not in r or not styles[name]["label"]:
            continue
        v = {key: np.asarray(val, float) for key, val in r[mode].items()}
        ax.fill_between(k, v["lo"], v["hi"], color=styles[name]["color"], alpha=0.2, lw=0)
        ax.plot(
            k,
            v["value"],
            **{key: val for key, val in styles[name].items() if key != "label"},
            label=f"{styles[name]['label']}: r(k), 68% bootstrap interval",
        )
    ax.set_xscale("log")
    ax.set_ylim(0, 1.05)


def _ratio_limits(ax, view: str) -> None:
    """Paper view: ±35%. Log view: at least 0.8 … 1.25 (a good painting must not look noisy)
    and at most RATIO_FLOOR … 1/RATIO_FLOOR, beyond which a bad painting would flatten the rest."""
    if view == "paper":
        ax.set_ylim(-PAPER_VIEW, PAPER_VIEW)
        return
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    ax.set_ylim(max(min(low, 0.8), RATIO_FLOOR), min(max(high, 1.25), 1 / RATIO_FLOOR))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.1, not 10^-1
    ax.yaxis.set_minor_formatter(NullFormatter())


def _k2_units(power_units: str) -> str:
    """k² P has the map units squared: (h/Mpc)² × (Mpc/h)² cancel."""
    return "[" + power_units.replace("(Mpc/h)^2 x ", "").replace("^2", "²") + "]"
