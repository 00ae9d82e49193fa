"""Evaluation as the paper does it: spectra, one-point statistics and image panels of test tiles.

    summary = evaluate_model(model, spec, test_data, "runs/quick/eval/12000")   # a library call
    runner evaluate runs/quickstart --out runs/quickstart/eval                  # the command

For each redshift (default 0, 0.5, 1, 2; the nearest stored redshift stands in for one that is
not stored, and the summary says so) a fixed, seeded choice of test samples (a 100 Mpc/h tile
plus a 150 Mpc/h tile, as in training; :mod:`runner.science.choice` says which and how
independent they are) is painted by the model kind's ``paint`` twice:

    tile       each tile on its own, its borders zero-padded by the network: the paper's comparison
    interior   each tile at the centre of a window with ``context`` pixels of its own dark matter
               on every side, the window's border cut off: the model away from any border

and compared with the truth **in physical units**: the painted network values go through the
inverse shift-log transform, the true pressure and dark matter are the summed raw tiles.

    auto    P_pp(painted) / P_pp(true) - 1        pressure auto power spectrum
    cross   P_mp(painted) / P_mp(true) - 1        dark matter x pressure cross spectrum

per tile, then mean and standard deviation (ddof = 1) over tiles, in 20 log-spaced k bins from
2 pi / L to 2 pi / L * T / 2 (L = T x pixel size; for 512^2 tiles of 100 Mpc/h these are the
paper's bins; bins that hold no Fourier mode are left out). The latent is drawn from the prior,
one draw per tile, with a fixed seed (``latent="mean"``: the prior's mean). The kind's terms
(ELBO, log-likelihood and, for a cvae, the latent's KL) are averaged over the same samples.

Writes spectra.png (absolute spectra and their ratios, log axis), spectra_paper.png (ratio - 1
within the paper's +-35%), one_point.png, panels.png and summary.json (:func:`evaluate_model`).
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from archspec import spec_hash
from runner.kinds import KINDS
from runner.kinds.likelihood import LIKELIHOODS
from runner.runtime import autocast_for, seeded
from runner.science import report
from runner.science.choice import centre, context_margin, describe_choice, evaluation_samples, read_windows
from runner.science.protocol import N_BINS, QUANTILES, QUICK_TILES, default_tiles
from runner.science.protocol import REDSHIFTS as DEFAULT_REDSHIFTS
from runner.science.report import FIGURES, SUMMARY, write_json  # noqa: F401  (re-exported for callers)
from runner.science.spectra import Spectrum, log_bins, power_spectrum, ratio_stats
from runner.science.uncertainty import BANDS, band_ratio, bootstrap_ratio, brightest_share, correlation

T_PAINT_MAX = 5.0  # network values above this are held here when painted maps are scored

Z_MATCH = 5e-4  # a requested redshift within this of a stored one is that one
SPECTRUM_CHUNK = 16  # tiles per FFT call: bounds the memory of 512^2 spectra


def evaluate_model(
    model: torch.nn.Module,
    spec,
    test_data,
    out_dir: str | os.PathLike,
    *,
    device: torch.device | str | None = None,
    transforms: dict | None = None,
    tiles: int | str | None = "auto",
    redshifts: Sequence[float] = DEFAULT_REDSHIFTS,
    seed: int = 0,
    latent: str = "sample",
    batch_size: int = 8,
    provenance: dict | None = None,
    title: str | None = None,
    figures: Sequence[str] = tuple(FIGURES),
    crop: int = 0,
    context: int | None = None,
    precision: str = "fp32",
    calibration=None,
) -> dict:
    """Paint test samples, compare them with the truth, write figures and summary.json.

    Args:
        model: the model (put in eval mode here; its mode is restored afterwards).
        spec: its spec (kind, names in titles, the receptive field for ``context``).
        test_data: the test split: a ``TileDataset`` or ``DeviceTiles`` (raw tiles are read
            from its store).
        out_dir: folder for the figures and summary.json (created).
        device: where the model runs; default: where its parameters are.
        transforms: {"dm", "pressure"} -> ShiftLog the model was trained with; default the
            test data's own.
        tiles: samples per redshift; "auto" for every independent test tile, at least 64 and at
            most 512 (:func:`runner.science.protocol.default_tiles`); None for every combination
            of the split's tiles (:func:`runner.science.choice.choose_samples`).
        redshifts: requested redshifts; the nearest stored one stands in for each.
        seed: of the choice of samples and of the latent draws.
        latent: "sample" (a draw from the prior per tile) or "mean" (the prior's mean).
        batch_size: tiles per model call.
        provenance: plain data about the model (checkpoint, samples seen) for the summary.
        title: figure titles' prefix; default the spec's name and the samples seen.
        figures: which of :data:`runner.science.report.FIGURES` to draw (drawing dominates
            the cost on a CPU; the summary holds the numbers either way).
        crop: pixels cut from every side of every tile before any statistic (0: whole tiles,
            as the paper); the k bins are then those of the smaller maps.
        precision: the arithmetic of the forward, as the model trained ("bf16": autocast; a
            bf16-trained model can paint very differently in fp32).
        context: pixels of dark matter around each tile for the interior painting; None: the
            default of :func:`runner.science.choice.context_margin`; 0: no interior painting.
        calibration: the model's :class:`runner.science.calibration.Calibration` (applied to
            every painting before it becomes pressure), or None to score the raw output.

    Returns:
        The summary (what summary.json holds); its layout is :func:`runner.science.report.summary`'s.
    """
    if latent not in ("sample", "mean"):
        raise ValueError(f"latent must be 'sample' or 'mean'. Received: latent={latent!r}")
    unknown = set(figures) - set(FIGURES)
    if unknown:
        raise ValueError(f"unknown figure(s) {sorted(unknown)}; choose from {', '.join(FIGURES)}")
    start = time.monotonic()
    plan = _plan(model, spec, test_data, device, transforms, seed, latent, batch_size, crop, context)
    plan.precision = precision
    plan.calibration = calibration
    if tiles == "auto":  # resolved here: the summary records the number
        tiles = default_tiles(plan.data.space.per_depth)
    chosen = choose_redshifts(redshifts, plan.data.space.redshifts)
    samples = evaluation_samples(plan.data.space, {c["used"] for c in chosen}, tiles, seed)
    was_training = model.training
    model.train(False)  # eval mode: BatchNorm uses its running statistics
    try:
        results = [_evaluate_z(model, plan, z, zi, idx) for z, zi, idx in samples]
    finally:
        model.train(was_training)
    summary = report.summary(spec, plan, chosen, results, tiles, provenance)
    summary["calibration"] = calibration.describe() if calibration is not None else "none"
    summary["figures"] = {name: FIGURES[name] for name in FIGURES if name in figures}
    out = Path(out_dir)
    report.draw(out, results, summary, title if title is not None else report.title(spec, provenance, crop), plan.box)
    summary["seconds"] = round(time.monotonic() - start, 3)
    write_json(out / SUMMARY, summary)
    return summary


def evaluate_in_run(
    model: torch.nn.Module,
    spec,
    test_data,
    run_dir: str | os.PathLike,
    samples_seen: int,
    *,
    device: torch.device | str | None = None,
    seed: int = 0,
    tiles: int = QUICK_TILES,
    figures: Sequence[str] = ("spectra", "one_point", "panels"),
    warn: Callable[[str], None] | None = None,
    label: str | None = None,
    precision: str = "fp32",
    calibration=None,
) -> dict | None:
    """The training loop's hook: a quick evaluation into ``<run>/eval/<samples_seen>/``, in the
    run's own ``precision``.

    Never raises: a failure is reported through ``warn`` (an evaluation must not stop a run)
    and gives None. The training stream of random numbers is not touched. On two CPU cores the
    quickstart's costs a few seconds, most of it drawing; ``figures=()`` leaves only
    summary.json.
    """
    try:
        return evaluate_model(
            model,
            spec,
            test_data,
            eval_dir(run_dir, samples_seen),
            device=device,
            tiles=tiles,
            seed=seed,
            figures=figures,
            title=f"{label or spec.name}, {samples_seen:,} samples",
            provenance={"samples_seen": int(samples_seen), "spec_hash": spec_hash(spec)},
            precision=precision,
            calibration=calibration,
        )
    except Exception as exc:  # noqa: BLE001 - reported, never fatal to training
        (warn or print)(f"runner: warning: evaluation at {samples_seen:,} samples failed: {type(exc).__name__}: {exc}")
        return None


def eval_dir(run_dir: str | os.PathLike, samples_seen: int) -> Path:
    """Where a run's evaluation at ``samples_seen`` goes: ``<run>/eval/<samples_seen>``."""
    return Path(run_dir) / "eval" / str(int(samples_seen))


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


