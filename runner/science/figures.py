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

DPI = 100  # small files; labels are sized for this
K_LABEL = r"$k$ [$h\,\mathrm{Mpc}^{-1}$]"
POSITION_LABEL = r"[$h^{-1}\,\mathrm{Mpc}$]"


def plot_spectrum_ratios(
    path: str | os.PathLike,
    k: np.ndarray,
    auto_by_z: Mapping[float, tuple[np.ndarray, np.ndarray]],
    cross_by_z: Mapping[float, tuple[np.ndarray, np.ndarray]] | None = None,
    *,
    title: str = "",
) -> Path:
    """Painted / true power spectra − 1, mean ± std over tiles, one column per redshift.

    Args:
        path: PNG to write.
        k: (n_bins,) bin wavenumbers [h/Mpc] (``Spectrum.k``).
        auto_by_z: z -> (mean, std) of P_painted/P_true − 1 of the pressure auto spectrum,
            each (n_bins,) (``spectra.ratio_stats``).
        cross_by_z: the same for the dark matter × pressure cross spectrum; a second row.
        title: figure title, e.g. the checkpoint's name and the number of tiles.

    Returns:
        The path written.
    """
    rows = [("auto", r"$P_{pp}^{\rm painted}/P_{pp}^{\rm true}-1$", auto_by_z)]
    if cross_by_z is not None:
        rows.append(("cross", r"$P_{mp}^{\rm painted}/P_{mp}^{\rm true}-1$", cross_by_z))
    redshifts = sorted(set().union(*(by_z.keys() for _, _, by_z in rows)))
    fig = Figure(figsize=(3.0 * len(redshifts) + 0.6, 2.6 * len(rows) + 0.5), layout="constrained")
    axes = fig.subplots(len(rows), len(redshifts), sharex=True, sharey="row", squeeze=False)
    for r, (kind, ylabel, by_z) in enumerate(rows):
        for c, z in enumerate(redshifts):
            ax = axes[r, c]
            ax.axhline(0.0, color="0.5", lw=0.8)
            if z in by_z:
                mean, std = (np.asarray(v, float) for v in by_z[z])
                band = dict(color="C0", alpha=0.3, lw=0, label="±1 std over tiles")
                ax.fill_between(k, mean - std, mean + std, **band)
                ax.plot(k, mean, color="C0", lw=1.5, label="mean over tiles")
            ax.set_xscale("log")
            ax.set_title(f"{kind}, z = {z:g}", fontsize=10)
            if c == 0:
                ax.set_ylabel(ylabel)
            if r == len(rows) - 1:
                ax.set_xlabel(K_LABEL)
    for row in axes:
        _ratio_axis(row[0])
    axes[0, 0].legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_one_point(
    path: str | os.PathLike,
    true_by_z: Mapping[float, np.ndarray],
    painted_by_z: Mapping[float, np.ndarray],
    *,
    units: str = "map units",
    n_bins: int = 60,
    title: str = "",
) -> Path:
    """One-point distribution of log10 pressure, true and painted, one panel per redshift.

    Args:
        path: PNG to write.
        true_by_z: z -> true pressure maps (any shape; all pixels are pooled).
        painted_by_z: z -> painted pressure maps.
        units: pressure units for the axis label.
        n_bins: histogram bins, shared by true and painted within a panel.
        title: figure title.

    Returns:
        The path written. Pixels <= 0 cannot go on a log axis; their fraction is given in the
        legend where there are any (a painting can dip below zero; the truth should not).
    """
    redshifts = sorted(set(true_by_z) | set(painted_by_z))
    fig = Figure(figsize=(3.0 * len(redshifts) + 0.6, 3.1), layout="constrained")
    axes = fig.subplots(1, len(redshifts), sharey=True, squeeze=False)[0]
    for ax, z in zip(axes, redshifts):
        samples = {
            name: np.asarray(by_z[z], float).ravel()
            for name, by_z in (("true", true_by_z), ("painted", painted_by_z))
            if z in by_z
        }
        logs = {name: np.log10(v[v > 0]) for name, v in samples.items()}
        pooled = np.concatenate([v for v in logs.values()])
        edges = np.linspace(pooled.min(), pooled.max(), n_bins + 1) if pooled.size else np.linspace(-1, 1, 2)
        for colour, (name, values) in enumerate(logs.items()):
            label = name
            dropped = 1 - values.size / max(samples[name].size, 1)
            if dropped > 0:
                label += f" ({100 * dropped:.3g}% ≤ 0 not shown)"
            style = dict(color=f"C{colour}", ls=("-", "--")[colour], lw=1.5, label=label)
            if values.size:
                ax.hist(values, bins=edges, density=True, histtype="step", **style)
            else:  # nothing to histogram, but the legend still says why
                ax.plot([], [], **style)
        ax.set_yscale("log")
        ax.set_title(f"z = {z:g}", fontsize=10)
        ax.set_xlabel(rf"$\log_{{10}}$ pressure [{units}]")
        ax.legend(fontsize=8, loc="best")
    axes[0].set_ylabel("probability density")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_panels(
    path: str | os.PathLike,
    dm: Mapping[float, np.ndarray] | np.ndarray,
    true: Mapping[float, np.ndarray] | np.ndarray,
    painted: Mapping[float, np.ndarray] | np.ndarray,
    *,
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
        box_size: side of the maps [Mpc/h], for the axes.
        log: logarithmic colour scale for the first three columns (pixels <= 0, which a
            painting may have, show in the lowest colour), and the fourth column shows
            log10(painted/true); else linear scales and painted − true.
        dm_label, pressure_label: colour-bar labels with units.
        title: figure title.

    Returns:
        The path written. True and painted share one colour scale per row, set by the truth.
    """
    dm, true, painted = (_by_z(m) for m in (dm, true, painted))
    redshifts = sorted(set(dm) & set(true) & set(painted), key=lambda z: (z is None, z))
    if not redshifts:
        raise ValueError("plot_panels needs at least one redshift present in dm, true and painted")
    fig = Figure(figsize=(13.0, 2.9 * len(redshifts) + 0.4), layout="constrained")
    fig.get_layout_engine().set(wspace=0.06)  # keeps each colour-bar label with its own panel
    axes = fig.subplots(len(redshifts), 4, squeeze=False, sharex=True, sharey=True)
    extent = (0, box_size, 0, box_size)
    for row, z in zip(axes, redshifts):
        d, t, p = (_downsample(np.asarray(m[z], float)) for m in (dm, true, painted))
        columns = [
            (d, _norm(d, log), "cividis", dm_label, "dark matter"),
            (t, _norm(t, log), "inferno", pressure_label, "true pressure"),
            (p, _norm(t, log), "inferno", pressure_label, "painted pressure"),
            _difference(t, p, log, pressure_label),
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


def _ratio_axis(ax) -> None:
    """At least ±10% visible (a good painting should not look noisy on a zoomed axis); a
    symmetric-log axis beyond ±1, where a bad painting's high-k bins would flatten the rest."""
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, -0.1), max(high, 0.1))
    if max(-low, high) > 1.0:
        ax.set_yscale("symlog", linthresh=0.1)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.1, not 10^-1


