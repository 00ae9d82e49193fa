"""Painting quality of a spec trained for a budget: one table of worst |ratio − 1| and the KL.

    python bench/science.py specs/quickstart.yaml                      # the spec's own samples
    python bench/science.py specs/small_painter.yaml --minutes 60 --threads 2 --curve 6
    python bench/science.py specs/small_painter.yaml --samples 240000  # a fixed budget, reproducible

Trains the spec on its own data (the mock store for the project's specs) into ``--out``
(resumed, so running the same line again only evaluates), then paints the test tiles at
z = 0, 0.5, 1, 2 (64 per redshift, the paper's number, or every combination there is) and
prints, for each redshift, the worst |<P_painted>/<P_true> − 1| of the pressure auto spectrum
and of the dark matter × pressure cross spectrum in the k bins below 1, 2 and 5 h/Mpc (<> the
mean over tiles), for tiles painted alone (the paper's comparison) and painted in context (no
tile borders), and the latent's KL on the test samples. With ``--curve K`` the run keeps K
checkpoints and every one is scored: quality against training time.

The budget. ``--samples N`` trains N samples. ``--minutes M`` turns minutes of a machine with
``--threads`` cores into samples before training: it times the spec's own training step
(forward, loss, backward, Adam) at every batch size of its schedule in *process CPU time*, which
a loaded machine inflates far less than wall time, divides by the threads (an idle machine runs
them in parallel), adds the test-ELBO batches the spec asks for, and walks the schedule until
the minutes are spent. The samples then fix the run, so the result does not depend on the load
during training; the table prints the samples, the wall and CPU time the training took, and the
calibration. Calibrate on a quiet machine: under load, spinning threads make the estimate
pessimistic (fewer samples). With a budget other than the spec's ``training.samples`` the
schedule keeps its shape (``pseudo_epoch`` scaled by budget / samples, so batch-size and
learning-rate changes fall at the same fractions of the run); ``--keep-schedule`` keeps it as
written.

Goal of issue 10, checked at the end: at every redshift, for k < 2 h/Mpc, cross within 5% and
auto within 10% of the truth.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import archspec  # noqa: E402
from runner.cli.evaluate import tiles_arg  # noqa: E402
from runner.science.protocol import K_BELOW, MAX_INDEPENDENT, REDSHIFTS, TILES  # noqa: E402
from runner.science.scores import (
    MODES,  # noqa: E402
    SPECTRA,  # noqa: E402
)

GOAL = {"k_below": 2.0, "cross": 0.05, "auto": 0.10}  # issue 10: k < 2 h/Mpc, all four redshifts
CALIBRATION_CPU_S = 3.0  # process CPU seconds timed per batch size (after WARMUP steps)
WARMUP = 2


def main(argv=None) -> int:
    args = _parse(argv)
    if args.seeds > 1:
        return _seeds(args, argv)
    torch.set_num_threads(args.threads)
    base = archspec.load(args.spec, args.overrides)
    out = Path(args.out or f"runs/bench-{base.name}")
    calibration = None
    if args.minutes is not None:
        calibration = calibrate(base, torch.device(args.device))
        samples = samples_for(base, calibration, args.minutes * 60.0, args.threads, args.keep_schedule)
    else:
        samples = args.samples or base.training.samples
    spec = budget_spec(args.spec, args.overrides, base, samples, args.keep_schedule, args.curve)
    trained = train(spec, out, args.device)
    results = evaluate(out, args, spec)
    report = {
        "spec": args.spec,
        "overrides": args.overrides,
        "samples": samples,
        "threads": args.threads,
        "pseudo_epoch": spec.training.pseudo_epoch,
        "calibration": calibration,
        "training": trained,
        "command": " ".join(["python", "bench/science.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d"),
        **results,
    }
    (out / "bench.json").write_text(json.dumps(report, indent=1) + "\n")
    print(format_report(report))
    return 0


def _parse(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("spec", help="the spec to train")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a spec value"
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--samples", type=int, help="training samples (default: the spec's training.samples)")
    budget.add_argument(
        "--minutes", type=float, help="minutes of an idle machine with --threads cores, turned into samples"
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads, and the cores of --minutes (default 2)")
    p.add_argument("--keep-schedule", action="store_true", help="do not scale the schedule to the budget")
    p.add_argument(
        "--curve", type=int, default=0, metavar="K", help="keep K checkpoints and score each (quality vs time)"
    )
    p.add_argument(
        "--tiles",
        type=tiles_arg,
        default="auto",
        help=f"test samples per redshift, 'auto' (every independent test tile, at least {TILES}, at most "
        f"{MAX_INDEPENDENT}: runner evaluate's default) or 'all'",
    )
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--out", help="run folder (default runs/bench-<spec name>)")
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="train N seeds (training.seed = 0 .. N-1, folders <out>-seed<s>) and report mean ± sd over them",
    )
    return p.parse_args(argv)


def _seeds(args, argv) -> int:
    """One run per seed, each reported as usual, then the scores' mean and spread over seeds:
    what a difference between two specs must exceed to be more than the training's noise."""
    from runner.science.uncertainty import seed_spread

    base = archspec.load(args.spec, args.overrides)
    out = Path(args.out or f"runs/bench-{base.name}")
    argv = list(argv if argv is not None else sys.argv[1:])
    rest = [
        a
        for i, a in enumerate(argv)
        if a != "--seeds"
        and (i == 0 or argv[i - 1] != "--seeds")
        and not a.startswith("--seeds=")
        and a != "--out"
        and (i == 0 or argv[i - 1] != "--out")
    ]
    reports = []
    for seed in range(args.seeds):
        folder = Path(f"{out}-seed{seed}")
        main([*rest, "--set", f"training.seed={seed}", "--out", str(folder)])
        reports.append(json.loads((folder / "bench.json").read_text()))
    i = K_BELOW.index(GOAL["k_below"])
    lines = [
        "",
        f"{args.seeds} seeds of {args.spec}: mean ± sd over seeds (worst over z, k < {GOAL['k_below']:g} h/Mpc; "
        "band: ratio - 1 of mean spectra for k in 0.5-2 h/Mpc at its worst z)",
        "",
        "| painted | auto worst | cross worst | auto band | cross band |",
        "|---|---|---|---|---|",
    ]
    for mode in MODES:
        tables = [r["final"]["scores"].get(mode) for r in reports]
        if not all(tables):
            continue
        cells = []
        for kind in SPECTRA:
            m, sd, _ = seed_spread([t["worst"][kind][i] for t in tables])
            cells.append(f"{m:.3f} ± {sd:.3f}")
        for kind in SPECTRA:
            bands = [(t.get("bands") or {}).get(kind, {}).get("0.5-2") for t in tables]
            m, sd, n = seed_spread([b[0] for b in bands if b])
            cells.append(f"{m:+.3f} ± {sd:.3f}" if n else "-")
        lines.append(f"| {'alone' if mode == 'tile' else 'in context'} | " + " | ".join(cells) + " |")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines.append(
        f"\n{time.strftime('%Y-%m-%d')}, load average {load:.1f} at the end; "
        f"command: python bench/science.py {' '.join(argv)}"
    )
    print("\n".join(lines))
    return 0