def _test_split(test_data):
    """The test split itself: the evaluation reads its tiles and their surroundings from its
    store (``.store``, ``.space``), whether the split is held on the CPU or on a device."""
    if test_data.space.split != "test":
        raise ValueError(f"evaluation needs the test split. Received: split={test_data.space.split!r}")
    return test_data


# -- one redshift ------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What every redshift's evaluation shares."""

    data: object  # dataset with .space, .store
    kind: object  # the model kind: its paint(model, y, latent), phases and terms
    transforms: dict
    device: torch.device
    sample: bool  # latent drawn from the prior, else its mean
    batch_size: int
    seed: int
    crop: int  # pixels cut from each side
    margin: int  # context pixels around each tile for the interior painting (0: none)
    beta: float  # the KL weight of the terms
    box: float  # side of the analysed maps [Mpc/h]
    edges: np.ndarray  # k bin edges [h/Mpc]
    loglik: object  # log p(x | mean): the spec's training.likelihood (runner.kinds.likelihood)
    precision: str = "fp32"  # the forward's arithmetic (bf16: autocast, as the model trained)
    calibration: object = None  # runner.science.calibration.Calibration of the painting, or None
    options: dict = dataclasses.field(default_factory=dict)  # the kind's loss options (a cgan's perceptual weight)
    z_offset: float = 0.0  # y's redshift channel holds z + z_offset (the spec's data.redshift_offset)


