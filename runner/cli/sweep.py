"""`runner sweep SPEC [VARIANT...] [--set KEY=V1,V2 ...] [-- TRAIN OPTIONS]`: many runs, one folder.

    runner sweep specs/quickstart.yaml --set training.lr.start=1e-3,2e-3 -- --max-samples 4000
    runner sweep specs/paper_cvae.yaml specs/variants/free_latent.yaml --out runs/latent
    runner compare runs/sweep-quickstart                       # the table and figure

Every spec × every combination of the --set values is one configuration, trained by its own
`runner train ... --resume` into <sweep folder>/<what differs>. A --set with one value applies
to every run (--set training.samples=1500) and is not in the folder names; a swept value equal to
the spec's own is left out of that run's command (it would change nothing). Rerunning the same command
resumes each run where it stopped and skips finished ones. Options after `--` go to every
`runner train` (run options, --max-samples). Exit status: 0 every run finished (or stopped at
--max-samples), 1 some run failed, 2 usage, 130 interrupted (rerun to resume).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PASSES_ON = True  # what follows `--` goes to each `runner train`
CONTROLLED = ("--out", "--resume", "--set")  # the sweep sets these for each run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("specs", nargs="+", metavar="SPEC", help="the spec, and any variant specs to run beside it")
    parser.add_argument(
        "--set",
        dest="grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="sweep a key over values (comma-separated; commas inside [...] stay); repeatable: a grid",
    )
    parser.add_argument("--out", metavar="DIR", help="sweep folder (default: runs/sweep-<first spec's file name>)")
    parser.add_argument(
        "--gpus",
        type=int,
        default=None,
        metavar="N",
        help="runs at a time, one per GPU (default: every visible GPU; one at a time without)",
    )


def run(args: argparse.Namespace) -> int:
    from runner.experiments.sweep import configurations, parse_grid, run_sweep
    from runner.runtime import RunError

    try:
        grid = parse_grid(args.grid)
        configs = configurations(args.specs, grid)
        passed_on = _check_passed_on(args.passed_on)
    except ValueError as exc:
        print(f"runner sweep: error: {exc}", file=sys.stderr)
        return 2
    missing = [s for s in args.specs if not Path(s).is_file()]
    if missing:
        print(f"runner sweep: error: no such spec file: {', '.join(missing)}", file=sys.stderr)
        return 2
    out = Path(args.out or f"runs/sweep-{Path(args.specs[0]).stem}")
    say = lambda text: print(text, file=sys.stderr)  # noqa: E731
    say(f"runner: sweep of {len(configs)} run(s) into {out}: {', '.join(c.name for c in configs)}")
    try:
        outcomes = run_sweep(configs, out, passed_on, gpus=_gpus(args.gpus), say=say)
    except RunError as exc:
        say(f"runner: error: {exc}")
        return 1
    except KeyboardInterrupt:
        say(f"runner: sweep interrupted; rerun the same command to resume ({out}/sweep.json lists each run)")
        return 130
    failed = [o for o in outcomes if o.status == "failed"]
    for o in outcomes:
        say(f"  {o.name}: {o.status}" + (f" (exit {o.exit_code})" if o.status == "failed" else ""))
    say(f"runner: compare them with: runner compare {out}")
    return 1 if failed else 0


def _check_passed_on(items: list[str]) -> list[str]:
    """Options for `runner train`, refused now if it would refuse them (a usage error per run later)."""
    bad = [a for a in items if a.split("=")[0] in CONTROLLED]
    if bad:
        raise ValueError(f"the sweep sets {', '.join(CONTROLLED)} for each run; remove {' '.join(bad)} after --")
    from runner.cli import train

    probe = argparse.ArgumentParser(prog="runner train", add_help=False)
    train.add_arguments(probe)
    try:
        probe.parse_args(["SPEC", *items])
    except SystemExit:
        raise ValueError(f"`runner train` does not take: {' '.join(items)}") from None
    return list(items)


def _gpus(requested: int | None) -> int:
    if requested is not None:
        return max(0, requested)
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