def _by_z(maps) -> dict:
    # A bare 2-D map is one row without a redshift label.
    return dict(maps) if isinstance(maps, Mapping) else {None: np.asarray(maps)}


def _difference(true: np.ndarray, painted: np.ndarray, log: bool, label: str):
    """The fourth column: painted/true in dex on a log scale (what the eye compares between the
    two log-scaled panels, not dominated by the brightest clusters), else painted − true."""
    if log:
        floor = _norm(true, log=True).vmin or 1e-30  # the floor the panels clip to
        image = np.log10(np.maximum(painted, floor) / np.maximum(true, floor))
        name, label = "painted / true", r"$\log_{10}$ painted/true [dex]"
    else:
        image, name = painted - true, "painted − true"
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


def plot_comparison(
    path: str | os.PathLike,
    curves: Mapping[str, Sequence[tuple[float, float]]],
    spectra: Mapping[str, Mapping[float, Mapping[str, Sequence]]],
) -> Path:
    """Runs side by side: test ELBO against samples seen (top left), and for each run the ratio
    of its mean painted to mean true spectrum, auto (top row) and cross (bottom row), one
    column per redshift, on a log axis around 1 with the paper's ±35% shaded.

    Args:
        path: PNG to write.
        curves: run name -> [(samples, test ELBO), ...].
        spectra: run name -> {z: {"k": [...], "auto": [ratio − 1, ...], "cross": [...]}}.
    """
    redshifts = sorted({z for by_z in spectra.values() for z in by_z})
    ncols, nrows = 1 + len(redshifts), 2 if redshifts else 1  # without evaluations: the curves alone
    fig = Figure(figsize=(3.0 * ncols + (1.5 if not redshifts else 0), 2.7 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    colors = {name: f"C{i % 10}" for i, name in enumerate(curves)}
    ax = axes[0, 0]
    for name, curve in curves.items():
        if curve:
            samples, elbo = zip(*curve)
            ax.plot(samples, elbo, lw=1, color=colors[name], label=name)
    ax.set_xlabel("samples seen")
    ax.set_ylabel("test ELBO [nats per sample]")
    ax.set_yscale("symlog", linthresh=10)
    ax.legend(fontsize=7, loc="lower right")
    if redshifts:
        axes[1, 0].axis("off")
    for c, z in enumerate(redshifts, start=1):
        for r, kind in enumerate(("auto", "cross")):
            ax = axes[r, c]
            ax.axhspan(0.65, 1.35, color="0.9", lw=0)
            ax.axhline(1.0, color="0.5", lw=0.8)
            for name, by_z in spectra.items():
                if z in by_z:
                    k = np.asarray(by_z[z]["k"], float)
                    ratio = 1 + np.asarray([np.nan if v is None else v for v in by_z[z][kind]], float)
                    ax.plot(k, np.where(ratio > 0, ratio, np.nan), color=colors.get(name, "k"), lw=1.2)
            ax.set_xscale("log")
            ax.set_yscale("log")
            for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
                axis(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.9, not 9×10⁻¹
            ax.set_title(f"{kind}, z = {z:g}", fontsize=10)
            ax.set_xlabel(K_LABEL)
            if c == 1:
                ax.set_ylabel(r"$P^{\rm painted}/P^{\rm true}$")
    return _save(fig, path)
