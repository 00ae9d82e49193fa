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
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from runner.runtime import atomic_path

DPI = 100  # small files; labels are sized for this
K_LABEL = r"$k$ [$h\,\mathrm{Mpc}^{-1}$]"
POSITION_LABEL = r"[$h^{-1}\,\mathrm{Mpc}$]"


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
        ax.set_xlabel(r"$\log_{10}$ pressure" + "\n" + f"[{units}]")
        ax.legend(fontsize=7, loc="best")
    axes[0].set_ylabel("probability density [per dex]")
    if title:
        fig.suptitle(title)
    return save_png(fig, path)


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
    return save_png(fig, path)


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
    if not any(r.get("elbo") is not None for r in records) and any(r.get("d_loss") is not None for r in records):
        return _plot_gan_curves(path, records, title)
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
    return save_png(fig, path)


# A GAN's curves (runner/kinds/cgan.py): the two losses, and the discriminator's mean scores.
_GAN_PANELS = (
    ("losses [nats per patch]", (("d_loss", "discriminator"), ("g_adversarial", "generator, adversarial"))),
    ("mean score D", (("d_real", "of true maps"), ("d_fake", "of paintings"))),
)


def _plot_gan_curves(path, records: Sequence[Mapping], title: str) -> Path:
    """A GAN has no ELBO: its two losses (left) and the discriminator's mean score of true maps
    and of paintings (right; 0.5 each is the equilibrium), per split, raw (faint) and as a running
    median (solid); test records dashed."""
    fig = Figure(figsize=(11.0, 3.8), layout="constrained")
    for ax, (label, terms) in zip(fig.subplots(1, 2), _GAN_PANELS):
        for colour, (term, name) in enumerate(terms):
            for split, style in (("train", "-"), ("test", "--")):
                points = sorted(
                    (r["sample"], float(r[term]))
                    for r in records
                    if r.get("split") == split and r.get(term) is not None and np.isfinite(r[term])
                )
                if not points:
                    continue
                samples, values = np.array(points).T
                ax.plot(samples, values, color=f"C{colour}", lw=0.5, alpha=0.25, ls=style)
                smooth = _running_median(values, max(1, len(values) // 50))
                ax.plot(samples, smooth, color=f"C{colour}", lw=1.5, ls=style, label=f"{name}, {split}")
        if label.startswith("mean score"):
            ax.axhline(0.5, color="0.5", lw=0.8, ls=":", label="equilibrium 0.5")
            ax.set_ylim(0, 1)
        ax.set_xlabel("samples seen")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_png(fig, path)


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


def save_png(fig: Figure, path: str | os.PathLike) -> Path:
    """Render with Agg to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    return path


_STYLES = {"-": "solid", "--": "dashed", ":": "dotted", "-.": "dash-dot"}


def run_styles(names: Sequence[str], groups: Mapping[str, str] | None = None):
    """({run: colour}, {run: line style}, [(legend label, colour)]): a colour per configuration
    (``groups``: run -> configuration; default, each run its own), a line style per seed within
    it, and one legend entry per configuration naming its seeds' styles."""
    group = {name: (groups or {}).get(name, name) for name in names}
    order = list(dict.fromkeys(group.values()))
    colors = {name: f"C{order.index(g) % 10}" for name, g in group.items()}
    styles, labels = {}, []
    for g in order:
        members = [n for n in names if group[n] == g]
        for i, name in enumerate(members):
            styles[name] = tuple(_STYLES)[i % len(_STYLES)]
        seeds = ", ".join(_STYLES[styles[n]] for n in members)
        labels.append((g if len(members) == 1 else f"{g} ({len(members)} seeds: {seeds})", colors[members[0]]))
    return colors, styles, labels


def plot_comparison(
    path: str | os.PathLike,
    curves: Mapping[str, Sequence[tuple[float, float]]],
    spectra: Mapping[str, Mapping[float, Mapping[str, Sequence]]],
    kl_curves: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    groups: Mapping[str, str] | None = None,
) -> Path:
    """Runs side by side: test ELBO (top left) and KL (bottom left) against samples seen, and for
    each run the ratio of its mean painted to mean true spectrum, auto (top row) and cross
    (bottom row), one column per redshift, on a log axis around 1 with the ±10% and ±5% goals
    shaded and labelled, and the bootstrap interval of each line where the evaluation has one.

    The ELBO axis is linear and spans the last 80% of training, where runs differ: the first
    evaluations (hundreds of nats below) would squash the end on any axis that holds them.
    Bins whose ratio is 0 or below (a cross spectrum of the wrong sign) cannot sit on a log
    axis; the panel says how many were left out.

    Args:
        path: PNG to write.
        curves: run name -> [(samples, test ELBO), ...].
        spectra: run name -> {z: {"k": [...], "auto": [ratio − 1, ...], "cross": [...],
            and optionally "auto_lo", "auto_hi", "cross_lo", "cross_hi"}}.
        kl_curves: run name -> [(samples, test KL), ...] (runs of a kind without a latent: none).
        groups: run name -> its configuration (the seeds of one share it): one colour per
            configuration, one line style per seed, one legend under the figure; default: each
            run its own configuration.
    """
    redshifts = sorted({z for by_z in spectra.values() for z in by_z})
    ncols, nrows = 1 + len(redshifts), 2
    fig = Figure(figsize=(3.0 * ncols + (1.5 if not redshifts else 0), 2.9 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    colors, styles, labels = run_styles(list(curves), groups)
    ax = axes[0, 0]
    tail = []
    for name, curve in curves.items():
        if curve:
            samples, elbo = zip(*curve)
            ax.plot(samples, elbo, lw=1, color=colors[name], ls=styles[name])
            cut = samples[-1] * 0.2
            tail += [e for s, e in curve if s >= cut and np.isfinite(e)]
    if tail:
        low, high = np.percentile(tail, [2, 100])
        pad = 0.1 * max(high - low, 1e-3)
        ax.set_ylim(low - pad, high + pad)
    ax.set_xlabel("samples seen")
    ax.set_ylabel("test ELBO [nats per sample]\n(last 80% of training)")
    without = [name for name, curve in curves.items() if not curve]  # a GAN: no ELBO to draw
    if without:
        shown = ", ".join(without[:3]) + (" ..." if len(without) > 3 else "")
        ax.text(0.02, 0.97, f"no ELBO: {shown}", transform=ax.transAxes, fontsize=7, va="top")
    ax = axes[1, 0]
    drawn = False
    for name, curve in (kl_curves or {}).items():
        if curve:
            samples, kl = zip(*curve)
            ax.plot(samples, np.maximum(kl, 1e-6), lw=1, color=colors.get(name, "k"), ls=styles.get(name, "-"))
            drawn = True
    if drawn:
        ax.set_yscale("log")
        ax.set_xlabel("samples seen")
        ax.set_ylabel("test KL(q ‖ p) [nats per sample]")
    else:
        ax.axis("off")
    for c, z in enumerate(redshifts, start=1):
        for r, kind in enumerate(("auto", "cross")):
            ax = axes[r, c]
            for width, shade, label in ((0.10, "0.92", "goal: within ±10%"), (0.05, "0.84", "goal: within ±5%")):
                ax.axhspan(1 - width, 1 + width, color=shade, lw=0, zorder=0, label=label if (r, c) == (0, 1) else None)
            ax.axhline(1.0, color="0.5", lw=0.8)
            hidden = 0
            for name, by_z in spectra.items():
                if z not in by_z:
                    continue
                entry = by_z[z]
                k = np.asarray(entry["k"], float)
                ratio = 1 + np.asarray([np.nan if v is None else v for v in entry[kind]], float)
                hidden += int(np.sum(ratio <= 0))
                color = colors.get(name, "k")
                ax.plot(k, np.where(ratio > 0, ratio, np.nan), color=color, lw=1.2, ls=styles.get(name, "-"))
                if f"{kind}_lo" in entry:
                    lo, hi = (
                        1 + np.asarray([np.nan if v is None else v for v in entry[f"{kind}_{e}"]], float)
                        for e in ("lo", "hi")
                    )
                    ax.fill_between(
                        k, np.where(lo > 0, lo, np.nan), np.where(hi > 0, hi, np.nan), color=color, alpha=0.15, lw=0
                    )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.9, not 9×10⁻¹
            ax.yaxis.set_minor_formatter(NullFormatter())  # minor labels overlapped ("0.8.9")
            if hidden:
                ax.text(0.02, 0.02, f"{hidden} bin(s) with ratio ≤ 0 not shown", transform=ax.transAxes, fontsize=7)
            ax.set_title(f"{kind}, z = {z:g}", fontsize=10)
            ax.set_xlabel(K_LABEL)
            if c == 1:
                ax.set_ylabel(r"$P^{\rm painted}/P^{\rm true}$")
    from matplotlib.lines import Line2D

    runs = [Line2D([], [], color=color, lw=1.5, label=label) for label, color in labels]
    goals = axes[0, 1].get_legend_handles_labels()[0] if redshifts else []
    for r in range(nrows):  # a legend per row, beside its last panel (inside, it hid curves and labels)
        axes[r, -1].legend(
            handles=runs + goals, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7, frameon=False
        )
    if redshifts:
        fig.suptitle("lines: ratio of mean spectra over test tiles; bands: its 68% bootstrap interval", fontsize=9)
    return save_png(fig, path)
