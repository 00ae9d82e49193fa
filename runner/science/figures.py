"""Evaluation and training figures: arrays in, small PNGs out.

Every function builds a ``matplotlib.figure.Figure`` directly and renders it with the Agg
canvas, never through pyplot: no global figure list to leak, no display needed, safe from
any thread, and nothing is ever shown. Files are written to a temporary name and renamed, so
a training run that redraws its curves never leaves a half-written PNG behind.

Redshift-keyed inputs are ``{z: array}`` mappings; panels appear in increasing z.
"""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from runner.runtime import atomic_path
from runner.science.protocol import PAPER_VIEW

DPI = 100  # small files; labels are sized for this
RATIO_FLOOR = 1e-2  # the log view of painted/true spans at most 1e-2 ... 1e2
K_LABEL = r"$k$ [$h\,\mathrm{Mpc}^{-1}$]"
POSITION_LABEL = r"[$h^{-1}\,\mathrm{Mpc}$]"


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
    P_mp painted/true; the spectra are means over tiles. ``view`` "log" draws the ratio of the
    mean spectra on a logarithmic axis (a ratio is positive, and too much power counts as much
    as too little), with the 16-84% range of the per-tile ratios as a band; "paper" draws the
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
    fig = Figure(figsize=(3.0 * len(redshifts) + 0.9, 10.2), layout="constrained")
    axes = fig.subplots(4, len(redshifts), sharex=True, sharey="row", squeeze=False)
    styles = {"true": dict(color="k", ls=":", lw=1.6, label="true"),
              "painted": dict(color="C0", lw=1.4, label="painted, each tile alone"),
              "interior": dict(color="C1", ls="--", lw=1.4, label=interior_label or "")}
    for c, z in enumerate(redshifts):
        entry = by_z[z]
        for r, kind in enumerate(("auto", "cross")):
            _power_panel(axes[2 * r, c], k, entry["power"], kind, styles)
            _ratio_panel(axes[2 * r + 1, c], k, entry["ratio"][kind], view, styles)
            axes[2 * r, c].set_title(f"{kind}, z = {z:g}", fontsize=10)
    power_units = (units or {}).get("power", "")
    for r, (kind, symbol) in enumerate((("auto", "pp"), ("cross", "mp"))):
        axes[2 * r, 0].set_ylabel(rf"$k^2 P_{{{symbol}}}(k)$" + ("\n" + _k2_units(power_units) if power_units else ""))
        axes[2 * r + 1, 0].set_ylabel(rf"$P_{{{symbol}}}^{{\rm painted}}/P_{{{symbol}}}^{{\rm true}}$"
                                      + (" − 1" if view == "paper" else ""))
    for ax in axes[-1]:
        ax.set_xlabel(K_LABEL)
    for row in axes[1::2]:
        _ratio_limits(row[0], view)
    handles = [h for ax in axes[:2, 0] for h in ax.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles) // 2 + len(handles) % 2, fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _power_panel(ax, k, power: Mapping, kind: str, styles: Mapping) -> None:
    """k² P of the truth and the paintings; bins of non-positive mean power (a cross spectrum
    of the wrong sign) are left out of the log axis."""
    for name in ("true", "painted", "interior"):
        p = power.get(f"{name}_{kind}")
        if p is None or not styles[name]["label"]:
            continue
        y = k ** 2 * np.asarray(p, float)
        ax.plot(k, np.where(y > 0, y, np.nan), **styles[name])
    ax.set_xscale("log")
    ax.set_yscale("log")