def _plan(model, spec, test_data, device, transforms, seed, latent, batch_size, crop, context) -> _Plan:
    data = _test_split(test_data)
    tile = data.space.tile
    size = tile - 2 * int(crop)
    if crop < 0 or size < 8:
        raise ValueError(f"crop must leave at least 8 pixels of a {tile}-pixel tile. Received: crop={crop}")
    box = size * float(data.store.pixel_size)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    training = getattr(spec, "training", None)
    beta = float(getattr(training, "beta", 1.0))
    space = getattr(getattr(training, "likelihood", None), "space", "shift_log")
    kind = KINDS.get(spec.model.kind)
    return _Plan(
        data,
        kind,
        transforms or data.transforms,
        device,
        latent == "sample",
        int(batch_size),
        seed,
        int(crop),
        context_margin(spec, tile, context),
        beta,
        box,
        log_bins(box, (size, size), N_BINS),
        LIKELIHOODS[space],
        options=kind.options(training) if training is not None else {},
        z_offset=float(getattr(getattr(spec, "data", None), "redshift_offset", 0.0)),
    )


def _evaluate_z(model, plan: _Plan, z: float, zi: int, idx: np.ndarray) -> dict:
    space = plan.data.space
    maps = _paint_samples(model, plan, z, idx, seed=plan.seed * 1000 + zi)
    inner = (slice(None),) + (slice(plan.crop, space.tile - plan.crop),) * 2
    maps = {name: m[inner] for name, m in maps.items() if name != "terms"} | {"terms": maps["terms"]}
    modes = {"tile": maps["painted"]} | ({"interior": maps["interior"]} if plan.margin else {})
    reference = {"auto": _power(plan, maps["true"]), "cross": _power(plan, maps["dm"], maps["true"])}
    ratios, power = {}, {f"true_{kind}": p.power.mean(axis=0) for kind, p in reference.items()}
    boot = bootstrap_generator(plan.seed, zi)
    uncertainty = {}
    for mode, painted in modes.items():
        estimate = {"auto": _power(plan, painted), "cross": _power(plan, maps["dm"], painted)}
        with_truth = _power(plan, maps["true"], painted)  # painted x true: the field-level r(k)
        ratios[mode], uncertainty[mode] = score_painting(estimate, reference, with_truth, boot)
        for kind in ("auto", "cross"):
            power[f"{'painted' if mode == 'tile' else mode}_{kind}"] = estimate[kind].power.mean(axis=0)
    return {
        "z": z,
        "idx": idx,
        "brightest": brightest(reference["auto"]),
        "choice": describe_choice(space, idx),
        "maps": maps,
        "ratios": ratios,
        "power": power,
        "k": reference["auto"].k,
        "n_modes": reference["auto"].n_modes,
        "terms": maps["terms"],
        "uncertainty": uncertainty,
    }


