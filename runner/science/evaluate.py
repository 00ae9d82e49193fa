"""Evaluation as the paper does it: spectra, one-point statistics and image panels of test tiles.

    summary = evaluate_model(model, spec, test_data, "runs/quick/eval/12000")   # a library call
    runner evaluate runs/quickstart --out runs/quickstart/eval                  # the command

For each redshift (default 0, 0.5, 1, 2; the nearest stored redshift stands in for one that is
not stored, and the summary says so) a fixed, seeded choice of test samples (a 100 Mpc/h tile
plus a 150 Mpc/h tile, as in training) is painted by the generator, and compared with the truth
**in physical units**: the painted network values go through the inverse shift-log transform,
the true pressure and dark matter are the summed raw tiles (dark matter as 1 + delta).

    auto    P_pp(painted) / P_pp(true) - 1        pressure auto power spectrum
    cross   P_mp(painted) / P_mp(true) - 1        dark matter x pressure cross spectrum

per tile, then mean and standard deviation over tiles, in 20 log-spaced k bins from 2 pi / L to
2 pi / L * T / 2 (L = T x pixel size; for 512^2 tiles of 100 Mpc/h these are the paper's bins;
bins that hold no Fourier mode, which small tiles have at low k, are left out). The latent is
drawn from the prior, one draw per tile, with a fixed seed (``latent="mean"``: the prior's mean).

Writes into the output folder: spectra.png, one_point.png, panels.png and summary.json with the
numbers behind each figure (layout: :func:`evaluate_model`).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from archspec import spec_hash
from runner.kinds import KINDS
from runner.runtime import seeded, write_text_atomic
from runner.science import figures as plots
from runner.science.protocol import K_WORST, N_BINS, QUICK_TILES
from runner.science.protocol import REDSHIFTS as DEFAULT_REDSHIFTS
from runner.science.protocol import TILES as DEFAULT_TILES
from runner.science.spectra import log_bins, power_spectrum, ratio_stats

ONE_POINT_BINS = 60  # histogram bins of log10 pressure (figures.plot_one_point's default)
Z_MATCH = 5e-4  # a requested redshift within this of a stored one is that one
SUMMARY = "summary.json"
FIGURES = {"spectra": "spectra.png", "one_point": "one_point.png", "panels": "panels.png"}
FORMAT = "archspec-evaluation"


def evaluate_model(model: torch.nn.Module, spec, test_data, out_dir: str | os.PathLike, *,
                   device: torch.device | str | None = None, transforms: dict | None = None,
                   tiles: int = DEFAULT_TILES, redshifts: Sequence[float] = DEFAULT_REDSHIFTS,
                   seed: int = 0, latent: str = "sample", batch_size: int = 8,
                   provenance: dict | None = None, title: str | None = None,
                   figures: Sequence[str] = tuple(FIGURES), crop: int = 0) -> dict:
    """Paint test samples, compare them with the truth, write figures and summary.json.

    Args:
        model: the CVAE (put in eval mode here; its mode is restored afterwards).
        spec: its spec (for names in titles and the summary).
        test_data: the test split: a ``TileDataset`` or ``DeviceTiles`` (raw tiles are read
            from its store).
        out_dir: folder for the figures and summary.json (created).
        device: where the model runs; default: where its parameters are.
        transforms: {"dm", "pressure"} -> ShiftLog the model was trained with; default the
            test data's own.
        tiles: samples per redshift (at most the tiles of one depth at one redshift).
        redshifts: requested redshifts; the nearest stored one stands in for each.
        seed: of the choice of samples and of the latent draws.
        latent: "sample" (a draw from the prior per tile) or "mean" (the prior's mean).
        batch_size: tiles per generator call.
        provenance: plain data about the model (checkpoint, samples seen) for the summary.
        title: figure titles' prefix; default the spec's name and the samples seen.
        figures: which of "spectra", "one_point", "panels" to draw (drawing dominates the
            cost on a CPU; the summary holds the numbers either way).
        crop: pixels cut from every side of every tile before any statistic (0: whole tiles,
            as the paper). A generator's zero-padded borders can dominate the high-k power of a
            small or briefly trained model; cropping shows the interior on its own.

    Returns:
        The summary (what summary.json holds)::

            format, version, spec_name, provenance, seed, latent, tiles_per_redshift, seconds
            data:      store, split, slices, tile [px], crop [px], pixel_size, box_size [Mpc/h]
                       (box_size: of the maps analysed, (tile - 2 crop) x pixel_size)
            units:     k, power, pressure, dm; "maps": which maps the spectra are of
            bins:      edges, k, n_modes (bins without modes left out)
            redshifts: [{requested, used, note?}]
            per_redshift: [{z, n_tiles, samples (indices), k,
                            auto: {mean, std, ratio_of_means},        (ratio - 1 per k bin:
                            cross: {mean, std, ratio_of_means},        mean and std over tiles,
                                                                       and of the mean spectra)
                            one_point: {log10_edges, true, painted    (densities per log10 bin)
                                        nonpositive_fraction: {true, painted}},
                            mean_pressure: {true, painted},
                            panel: {sample, slice_100, tile_100, slice_150, tile_150}}]
            overall:   {k_below, auto: {...}, cross: {...}}, each over redshifts and bins with k < k_below:
                       worst, z, k: max |mean ratio - 1| and where;
                       worst_dex, dex_z, dex_k: max |log10(ratio of mean spectra)| and where;
                       nonpositive_bins: bins whose ratio of mean spectra is <= 0 (no log)
            figures:   {spectra, one_point, panels}: file names in out_dir
    """
    if latent not in ("sample", "mean"):
        raise ValueError(f"latent must be 'sample' or 'mean'. Received: latent={latent!r}")
    unknown = set(figures) - set(FIGURES)
    if unknown:
        raise ValueError(f"unknown figure(s) {sorted(unknown)}; choose from {', '.join(FIGURES)}")
    start = time.monotonic()
    plan = _plan(model, KINDS.get(spec.model.kind).paint, test_data, device, transforms, seed, latent, batch_size, crop)
    chosen = choose_redshifts(redshifts, plan.data.space.redshifts)
    was_training = model.training
    model.train(False)  # eval mode: BatchNorm uses its running statistics
    try:
        results = [_evaluate_z(model, plan, z, tiles) for z in sorted({c["used"] for c in chosen})]
    finally:
        model.train(was_training)
    summary = _summary(spec, plan, chosen, results, tiles, provenance)
    summary["figures"] = {name: FIGURES[name] for name in FIGURES if name in figures}
    out = Path(out_dir)
    _figures(out, results, summary, title if title is not None else _title(spec, provenance, crop), plan.box)
    summary["seconds"] = round(time.monotonic() - start, 3)
    write_json(out / SUMMARY, summary)
    return summary


def evaluate_in_run(model: torch.nn.Module, spec, test_data, run_dir: str | os.PathLike, samples_seen: int, *,
                    device: torch.device | str | None = None, seed: int = 0, tiles: int = QUICK_TILES,
                    figures: Sequence[str] = tuple(FIGURES), warn: Callable[[str], None] | None = None,
                    label: str | None = None) -> dict | None:
    """The training loop's hook: a quick evaluation into ``<run>/eval/<samples_seen>/``.

    Never raises: a failure is reported through ``warn`` (an evaluation must not stop a run)
    and gives None. The training stream of random numbers is not touched. On two CPU cores the
    quickstart's costs ~4-6 s, most of it drawing; ``figures=("spectra", "one_point")`` skips
    the panels (~60% of it), ``figures=()`` leaves only summary.json (~0.1 s).
    """
    try:
        return evaluate_model(model, spec, test_data, eval_dir(run_dir, samples_seen), device=device, tiles=tiles,
                              seed=seed, figures=figures, title=f"{label or spec.name}, {samples_seen:,} samples",
                              provenance={"samples_seen": int(samples_seen), "spec_hash": spec_hash(spec)})
    except Exception as exc:  # noqa: BLE001 - reported, never fatal to training
        (warn or print)(f"runner: warning: evaluation at {samples_seen:,} samples failed: {type(exc).__name__}: {exc}")
        return None


def eval_dir(run_dir: str | os.PathLike, samples_seen: int) -> Path:
    """Where a run's evaluation at ``samples_seen`` goes: ``<run>/eval/<samples_seen>``."""
    return Path(run_dir) / "eval" / str(int(samples_seen))


# -- choices -----------------------------------------------------------------------------------


def choose_redshifts(requested: Sequence[float], stored: Sequence[float]) -> list[dict]:
    """For each requested z, the stored z that stands in for it (the nearest), with a note
    where they differ."""
    if not len(requested):
        raise ValueError("at least one redshift is needed")
    stored = np.asarray(stored, dtype=float)
    chosen = []
    for z in requested:
        used = float(stored[np.argmin(np.abs(stored - float(z)))])
        entry = {"requested": float(z), "used": used}
        if abs(used - float(z)) > Z_MATCH:
            entry["note"] = f"z = {float(z):g} is not in the store; the nearest stored z = {used:g} stands in"
        chosen.append(entry)
    return chosen


def choose_samples(space, z_index: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples at one redshift whose 100 Mpc/h tiles are all different, and so are their
    150 Mpc/h tiles (n at most the tiles of one depth). Sample indices of ``space``."""
    m = space.per_depth
    n = min(int(n), m)
    a = rng.permutation(m)[:n]  # tiles of the 100 Mpc/h slices
    b = rng.permutation(m)[:n]  # tiles of the 150 Mpc/h slices
    return (z_index * m + a) * m + b


def cpu_tiles(test_data):
    """A dataset that reads raw tiles (``.tiles``) of the same split: the data itself, or a
    CPU ``TileDataset`` of the same store and slices in place of a ``DeviceTiles``."""
    if hasattr(test_data, "tiles"):
        return test_data
    from runner.data.tiles import TileDataset

    space = test_data.space
    if space.split != "test":
        raise ValueError(f"evaluation needs the test split. Received: split={space.split!r}")
    return TileDataset(test_data.store, tile=space.tile, split="test", test_slices=list(space.slices), in_memory=False)


# -- one redshift ------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What every redshift's evaluation shares."""

    data: object  # dataset with .tiles, .space, .store
    paint: object  # the model kind's paint(model, y, latent)
    transforms: dict
    device: torch.device
    sample: bool  # latent drawn from the prior, else its mean
    batch_size: int
    seed: int
    crop: int  # pixels cut from each side
    box: float  # side of the analysed maps [Mpc/h]
    edges: np.ndarray  # k bin edges [h/Mpc]
    rng: np.random.Generator  # of the sample choice


def _plan(model, paint, test_data, device, transforms, seed, latent, batch_size, crop) -> _Plan:
    data = cpu_tiles(test_data)
    size = data.space.tile - 2 * int(crop)
    if crop < 0 or size < 8:
        raise ValueError(f"crop must leave at least 8 pixels of a {data.space.tile}-pixel tile. Received: crop={crop}")
    box = size * float(data.store.pixel_size)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    return _Plan(data, paint, transforms or data.transforms, device, latent == "sample", batch_size, seed, int(crop), box,
                 log_bins(box, (size, size), N_BINS), np.random.default_rng(seed))


def _evaluate_z(model, plan: _Plan, z: float, n_tiles: int) -> dict:
    from runner.data.tiles import assemble

    data = plan.data
    zi = data.space.redshifts.index(z)
    idx = choose_samples(data.space, zi, n_tiles, plan.rng)
    parts, _ = data.tiles(idx)  # raw (N, T, T) per (field, depth)
    zs = torch.full((len(idx),), z, dtype=torch.float64)
    _, y = assemble({k: torch.from_numpy(v) for k, v in parts.items()}, zs, plan.transforms)  # (N, 2, T, T)
    painted_t = _paint(plan.paint, model, y, plan.device, plan.sample, plan.batch_size, seed=plan.seed * 1000 + zi)
    inner = (slice(None),) + (slice(plan.crop, data.space.tile - plan.crop),) * 2
    painted = plan.transforms["pressure"].inverse(painted_t.astype(np.float64), z)[inner]  # (N, T', T') physical
    true = (parts[("pressure", 100)] + parts[("pressure", 150)]).astype(np.float64)[inner]
    dm = (parts[("dm", 100)] + parts[("dm", 150)]).astype(np.float64)[inner]
    spectra, pooled = {}, {}
    for kind, est, ref in (("auto", (painted, None), (true, None)), ("cross", (dm, painted), (dm, true))):
        p_est = power_spectrum(*est, box_size=plan.box, bins=plan.edges)
        p_ref = power_spectrum(*ref, box_size=plan.box, bins=plan.edges)
        spectra[kind] = ratio_stats(p_est.power, p_ref.power)  # (mean, std) over tiles of the ratio - 1
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled[kind] = p_est.power.mean(axis=0) / p_ref.power.mean(axis=0) - 1  # ratio of mean spectra - 1
    return {"z": z, "idx": idx, "dm": dm, "true": true, "painted": painted, "spectra": spectra,
            "pooled": pooled, "k": p_ref.k, "n_modes": p_ref.n_modes}


def _paint(paint, model, y: torch.Tensor, device, sample: bool, batch_size: int, seed: int) -> np.ndarray:
    """The painting of x for y (N, 2, T, T) by the kind's ``paint``, batched: (N, T, T) network values."""
    out = []
    latent = "sample" if sample else "mean"
    with torch.no_grad(), seeded(device, seed):  # the caller's stream is untouched
        for start in range(0, len(y), batch_size):
            batch = y[start:start + batch_size].to(device)
            out.append(paint(model, batch, latent)[:, 0].float().cpu().numpy())  # (n, T, T)
    return np.concatenate(out)


# -- summary and figures -----------------------------------------------------------------------


def _summary(spec, plan: _Plan, chosen, results, tiles, provenance) -> dict:
    from runner.data.layout import UNITS

    data = plan.data
    keep = results[0]["n_modes"] > 0  # bins that hold Fourier modes
    per_z = [_per_z(r, keep, data.space) for r in results]
    return {
        "format": FORMAT, "version": 1, "spec_name": spec.name, "provenance": provenance or {},
        "seed": plan.seed, "latent": "one draw from the prior p(z|y) per tile" if plan.sample else "prior mean",
        "tiles_per_redshift": min(int(tiles), data.space.per_depth),
        "data": {"store": str(data.store.path), "split": data.space.split, "slices": list(data.space.slices),
                 "tile": data.space.tile, "crop": plan.crop, "pixel_size": float(data.store.pixel_size),
                 "box_size": plan.box},
        "units": {"k": "h/Mpc", "power": "(Mpc/h)^2 x map units^2", "pressure": UNITS["pressure"], "dm": UNITS["dm"],
                  "maps": "physical units: painted pressure through the inverse shift-log transform; true pressure "
                          "and dark matter as the sum of a 100 and a 150 Mpc/h tile"},
        "bins": {"edges": _floats(plan.edges), "k": _floats(results[0]["k"][keep]),
                 "n_modes": [int(n) for n in results[0]["n_modes"][keep]]},
        "redshifts": chosen,
        "per_redshift": per_z,
        "overall": _overall(results, keep),
    }


def _per_z(r: dict, keep: np.ndarray, space) -> dict:
    sample = space.sample(int(r["idx"][0]))
    return {
        "z": r["z"], "n_tiles": len(r["idx"]), "samples": [int(i) for i in r["idx"]], "k": _floats(r["k"][keep]),
        **{kind: {"mean": _floats(m[keep]), "std": _floats(s[keep]), "ratio_of_means": _floats(r["pooled"][kind][keep])}
           for kind, (m, s) in r["spectra"].items()},
        "one_point": one_point(r["true"], r["painted"]),
        "mean_pressure": {"true": float(r["true"].mean()), "painted": float(r["painted"].mean())},
        "panel": {"sample": int(r["idx"][0]), "slice_100": sample.slice_100, "tile_100": list(sample.tile_100),
                  "slice_150": sample.slice_150, "tile_150": list(sample.tile_150)},
    }


def one_point(true: np.ndarray, painted: np.ndarray, n_bins: int = ONE_POINT_BINS) -> dict:
    """Histograms (probability densities) of log10 pressure of the positive pixels, on the
    edges ``figures.plot_one_point`` draws them with, and the fraction of pixels <= 0."""
    logs = {name: np.log10(v[v > 0]) for name, v in (("true", true), ("painted", painted))}
    pooled = np.concatenate(list(logs.values()))
    edges = np.linspace(pooled.min(), pooled.max(), n_bins + 1) if pooled.size else np.linspace(-1, 1, 2)
    out = {"log10_edges": _floats(edges)}
    for name, v in logs.items():
        out[name] = _floats(np.histogram(v, bins=edges, density=True)[0]) if v.size else []
    out["nonpositive_fraction"] = {name: float(np.mean(v <= 0)) for name, v in (("true", true), ("painted", painted))}
    return out


def _overall(results: list[dict], keep: np.ndarray) -> dict:
    """Worst bins below K_WORST: |mean ratio - 1|, and |log10| of the ratio of mean spectra.

    |ratio - 1| cannot exceed 1 for too little power but is unbounded for too much, so a flat
    painting (ratio ~ 0) scores 1 and beats any painting with excess power; the dex figure is
    symmetric. A non-positive ratio of mean spectra (a cross spectrum of the wrong sign) has no
    logarithm: such bins are counted apart.
    """
    out = {"k_below": K_WORST}
    for kind in ("auto", "cross"):
        rows = [(r["z"], k, m, pooled) for r in results
                for k, m, pooled in zip(r["k"][keep], r["spectra"][kind][0][keep], r["pooled"][kind][keep])
                if k < K_WORST]
        finite = [(abs(m), z, k) for z, k, m, _ in rows if np.isfinite(m)]
        logs = [(abs(np.log10(1 + p)), z, k) for z, k, _, p in rows if np.isfinite(p) and p > -1]
        worst, dex = max(finite, default=(None, None, None)), max(logs, default=(None, None, None))
        out[kind] = {"worst": _float(worst[0]), "z": worst[1], "k": _float(worst[2]),
                     "worst_dex": _float(dex[0]), "dex_z": dex[1], "dex_k": _float(dex[2]),
                     "nonpositive_bins": sum(1 for *_, p in rows if np.isfinite(p) and p <= -1)}
    return out


def _float(v) -> float | None:
    return None if v is None else _floats([v])[0]


def _figures(out: Path, results: list[dict], summary: dict, title: str, box: float) -> None:
    keep = results[0]["n_modes"] > 0
    k = results[0]["k"][keep]
    by_z = {kind: {r["z"]: tuple(a[keep] for a in r["spectra"][kind]) for r in results} for kind in ("auto", "cross")}
    n, drawn = summary["tiles_per_redshift"], summary["figures"]
    if "spectra" in drawn:
        plots.plot_spectrum_ratios(out / drawn["spectra"], k, by_z["auto"], by_z["cross"],
                                     title=f"{title}: painted vs true, {n} test tiles per z")
    if "one_point" in drawn:
        plots.plot_one_point(out / drawn["one_point"], {r["z"]: r["true"] for r in results},
                               {r["z"]: r["painted"] for r in results}, title=f"{title}: one-point distribution")
    if "panels" in drawn:
        maps = ({r["z"]: r[key][0] for r in results} for key in ("dm", "true", "painted"))
        plots.plot_panels(out / drawn["panels"], *maps, box_size=box, title=f"{title}: one test tile per z")


def _title(spec, provenance: dict | None, crop: int = 0) -> str:
    seen = (provenance or {}).get("samples_seen")
    return (spec.name + (f", {seen:,} samples" if seen is not None else "")
            + (f" ({crop}-pixel tile borders cut)" if crop else ""))


def _floats(a) -> list:
    """JSON-safe floats, 7 significant digits; NaN and inf become null."""
    return [float(f"{v:.7g}") if np.isfinite(v) else None for v in np.asarray(a, dtype=float).ravel()]


def write_json(path: Path, data: dict) -> Path:
    """Write JSON atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1) + "\n")
    return path