# -- the budget --------------------------------------------------------------------------------


def budget_spec(path: str, overrides: list[str], base, samples: int, keep_schedule: bool, curve: int):
    """The spec trained: ``samples`` samples, the schedule scaled to them unless kept, and
    ``curve`` evenly spaced checkpoints (checkpoints change nothing that is trained)."""
    extra = [f"training.samples={samples}"]
    if not keep_schedule and samples != base.training.samples:
        extra.append(f"training.pseudo_epoch={scaled_pseudo_epoch(base.training, samples)}")
    if curve:
        extra.append(f"training.checkpoint.every={math.ceil(samples / curve)}")
    return archspec.load(path, [*overrides, *extra])


def scaled_pseudo_epoch(training, samples: int) -> int:
    return max(1, round(training.pseudo_epoch * samples / training.samples))


def calibrate(spec, device: torch.device) -> dict:
    """Process CPU seconds and wall seconds per sample of the spec's training step at each
    batch size of its schedule, and of its test-ELBO batch, on its own data."""
    from runner.data.open import open_data
    from runner.kinds import KINDS

    torch.manual_seed(0)
    train_data, test_data = open_data(spec, device)
    model = archspec.build(spec).to(device).train()
    kind = KINDS.get(spec.model.kind)
    optimizers = {p.optimizer: torch.optim.Adam(p.params(model), lr=spec.training.lr.start) for p in kind.phases}
    rng = np.random.default_rng(0)

    def step(size: int) -> None:
        x, y = (t.to(device) for t in train_data.batch(rng.integers(len(train_data), size=size)))
        for phase in kind.phases:
            optimizers[phase.optimizer].zero_grad(set_to_none=True)
            phase.loss(model, x, y, spec.training.beta)[0].backward()
            optimizers[phase.optimizer].step()

    def evaluate(size: int) -> None:
        x, y = (t.to(device) for t in test_data.batch(rng.integers(len(test_data), size=size)))
        model.eval()
        with torch.no_grad():
            for phase in kind.phases:
                phase.loss(model, x, y, spec.training.beta)
        model.train()

    sizes = sorted({s.size for s in spec.training.batch_size})
    out = {
        "train": {str(b): _timed(lambda b=b: step(b), b) for b in sizes},
        "eval": _timed(lambda: evaluate(spec.training.evaluation.batch_size), spec.training.evaluation.batch_size),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    return out


def _timed(fn, samples: int) -> dict:
    for _ in range(WARMUP):
        fn()
    cpu0, wall0, n = time.process_time(), time.perf_counter(), 0
    while time.process_time() - cpu0 < CALIBRATION_CPU_S or n < 3:
        fn()
        n += 1
    return {
        "cpu_s_per_sample": (time.process_time() - cpu0) / (n * samples),
        "wall_s_per_sample": (time.perf_counter() - wall0) / (n * samples),
        "steps": n,
    }


def samples_for(base, calibration: dict, seconds: float, threads: int, keep_schedule: bool) -> int:
    """Samples that fit ``seconds`` of an idle ``threads``-core machine: the schedule walked
    batch by batch at the calibrated CPU cost / threads, with its test-ELBO batches."""
    from runner.train.schedule import Schedule, crossed

    t = base.training
    cost = {int(b): c["cpu_s_per_sample"] * int(b) / threads for b, c in calibration["train"].items()}  # s per batch
    eval_cost = calibration["eval"]["cpu_s_per_sample"] * t.evaluation.batch_size / threads
    samples = t.samples
    for _ in range(6):  # the scaled schedule depends on the samples: a few rounds settle it
        training = t if keep_schedule else t.model_copy(update={"pseudo_epoch": scaled_pseudo_epoch(t, samples)})
        schedule = Schedule.from_training(training.model_copy(update={"samples": 10**12}))
        seen, spent = 0, 0.0
        while True:
            size = schedule.batch_size(seen)
            step = cost[size] + (eval_cost if crossed(seen, seen + size, t.evaluation.every) else 0.0)
            if spent + step > seconds:
                break
            spent, seen = spent + step, seen + size
        if seen == samples:
            break
        samples = max(seen, 1)
    return samples


# -- training and scoring ----------------------------------------------------------------------


def train(spec, out: Path, device: str) -> dict:
    """Train (or finish, or find finished) the run; wall and process CPU time of this call."""
    from runner.data.open import open_data
    from runner.runtime import RunError
    from runner.train.recipe import train as run

    open_data(spec, torch.device("cpu"))  # a mock store is made before the clock starts
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        code = run(spec, out, device=device, quiet=True, evaluate=False, resume=True)
    except RunError as exc:
        raise SystemExit(f"bench: error: {exc}") from None
    if code != 0:
        raise SystemExit(f"bench: training stopped with exit status {code}")
    return {"wall_s": round(time.perf_counter() - wall0, 1), "cpu_s": round(time.process_time() - cpu0, 1)}


def evaluate(out: Path, args, spec) -> dict:
    """Score the final checkpoint (figures into <out>/eval-bench) and, with --curve, every one."""
    from runner.checkpoint import KEY_ELAPSED, KEY_SAMPLES
    from runner.science.evaluate import evaluate_model
    from runner.science.painter import Painter, open_test_split

    tiles = args.tiles  # runner evaluate's parsing: a number, "auto", or None for all
    test = open_test_split(spec)
    paths = sorted(out.glob("checkpoint-*.pt"), key=lambda p: int(p.stem.split("-")[1]))
    chosen = paths if args.curve else paths[-1:]
    curve = []
    for path in chosen:
        painter = Painter.load(path, device=args.device)
        last = path == paths[-1]
        summary = evaluate_model(
            painter.model,
            painter.spec,
            test,
            out / ("eval-bench" if last else f"eval-bench/{path.stem}"),
            device=painter.device,
            transforms=painter.transforms,
            tiles=tiles,
            redshifts=REDSHIFTS,
            provenance=painter.provenance,
            figures=tuple(_figures()) if last else (),
            precision=painter.precision,
            calibration=painter.calibration,
        )
        state = torch.load(path, map_location="cpu", weights_only=True)
        curve.append(
            {
                "samples": int(state[KEY_SAMPLES]),
                "elapsed_s": round(float(state[KEY_ELAPSED]), 1),
                "scores": summary["scores"],
                "terms": summary["terms"],
            }
        )
    return {
        "final": {key: summary[key] for key in ("scores", "terms", "choice", "context", "tiles_per_redshift")},
        "curve": curve if args.curve else [],
    }


def _figures():
    from runner.science.report import FIGURES

    return FIGURES


# -- the table ---------------------------------------------------------------------------------


def format_report(r: dict) -> str:
    final, cal = r["final"], r["calibration"]
    lines = [
        f"{r['spec']}{''.join(f' --set {o}' for o in r['overrides'])}: {r['samples']:,} samples "
        f"(pseudo_epoch {r['pseudo_epoch']}), {r['threads']} threads; training took "
        f"{r['training']['wall_s']:,.0f} s wall, "
        f"{r['training']['cpu_s']:,.0f} s process CPU in this call"
    ]
    if cal:
        per = {b: c["cpu_s_per_sample"] * 1e3 for b, c in cal["train"].items()}
        lines.append(
            "calibration (process CPU ms per sample by batch size): "
            + ", ".join(f"{b}: {v:.2f}" for b, v in per.items())
            + f"; load average {cal['load_average']:.1f} while calibrating"
        )
    choice = final["choice"]
    lines.append(
        f"{final['tiles_per_redshift']} test samples per redshift ({choice['independent']} independent, of "
        f"{choice['available']} combinations); interior painted with {final['context']['margin']} px of context"
    )
    lines.append("worst |<P_painted>/<P_true> - 1| in the k bins below k [h/Mpc], <> the mean over test tiles:")
    lines.append("")
    heads = [f"{kind} k<{kb:g}" for kind in SPECTRA for kb in K_BELOW]
    lines.append("| z | painted | " + " | ".join(heads) + " |")
    lines.append("|---|---|" + "---|" * len(heads))
    for mode in MODES:
        table = final["scores"].get(mode)
        if table:
            for row in table["per_z"] + [{"z": "all", **table["worst"]}]:
                z = row["z"] if isinstance(row["z"], str) else f"{row['z']:g}"
                lines.append(
                    f"| {z} | {'alone' if mode == 'tile' else 'in context'} | "
                    + " | ".join(_cell(v) for kind in SPECTRA for v in row[kind])
                    + " |"
                )
    bands = (final["scores"].get("tile") or {}).get("bands")
    if bands:
        lines.append("")
        lines.append(
            "band-averaged ratio - 1 of mean spectra (tiles alone, the redshift farthest from 0), "
            "68% bootstrap interval over test samples:"
        )
        for kind in SPECTRA:
            lines.append(
                f"  {kind:<5} "
                + "   ".join(
                    f"k {band}: {v:+.3f} [{lo:+.3f}, {hi:+.3f}] (z={z:g})"
                    for band, (v, lo, hi, z) in bands[kind].items()
                )
            )
    kl = final["terms"].get("kl")
    lines.append("")
    lines.append(
        f"latent KL(q || p) on the test samples: {kl:.4g} nats per sample"
        if kl is not None
        else "no latent (the kind has no KL)"
    )
    lines += [_goal(final["scores"], mode) for mode in MODES if final["scores"].get(mode)]
    if r["curve"]:
        lines += [
            "",
            "quality against training (worst over redshifts, k < 2 h/Mpc):",
            "",
            "| samples | wall s | auto alone | cross alone | auto in context | cross in context | KL |",
            "|---|---|---|---|---|---|---|",
        ]
        i = K_BELOW.index(GOAL["k_below"])
        for c in r["curve"]:
            cells = [
                _cell((c["scores"].get(mode) or {}).get("worst", {}).get(kind, [None] * len(K_BELOW))[i])
                for mode in MODES
                for kind in SPECTRA
            ]
            lines.append(
                f"| {c['samples']:,} | {c['elapsed_s']:,.0f} | "
                + " | ".join(cells)
                + f" | {_cell(c['terms'].get('kl'))} |"
            )
    return "\n".join(lines)


def _goal(scores: dict, mode: str) -> str:
    i = K_BELOW.index(GOAL["k_below"])
    worst = {kind: scores[mode]["worst"][kind][i] for kind in SPECTRA}
    met = all(worst[kind] is not None and worst[kind] <= GOAL[kind] for kind in SPECTRA)
    return (
        f"goal (k < {GOAL['k_below']:g}, every z: cross <= {GOAL['cross']:.0%}, auto <= {GOAL['auto']:.0%}), "
        f"painted {'alone' if mode == 'tile' else 'in context'}: {'met' if met else 'not met'} "
        f"(auto {_cell(worst['auto'])}, cross {_cell(worst['cross'])})"
    )


def _cell(v) -> str:
    return "-" if v is None else f"{v:.3f}" if v < 10 else f"{v:.3g}"


if __name__ == "__main__":
    sys.exit(main())