def bootstrap_generator(seed: int, z_index: int) -> np.random.Generator:
    """The bootstrap's generator at one redshift, apart from the choice's."""
    return np.random.default_rng([seed, z_index, 7])


def brightest(true_auto: Spectrum) -> dict:
    """The share of the true auto power the brightest test sample holds, per band."""
    n_modes, k = true_auto.n_modes, true_auto.k
    return {f"{lo:g}-{hi:g}": brightest_share(true_auto.power, n_modes, k, (lo, hi)) for lo, hi in BANDS}


def score_painting(estimate: dict, reference: dict, with_truth: Spectrum, boot: np.random.Generator) -> tuple:
    """One painting's statistics against the truth, as every score and figure reads them.

    Args:
        estimate, reference: {"auto", "cross"} -> :class:`Spectrum` of the painted and the true
            maps (the cross with the dark matter), sample for sample.
        with_truth: the painted x true cross spectra (the field-level r(k)).
        boot: the bootstrap's generator (drawn from in a fixed order: the same seed, the same
            intervals).
    Returns:
        (ratios, uncertainty): ratios[kind] = (mean, std of per-sample ratios, ratio of mean
        spectra - 1, the quantiles of per-sample ratios - 1); uncertainty = {kind: {"interval",
        "bands"}, "r"}.
    """
    n_modes, k = reference["auto"].n_modes, reference["auto"].k
    uncertainty = {
        **{
            kind: {
                "interval": bootstrap_ratio(est.power, ref.power, boot)[1:],
                "bands": {
                    f"{lo:g}-{hi:g}": band_ratio(est.power, ref.power, n_modes, k, (lo, hi), boot) for lo, hi in BANDS
                },
            }
            for kind, est, ref in ((kind, estimate[kind], reference[kind]) for kind in ("auto", "cross"))
        },
        "r": correlation(with_truth.power, reference["auto"].power, estimate["auto"].power, boot),
    }
    ratios = {}
    for kind in ("auto", "cross"):
        est, ref = estimate[kind].power, reference[kind].power
        with np.errstate(invalid="ignore", divide="ignore"):  # ratio of the mean spectra - 1
            pooled = est.mean(axis=0) / ref.mean(axis=0) - 1
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # bins without modes are NaN on every tile
            quantiles = np.nanpercentile(est / ref, QUANTILES, axis=0)  # (3, n_bins) of per-tile ratios
        ratios[kind] = (*ratio_stats(est, ref), pooled, quantiles - 1)
    return ratios, uncertainty


