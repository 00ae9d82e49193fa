"""What an evaluation leaves: summary.json and the figures, from the per-redshift results.

:func:`summary` lays out the numbers (format below); :func:`draw` draws the figures named in
the summary. :mod:`runner.science.evaluate` computes the results.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from archspec.language.kinds import KINDS as ARCH_KINDS
from runner.runtime import write_text_atomic
from runner.science import figures as plots
from runner.science.protocol import K_WORST, QUANTILES
from runner.science.scores import MODES, score_table
from runner.science.spectrum_figure import plot_spectra

SUMMARY = "summary.json"
FIGURES = {
    "spectra": "spectra.png",
    "spectra_paper": "spectra_paper.png",
    "one_point": "one_point.png",
    "panels": "panels.png",
}
FORMAT, VERSION = "archspec-evaluation", 2
ONE_POINT_BINS = 60  # histogram bins of log10 pressure
PAPER_MODE = "tile"  # the paper painted each 512^2 test tile on its own and took its spectrum


def summary(spec, plan, chosen, results, tiles, provenance) -> dict:
    """The summary of an evaluation::

    format, version (2), spec_name, provenance, seed, latent, seconds
    tiles_per_redshift: combinations painted per redshift; tiles_requested (null: all)
    choice:    {combinations, tiles_per_depth, available, distinct_100, distinct_150,
                max_uses_of_a_tile, independent} (at the first redshift; the same at every one)
    context:   {margin [px], window [px], paper: "tile"}: the interior's context, and which
               mode the paper's comparison is
    terms:     the kind's logged terms (elbo, loglik, kl for a cvae) averaged over every
               sample painted, in nats per sample
    data:      store, split, slices, tile [px], crop [px], pixel_size, box_size [Mpc/h]
    units:     k, power, pressure, dm; "maps": which maps the spectra are of
    bins:      edges, k, n_modes (bins without modes left out)
    redshifts: [{requested, used, note?}]
    per_redshift: [{z, n_tiles, samples (indices), k,
                    auto: {mean, std, ratio_of_means,    whole tiles: ratio - 1 per k bin: mean and
                           p16, p50, p84,                std (ddof 1) over tiles (the paper's), of
                           ci_lo, ci_hi,                 the mean spectra with its bootstrap 16-84%
                           bands: {"0.5-2": [v, lo, hi], interval, percentiles over tiles; band-
                                   "2-5": [...]}},       averaged ratio - 1 with its interval
                    cross: {...},                        (runner.science.uncertainty)
                    r: {value, lo, hi}: r(k) between painted and true pressure
                    interior: {auto, cross} or null,     the same, painted in context
                    power: {true_auto, painted_auto, interior_auto, true_cross, ...}: mean
                           spectra over tiles [(Mpc/h)^2 x units^2]
                    one_point: {log10_edges, true, painted, interior  (densities per log10 bin)
                                nonpositive_fraction: {...}},
                    mean_pressure: {true, painted, interior},
                    panel: {sample, slice_100, tile_100, slice_150, tile_150}}]
    overall:   {k_below, auto: {...}, cross: {...}, interior: {auto, cross} or null}: over
               redshifts and bins with k < k_below: worst, z, k: max |mean ratio - 1| and
               where; worst_dex, dex_z, dex_k: max |log10(ratio of mean spectra)| and where;
               nonpositive_bins: bins whose ratio of mean spectra is <= 0 (no log)
    scores:    {tile, interior}: runner.science.scores.score_table (k < 1, 2, 5 h/Mpc)
    figures:   file names in the output folder
    """
    from runner.data.layout import UNITS

    data = plan.data
    keep = results[0]["n_modes"] > 0  # bins that hold Fourier modes
    per_z = [_per_z(r, keep, data.space) for r in results]
    n_samples = [len(r["idx"]) for r in results]
    terms = np.sum([r["terms"] * n for r, n in zip(results, n_samples)], axis=0) / sum(n_samples)
    return {
        "format": FORMAT,
        "version": VERSION,
        "spec_name": spec.name,
        "provenance": provenance or {},
        "seed": plan.seed,
        "latent": _latent_words(plan),
        "tiles_per_redshift": n_samples[0],
        "tiles_requested": None if tiles is None else int(tiles),
        "choice": results[0]["choice"],
        "context": {
            "margin": plan.margin,
            "window": data.space.tile + 2 * plan.margin if plan.margin else None,
            "paper": PAPER_MODE,
        },
        "terms": dict(zip(plan.kind.terms, _floats(terms))),
        "data": {
            "store": str(data.store.path),
            "split": data.space.split,
            "slices": list(data.space.slices),
            "tile": data.space.tile,
            "crop": plan.crop,
            "pixel_size": float(data.store.pixel_size),
            "box_size": plan.box,
        },
        "units": {
            "k": "h/Mpc",
            "power": "(Mpc/h)^2 x map units^2",
            "pressure": UNITS["pressure"],
            "dm": UNITS["dm"],
            "maps": "physical units: painted pressure through the inverse shift-log transform; true pressure "
            "and dark matter as the sum of a 100 and a 150 Mpc/h tile",
        },
        "bins": {
            "edges": _floats(plan.edges),
            "k": _floats(results[0]["k"][keep]),
            "n_modes": [int(n) for n in results[0]["n_modes"][keep]],
        },
        "redshifts": chosen,
        "per_redshift": per_z,
        "overall": {**_overall(per_z, "tile"), "interior": _overall(per_z, "interior") if plan.margin else None},
        "scores": {mode: score_table(per_z, mode) for mode in MODES},
    }


def _latent_words(plan) -> str:
    """How the painting chose its latent, in words: a kind without one (regression, cgan) paints y alone."""
    if not any(role.name == "prior" for role in ARCH_KINDS.get(plan.kind.name).roles):
        return "none (the kind has no latent)"
    return "one draw from the prior p(z|y) per tile" if plan.sample else "prior mean"


def _per_z(r: dict, keep: np.ndarray, space) -> dict:
    sample = space.sample(int(r["idx"][0]))
    maps = r["maps"]
    stats = {
        mode: {
            kind: {
                "mean": _floats(m[keep]),
                "std": _floats(s[keep]),
                "ratio_of_means": _floats(p[keep]),
                **{f"p{q}": _floats(v[keep]) for q, v in zip(QUANTILES, quantiles)},
            }
            for kind, (m, s, p, quantiles) in by_kind.items()
        }
        for mode, by_kind in r["ratios"].items()
    }
    painted = {name: maps[key] for name, key in (("painted", "painted"), ("interior", "interior")) if key in maps}
    for mode, by_kind in r.get("uncertainty", {}).items():  # the bootstrap interval of ratio_of_means
        for kind in ("auto", "cross"):
            lo, hi = by_kind[kind]["interval"]
            stats[mode][kind].update(
                ci_lo=_floats(lo[keep]),
                ci_hi=_floats(hi[keep]),
                bands={name: _floats(v) for name, v in by_kind[kind]["bands"].items()},
            )
        stats[mode]["r"] = {name: _floats(v[keep]) for name, v in zip(("value", "lo", "hi"), by_kind["r"])}
    return {
        "z": r["z"],
        "n_tiles": len(r["idx"]),
        "samples": [int(i) for i in r["idx"]],
        "k": _floats(r["k"][keep]),
        **stats["tile"],
        "interior": stats.get("interior"),
        "power": {name: _floats(p[keep]) for name, p in r["power"].items()},
        "brightest_share": {band: _float(v) for band, v in r.get("brightest", {}).items()},
        "one_point": one_point(maps["true"], painted),
        "mean_pressure": {"true": float(maps["true"].mean()), **{n: float(m.mean()) for n, m in painted.items()}},
        "panel": {
            "sample": int(r["idx"][0]),
            "slice_100": sample.slice_100,
            "tile_100": list(sample.tile_100),
            "slice_150": sample.slice_150,
            "tile_150": list(sample.tile_150),
        },
    }


def one_point(true: np.ndarray, painted: dict, n_bins: int = ONE_POINT_BINS) -> dict:
    """Histograms (probability densities) of log10 pressure of the positive pixels of the truth
    and of each painting, on shared edges, and the fraction of pixels <= 0 of each."""
    maps = {"true": true, **painted}
    logs = {name: np.log10(v[v > 0]) for name, v in maps.items()}
    pooled = np.concatenate(list(logs.values()))
    edges = np.linspace(pooled.min(), pooled.max(), n_bins + 1) if pooled.size else np.linspace(-1, 1, 2)
    out = {"log10_edges": _floats(edges)}
    for name, v in logs.items():
        out[name] = _floats(np.histogram(v, bins=edges, density=True)[0]) if v.size else []
    out["nonpositive_fraction"] = {name: float(np.mean(v <= 0)) for name, v in maps.items()}
    return out


def _overall(per_z: list[dict], mode: str) -> dict:
    """Worst bins below K_WORST: |mean ratio - 1|, and |log10| of the ratio of mean spectra.

    |ratio - 1| cannot exceed 1 for too little power but is unbounded for too much, so a flat
    painting (ratio ~ 0) scores 1 and beats any painting with excess power; the dex figure is
    symmetric. A non-positive ratio of mean spectra (a cross spectrum of the wrong sign) has no
    logarithm: such bins are counted apart.
    """
    out = {"k_below": K_WORST}
    for kind in ("auto", "cross"):
        rows = []
        for e in per_z:
            stats = e[kind] if mode == "tile" else e["interior"][kind]
            rows += [
                (e["z"], k, m, p) for k, m, p in zip(e["k"], stats["mean"], stats["ratio_of_means"]) if k < K_WORST
            ]
        finite = [(abs(m), z, k) for z, k, m, _ in rows if m is not None]
        logs = [(abs(np.log10(1 + p)), z, k) for z, k, _, p in rows if p is not None and p > -1]
        worst, dex = max(finite, default=(None, None, None)), max(logs, default=(None, None, None))
        out[kind] = {
            "worst": _float(worst[0]),
            "z": worst[1],
            "k": _float(worst[2]),
            "worst_dex": _float(dex[0]),
            "dex_z": dex[1],
            "dex_k": _float(dex[2]),
            "nonpositive_bins": sum(1 for *_, p in rows if p is not None and p <= -1),
        }
    return out


def draw(out: Path, results: list[dict], summary: dict, title: str, box: float) -> None:
    """Draw the figures the summary names into ``out``."""
    drawn = summary["figures"]
    per_z = {e["z"]: e for e in summary["per_redshift"]}
    k = np.asarray(summary["bins"]["k"], float)
    choice = summary["choice"]
    tiles = f"{summary['tiles_per_redshift']} test tiles per z ({choice['independent']} independent)"
    margin = summary["context"]["margin"]
    for name, view in (("spectra", "log"), ("spectra_paper", "paper")):
        if name in drawn:
            plot_spectra(
                out / drawn[name],
                k,
                {z: _spectra_entry(e) for z, e in per_z.items()},
                view=view,
                interior_label=f"painted in context ({margin} px)" if margin else None,
                units=summary["units"],
                title=f"{title}: painted vs true, {tiles}",
            )
    if "one_point" in drawn:
        plots.plot_one_point(
            out / drawn["one_point"],
            {z: e["one_point"] for z, e in per_z.items()},
            units=_short_units(summary["units"]["pressure"]),
            title=f"{title}: one-point distribution",
        )
    if "panels" in drawn:
        maps = [{r["z"]: r["maps"][key][0] for r in results} for key in ("dm", "true", "painted")]
        interior = {r["z"]: r["maps"]["interior"][0] for r in results if "interior" in r["maps"]}
        plots.plot_panels(
            out / drawn["panels"],
            *maps,
            interior=interior or None,
            box_size=box,
            pressure_label=f"pressure [{_short_units(summary['units']['pressure'])}]",
            title=f"{title}: one test tile per z",
        )


def _spectra_entry(e: dict) -> dict:
    arrays = lambda d: {
        key: np.array([np.nan if v is None else v for v in vals], float)  # noqa: E731
        for key, vals in d.items()
        if isinstance(vals, list)
    }
    ratios = {kind: {"tile": arrays(e[kind])} for kind in ("auto", "cross")}
    if e.get("interior"):
        for kind in ("auto", "cross"):
            ratios[kind]["interior"] = arrays(e["interior"][kind])
    entry = {"power": arrays(e["power"]), "ratio": ratios}
    if e.get("r"):  # r(k) of painted vs true (evaluations since 2026-12-06)
        entry["r"] = {
            "tile": arrays(e["r"]),
            **({"interior": arrays(e["interior"]["r"])} if (e.get("interior") or {}).get("r") else {}),
        }
    return entry


def _short_units(units: str) -> str:
    """The part in parentheses of a units description, e.g. 'BAHAMAS calibration units'."""
    if "(" in units and units.endswith(")"):
        return units[units.rindex("(") + 1 : -1]
    return units


def title(spec, provenance: dict | None, crop: int = 0) -> str:
    seen = (provenance or {}).get("samples_seen")
    return (
        spec.name
        + (f", {seen:,} samples" if seen is not None else "")
        + (f" ({crop}-pixel tile borders cut)" if crop else "")
    )


def _float(v) -> float | None:
    return None if v is None else _floats([v])[0]


def _floats(a) -> list:
    """JSON-safe floats, 7 significant digits; NaN and inf become null."""
    return [float(f"{v:.7g}") if np.isfinite(v) else None for v in np.asarray(a, dtype=float).ravel()]


def write_json(path: Path, data: dict) -> Path:
    """Write JSON atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1) + "\n")
    return path