def _ratio_panel(ax, k, ratios: Mapping, view: str, styles: Mapping) -> None:
    """Log view: <P_painted>/<P_true> (the ratio of the mean spectra, the curves above) and the
    16-84% range of the per-tile ratios. Paper view: mean ± std over tiles of the per-tile
    P_painted/P_true − 1, as the paper's figure."""
    offset = 1.0 if view == "log" else 0.0
    ax.axhline(offset, color="0.5", lw=0.8)
    for band in (-0.1, 0.1):
        ax.axhline(offset + band, color="0.75", lw=0.6, ls=":")
    for mode, name in (("tile", "painted"), ("interior", "interior")):
        if mode not in ratios or not styles[name]["label"]:
            continue
        r = {key: np.asarray(v, float) for key, v in ratios[mode].items()}
        if view == "log":  # a ratio at or below 0 has no place on a log axis: show it at the floor
            centre, low, high = (np.where(v + 1 > 0, v + 1, RATIO_FLOOR) for v in (r["ratio_of_means"], r["p16"], r["p84"]))
            label = f"{styles[name]['label']}: ratio of mean spectra, 16-84% of tiles"
        else:
            std = np.nan_to_num(r["std"])
            centre, low, high = r["mean"], r["mean"] - std, r["mean"] + std
            label = f"{styles[name]['label']}: mean ± std over tiles"
        ax.fill_between(k, low, high, color=styles[name]["color"], alpha=0.2, lw=0)
        ax.plot(k, centre, **{key: v for key, v in styles[name].items() if key != "label"}, label=label)
    ax.set_xscale("log")


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