def _paint_samples(model, plan: _Plan, z: float, idx: np.ndarray, seed: int) -> dict:
    """Physical-unit maps (N, T, T) float32 of the samples: "dm", "true", "painted" (each tile
    alone) and "interior" (painted in context, when the plan has a margin); and "terms": the
    kind's logged terms, averaged over the samples."""
    from runner.data.tiles import assemble, summed

    out = {"dm": [], "true": [], "painted": [], "interior": []}
    terms = []
    # a diverged model can paint t so large that e^{4t} overflows float32: such pixels are held at
    # T_PAINT_MAX (p = e^20 sigma_z, far above any real pressure) so that the spectra say how bad it is
    inverse = lambda t: (
        plan.transforms["pressure"].inverse(np.minimum(t.astype(np.float64), T_PAINT_MAX), z).astype(np.float32)
    )  # noqa: E731
    with torch.no_grad(), seeded(plan.device, seed):  # the caller's stream is untouched
        for start in range(0, len(idx), plan.batch_size):
            windows = read_windows(plan.data, idx[start : start + plan.batch_size], plan.margin)
            zs = torch.full((len(next(iter(windows.values()))),), z, dtype=torch.float64)
            parts = {key: centre(v, plan.margin) for key, v in windows.items()}
            x, y = assemble(
                {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in parts.items()},
                zs,
                plan.transforms,
                plan.z_offset,
            )
            out["painted"].append(inverse(_calibrated(plan, _paint(plan, model, y), z)))
            terms.append(_terms(plan, model, x, y) * len(x))
            if plan.margin:
                _, y_window = assemble(
                    {k: torch.from_numpy(v) for k, v in windows.items()}, zs, plan.transforms, plan.z_offset
                )
                painted = centre(_paint(plan, model, y_window), plan.margin)
                out["interior"].append(inverse(_calibrated(plan, painted, z)))
            out["true"].append(summed(parts, "pressure"))
            out["dm"].append(summed(parts, "dm"))
    maps = {name: np.concatenate(v) for name, v in out.items() if v}
    maps["terms"] = np.sum(terms, axis=0) / len(idx)
    return maps


def _paint(plan: _Plan, model, y: torch.Tensor) -> np.ndarray:
    """The kind's painting of x for y (N, 2, H, W): (N, H, W) network values."""
    with autocast_for(plan.precision, plan.device):
        out = plan.kind.paint(model, y.to(plan.device), "sample" if plan.sample else "mean")
    return out[:, 0].float().cpu().numpy()


def _calibrated(plan: _Plan, t: np.ndarray, z: float) -> np.ndarray:
    return t if plan.calibration is None else plan.calibration.apply(t, z)


def _terms(plan: _Plan, model, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """The kind's logged terms (elbo, loglik, kl for a cvae) of one batch, batch means."""
    x, y = x.to(plan.device), y.to(plan.device)
    with autocast_for(plan.precision, plan.device):
        terms = [
            phase.loss(model, x, y, plan.beta, loglik=plan.loglik, **plan.options)[1] for phase in plan.kind.phases
        ]
    return torch.cat(terms).double().cpu().numpy()


def _power(plan: _Plan, a: np.ndarray, b: np.ndarray | None = None):
    return spectra(plan.box, plan.edges, a, b)


def spectra(box: float, edges: np.ndarray, a: np.ndarray, b: np.ndarray | None = None) -> Spectrum:
    """Binned spectra of (N, T, T) maps of side ``box`` Mpc/h, a few tiles per FFT call."""
    parts = [
        power_spectrum(
            a[i : i + SPECTRUM_CHUNK],
            None if b is None else b[i : i + SPECTRUM_CHUNK],
            box_size=box,
            bins=edges,
        )
        for i in range(0, len(a), SPECTRUM_CHUNK)
    ]
    return Spectrum(parts[0].k, np.concatenate([p.power for p in parts]), parts[0].n_modes, parts[0].edges)
