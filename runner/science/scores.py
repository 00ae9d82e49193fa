"""The few numbers that say how well a model paints: worst |ratio − 1| below a few k.

    table = score_table(summary["per_redshift"], "tile")        # from an evaluation's summary
    print(format_scores(summary))                                # what runner evaluate prints

Beside them, the band-averaged ratios (k in 0.5-2 and 2-5 h/Mpc) with their bootstrap intervals
(:mod:`runner.science.uncertainty`) and the mean-pressure ratio: the numbers a variant is
judged by. For each redshift and each of ``protocol.K_BELOW`` (1, 2 and 5 h/Mpc), the largest
|<P_painted> / <P_true> − 1| among the k bins below it, of the pressure auto spectrum and of the
dark matter × pressure cross spectrum, <·> the mean over test tiles; and the worst of those
over the redshifts.

The ratio of the mean spectra, not the mean of the per-tile ratios that the paper's figure
shows: a tile's spectrum in a bin of a few modes can come close to zero (a cross spectrum
even below), and its ratio then explodes (measured on the quickstart's 64² tiles, whose
first bins hold 4 modes: one tile's cross ratio of 4,000 made the mean of 64 ratios 67 where
the mean spectra differ by 44%). Both are in summary.json. ``mode`` is "tile" (each tile
painted on its own, borders and all: the paper's
comparison) or "interior" (each tile painted inside a window of its own dark matter, the
window's border cut off: what the model paints away from any border).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from runner.science.protocol import K_BELOW

MODES = ("tile", "interior")
DOMINANT = 0.5  # a brightest test sample holding more of a band's true power than this is noted
SPECTRA = ("auto", "cross")


def worst_below(k: Sequence[float], values: Sequence[float | None], k_below: float) -> float | None:
    """max |v| over the bins with k < k_below whose value is known; None when there is none."""
    found = [abs(v) for kk, v in zip(k, values) if kk < k_below and v is not None and math.isfinite(v)]
    return max(found) if found else None


def _ratios(entry: dict, mode: str, kind: str) -> list | None:
    if mode == "tile":
        return entry[kind]["ratio_of_means"]
    interior = entry.get("interior")
    return interior[kind]["ratio_of_means"] if interior else None


def score_table(per_redshift: list[dict], mode: str, k_below: Sequence[float] = K_BELOW) -> dict | None:
    """{"k_below", "per_z": [{"z", "auto": [...], "cross": [...]}], "worst": {"auto", "cross"}}
    for one mode, a value per k_below; None for "interior" when nothing was painted in context."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if any(_ratios(e, mode, "auto") is None for e in per_redshift):
        return None
    per_z = [
        {
            "z": e["z"],
            **{kind: [worst_below(e["k"], _ratios(e, mode, kind), kb) for kb in k_below] for kind in SPECTRA},
            "bands": _bands(e, mode),
            "mean_ratio": _mean_ratio(e, mode),
            "brightest_share": (e.get("brightest_share") or {}).get("0.5-2"),
        }
        for e in per_redshift
    ]
    worst = {kind: [_max(row[kind][i] for row in per_z) for i in range(len(k_below))] for kind in SPECTRA}
    return {"k_below": list(k_below), "per_z": per_z, "worst": worst, "bands": _worst_bands(per_z)}


def _bands(entry: dict, mode: str) -> dict | None:
    """{kind: {band: [ratio - 1, lo, hi]}} of one redshift (None for evaluations before bands)."""
    stats = entry if mode == "tile" else entry.get("interior") or {}
    if "bands" not in stats.get("auto", {}):
        return None
    return {kind: stats[kind]["bands"] for kind in SPECTRA}


def _mean_ratio(entry: dict, mode: str) -> float | None:
    """Mean painted pressure over mean true pressure (1 for a painting without bias)."""
    mean = entry.get("mean_pressure") or {}
    painted = mean.get("painted" if mode == "tile" else "interior")
    return painted / mean["true"] if painted is not None and mean.get("true") else None


def _worst_bands(per_z: list[dict]) -> dict | None:
    """{kind: {band: [ratio - 1, lo, hi, z]}}: the redshift whose band ratio is farthest from 0."""
    if any(row["bands"] is None for row in per_z):
        return None
    out = {}
    for kind in SPECTRA:
        out[kind] = {}
        for band in per_z[0]["bands"][kind]:
            rows = [(row["bands"][kind][band], row["z"]) for row in per_z if row["bands"][kind][band][0] is not None]
            if rows:
                (v, lo, hi), z = max(rows, key=lambda r: abs(r[0][0]))
                out[kind][band] = [v, lo, hi, z]
    return out


def _max(values) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def format_scores(summary: dict, kl: float | None = None) -> str:
    """The scores of an evaluation as one table: a row per redshift and mode, a column per
    spectrum and k; a last row with the worst over redshifts (and the latent's KL if given)."""
    scores = summary["scores"]
    k_below = scores["tile"]["k_below"]
    heads = [f"{kind} k<{kb:g}" for kind in SPECTRA for kb in k_below]
    lines = [f"{'z':>5} {'painted as':<9} " + " ".join(f"{h:>10}" for h in heads)]
    for mode in MODES:
        table = scores.get(mode)
        if table is None:
            continue
        for row in table["per_z"] + [{"z": "worst", **table["worst"]}]:
            z = row["z"] if isinstance(row["z"], str) else f"{row['z']:g}"
            cells = [_cell(v) for kind in SPECTRA for v in row[kind]]
            lines.append(f"{z:>5} {mode:<9} " + " ".join(f"{c:>10}" for c in cells))
    bands = scores["tile"].get("bands")
    if bands:
        lines.append(
            "band-averaged ratio - 1 of mean spectra, tiles painted alone, with the bootstrap 68% interval "
            "over test samples (farthest from 0 over z):"
        )
        for kind in SPECTRA:
            cells = [
                f"k {band}: {v:+.3f} [{lo:+.3f}, {hi:+.3f}] (z={z:g})" for band, (v, lo, hi, z) in bands[kind].items()
            ]
            lines.append(f"  {kind:<5} " + "   ".join(cells))
        means = [(row["z"], row["mean_ratio"]) for row in scores["tile"]["per_z"] if row.get("mean_ratio") is not None]
        if means:
            lines.append("  mean painted / true pressure: " + ", ".join(f"{m:.3f} (z={z:g})" for z, m in means))
        rows = scores["tile"]["per_z"]
        shares = [(r["z"], r["brightest_share"]) for r in rows if r.get("brightest_share") is not None]
        if shares:
            lines.append(
                "  the brightest test sample's share of the true auto power at k 0.5-2: "
                + ", ".join(f"{v:.2f} (z={z:g})" for z, v in shares)
            )
            heavy = [(z, v) for z, v in shares if v > DOMINANT]
            if heavy:
                z, v = max(heavy, key=lambda zv: zv[1])
                lines.append(
                    f"  note: at z={z:g} one test sample holds {v:.0%} of that power: the band's scores there "
                    "measure how its clusters are painted more than the sky's (a larger test split averages more)"
                )
    if kl is not None:
        lines.append(f"latent KL(q || p) on test samples: {kl:.4g} nats per sample")
    calibration = summary.get("calibration")
    if calibration:  # evaluations written before 2026-12-07 carry none (their paintings were raw)
        lines.append(f"painting calibrated: {calibration}" if calibration != "none" else "painting: raw network output")
    return "\n".join(lines)


def _cell(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}" if v < 10 else f"{v:.3g}"