def plot_one_point(
    path: str | os.PathLike,
    histograms_by_z: Mapping[float, Mapping],
    *,
    units: str = "map units",
    title: str = "",
) -> Path:
    """One-point distribution of log10 pressure, true and painted, one panel per redshift.

    Args:
        path: PNG to write.
        histograms_by_z: z -> {"log10_edges": (n + 1,), "true": (n,) densities, "painted":
            (n,), optionally "interior": (n,), "nonpositive_fraction": {name: fraction}}: what
            :func:`runner.science.report.one_point` computes (an empty list: no positive pixel).
        units: pressure units for the axis label.
        title: figure title.

    Returns:
        The path written. Pixels <= 0 cannot go on a log axis; their fraction is given in the
        legend where there are any (a painting can dip below zero; the truth should not).
    """
    redshifts = sorted(histograms_by_z)
    fig = Figure(figsize=(3.0 * len(redshifts) + 0.6, 3.4), layout="constrained")
    axes = fig.subplots(1, len(redshifts), sharey=True, squeeze=False)[0]
    names = {"true": "true", "painted": "painted, each tile alone", "interior": "painted in context"}
    for ax, z in zip(axes, redshifts):
        h = histograms_by_z[z]
        edges = np.asarray(h["log10_edges"], float)
        for colour, (name, label) in enumerate(names.items()):
            if name not in h:
                continue
            dropped = h.get("nonpositive_fraction", {}).get(name, 0.0)
            if dropped > 0:
                label += f" ({100 * dropped:.3g}% ≤ 0 not shown)"
            style = dict(color=("k", "C0", "C1")[colour], ls=(":", "-", "--")[colour], lw=1.4, label=label)
            density = np.asarray(h[name], float)
            if density.size and np.any(density > 0):
                ax.stairs(np.where(density > 0, density, np.nan), edges, **style)
            else:  # nothing to draw, but the legend still says why
                ax.plot([], [], **style)
        ax.set_yscale("log")
        ax.set_title(f"z = {z:g}", fontsize=10)
        ax.set_xlabel(rf"$\log_{{10}}$ pressure" + "\n" + f"[{units}]")
        ax.legend(fontsize=7, loc="best")
    axes[0].set_ylabel("probability density [per dex]")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_panels(
    path: str | os.PathLike,
    dm: Mapping[float, np.ndarray] | np.ndarray,
    true: Mapping[float, np.ndarray] | np.ndarray,
    painted: Mapping[float, np.ndarray] | np.ndarray,
    *,
    interior: Mapping[float, np.ndarray] | np.ndarray | None = None,
    box_size: float = 100.0,
    log: bool = True,
    dm_label: str = r"$\rho_{\rm DM}/\bar\rho_{\rm DM}$",
    pressure_label: str = "pressure [map units]",
    title: str = "",
) -> Path:
    """Image panels per redshift row: dark matter, true, painted, and their difference.

    Args:
        path: PNG to write.
        dm, true, painted: z -> (H, W) map, or a single (H, W) map for one unlabelled row.
        interior: the same tiles painted in context (a column after ``painted``; the
            difference column then compares it with the truth, away from tile borders).
        box_size: side of the maps [Mpc/h], for the axes.
        log: logarithmic colour scale for the map columns (pixels <= 0, which a painting may
            have, show in the lowest colour), and the last column shows log10(painted/true);
            else linear scales and painted − true.
        dm_label, pressure_label: colour-bar labels with units.
        title: figure title.

    Returns:
        The path written. True and painted share one colour scale per row, set by the truth.
    """
    maps = {"dm": dm, "true": true, "painted": painted, **({"interior": interior} if interior is not None else {})}
    maps = {name: _by_z(m) for name, m in maps.items()}
    redshifts = sorted(set.intersection(*(set(m) for m in maps.values())), key=lambda z: (z is None, z))
    if not redshifts:
        raise ValueError("plot_panels needs at least one redshift present in dm, true and painted")
    n_cols = len(maps) + 1
    fig = Figure(figsize=(3.3 * n_cols + 0.6, 2.9 * len(redshifts) + 0.4), layout="constrained")
    fig.get_layout_engine().set(wspace=0.06, w_pad=0.06)  # each colour-bar label stays with its panel
    axes = fig.subplots(len(redshifts), n_cols, squeeze=False, sharex=True, sharey=True)
    extent = (0, box_size, 0, box_size)
    for row, z in zip(axes, redshifts):
        d, t, p, *inside = (_downsample(np.asarray(m[z], float)) for m in maps.values())
        columns = [
            (d, _norm(d, log), "cividis", dm_label, "dark matter"),
            (t, _norm(t, log), "inferno", pressure_label, "true pressure"),
            (p, _norm(t, log), "inferno", pressure_label, "painted, tile alone"),
            *[(i, _norm(t, log), "inferno", pressure_label, "painted in context") for i in inside],
            _difference(t, inside[0] if inside else p, log, pressure_label, "in context" if inside else "painted"),
        ]
        for ax, (image, norm, cmap, label, name) in zip(row, columns):
            if isinstance(norm, LogNorm):  # LogNorm would blank pixels <= 0; show them lowest
                image = np.maximum(image, norm.vmin)
            shown = ax.imshow(image, norm=norm, cmap=cmap, extent=extent, origin="lower")
            bar = fig.colorbar(shown, ax=ax, shrink=0.85, label=label)
            if isinstance(norm, LogNorm):
                _plain_log_ticks(bar.ax.yaxis, norm)
            ax.set_title(name if z is None else f"{name}, z = {z:g}", fontsize=10)
        row[0].set_ylabel(f"y {POSITION_LABEL}")
    for ax in axes[-1]:
        ax.set_xlabel(f"x {POSITION_LABEL}")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_curves(
    path: str | os.PathLike,
    records: Sequence[Mapping],
    *,
    zoom_after: float = 0.2,
    title: str = "",
) -> Path:
    """Train and test ELBO against samples seen: the whole run, and a zoom on the later part.

    The ELBO starts orders of magnitude below where it ends, so the left panel uses a
    symmetric-log axis; the right panel is linear from ``zoom_after`` of the run on, where the
    gap between train and test is visible. Each split is drawn raw (faint) and as a running
    median (solid), since single batches are noisy.

    Args:
        path: PNG to write.
        records: dicts with ``sample`` (samples seen), ``split`` ("train", "test", ...) and
            ``elbo``; records without an ``elbo`` are ignored.
        zoom_after: fraction of the samples seen where the right panel starts.
        title: figure title.

    Returns:
        The path written.
    """
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for record in records:
        if record.get("elbo") is not None and np.isfinite(record["elbo"]):
            series[str(record.get("split", "train"))].append((record["sample"], float(record["elbo"])))
    fig = Figure(figsize=(11.0, 3.8), layout="constrained")
    full, zoom = fig.subplots(1, 2)
    last = max((s for points in series.values() for s, _ in points), default=1)
    start = zoom_after * last
    zoomed_values = []
    for colour, (split, points) in enumerate(sorted(series.items(), key=lambda kv: kv[0] != "train")):
        samples, elbo = np.array(sorted(points)).T
        smooth = _running_median(elbo, max(1, len(elbo) // 50))
        for ax in (full, zoom):
            ax.plot(samples, elbo, color=f"C{colour}", lw=0.6, alpha=0.3)
            ax.plot(samples, smooth, color=f"C{colour}", lw=1.6, label=f"{split} (running median)")
        zoomed_values.append(elbo[samples >= start])
    full.set_yscale("symlog", linthresh=1.0)
    full.set_title("whole run", fontsize=10)
    zoom.set_title(f"after the first {zoom_after:.0%} of the run", fontsize=10)
    zoom.set_xlim(start, last)
    pooled = np.concatenate(zoomed_values) if zoomed_values else np.array([])
    if pooled.size:
        low, high = np.percentile(pooled, [1, 99.5])
        pad = 0.1 * (high - low) or 1.0
        zoom.set_ylim(low - pad, high + pad)
    for ax in (full, zoom):
        ax.set_xlabel("samples seen")
        ax.set_ylabel("ELBO [nats per sample]")
        ax.grid(alpha=0.3)
    if series:
        zoom.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _by_z(maps) -> dict:
    # A bare 2-D map is one row without a redshift label.
    return dict(maps) if isinstance(maps, Mapping) else {None: np.asarray(maps)}


def _difference(true: np.ndarray, painted: np.ndarray, log: bool, label: str, painting: str = "painted"):
    """The last column: painted/true in dex on a log scale (what the eye compares between the
    log-scaled panels, not dominated by the brightest clusters), else painted − true."""
    if log:
        floor = _norm(true, log=True).vmin or 1e-30  # the floor the panels clip to
        image = np.log10(np.maximum(painted, floor) / np.maximum(true, floor))
        name, label = f"{painting} / true", r"$\log_{10}$ painted/true [dex]"
    else:
        image, name = painted - true, f"{painting} − true"
    limit = float(np.percentile(np.abs(image), 99.5)) or 1.0
    return image, Normalize(-limit, limit), "RdBu_r", label, name


def _plain_log_ticks(axis, norm: LogNorm) -> None:
    """Colour-bar ticks as plain numbers (0.3, 2) rather than 3x10^-1; within a short range,
    also label the 2s and 5s so the bar never shows a single label."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    if np.log10(norm.vmax / norm.vmin) < 1.5:
        leading = lambda v: round(v / 10 ** np.floor(np.log10(v)))  # noqa: E731
        axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if leading(v) in (2, 5) else ""))
    else:
        axis.set_minor_formatter(NullFormatter())


def _downsample(image: np.ndarray, max_pixels: int = 256) -> np.ndarray:
    """Block-average to at most ~max_pixels a side: a panel is ~250 pixels wide at DPI, and
    full-resolution noise would only make the PNG large."""
    factor = max(1, min(image.shape) // max_pixels)
    h, w = (n - n % factor for n in image.shape)
    return image[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


def _norm(image: np.ndarray, log: bool) -> Normalize:
    """Colour scale from the 0.5–99.9 percentiles, so a few extreme pixels do not wash it out."""
    values = image[image > 0] if log else image.ravel()
    if values.size == 0:  # nothing positive: a log scale is impossible
        return Normalize()
    low, high = np.percentile(values, [0.5, 99.9])
    high = high if high > low else low + 1.0
    return LogNorm(low, high, clip=True) if log else Normalize(low, high)


def _running_median(values: np.ndarray, half_window: int) -> np.ndarray:
    padded = np.pad(values, half_window, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half_window + 1)
    return np.median(windows, axis=1)


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    """Render with Agg to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    return path
