"""`runner train SPEC`: train the model a spec describes (see :mod:`runner.train`).

    runner train specs/quickstart.yaml                       # -> runs/quickstart
    runner train specs/paper_cvae.yaml --out runs/paper --device cuda
    runner train specs/paper_cvae.yaml --out runs/paper --resume   # after Ctrl-C or a crash
    torchrun --nproc_per_node 4 -m runner train specs/paper_cvae.yaml --out runs/paper

Exit status: 0 finished (or stopped by --max-samples), 1 the spec, the data or the run folder
is wrong (one message, no traceback), 2 usage, 130 interrupted by Ctrl-C after a checkpoint.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence


def int_at_least(low: int):
    """An argparse type: an integer of at least ``low`` (refused as a usage error, before any work)."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value

    convert.__name__ = f"int >= {low}"
    return convert


positive_int = int_at_least(1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the spec file")
    parser.add_argument("--out", metavar="DIR", help="run folder (default: runs/<spec name>)")
    parser.add_argument("--data", metavar="PATH", help="tile store to train on; same as --set data.store=PATH")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: cuda when available (default)")
    parser.add_argument("--max-samples", type=positive_int, metavar="N",
                        help="stop this invocation at the first batch boundary at or after N samples seen, "
                             "with a checkpoint (continue later with --resume); the spec is unchanged")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a spec value, e.g. --set training.samples=2000 (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last good checkpoint")
    parser.add_argument("--seed", type=int, metavar="S", help="same as --set training.seed=S")
    parser.add_argument("--quiet", action="store_true", help="no progress bar; only warnings and the final line")
    parser.add_argument("--no-eval", dest="evaluate", action="store_false",
                        help="skip the spectra and figures written into <run>/eval/<samples>/ at each checkpoint")


def load_spec_or_report(path: str, overrides: Sequence[str] = ()):
    """The validated spec, or None after printing why not (the spec's own report, no traceback)."""
    import archspec

    try:
        return archspec.load(path, overrides)
    except FileNotFoundError as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
    except archspec.SpecError as exc:
        print(exc.report(), file=sys.stderr)
    return None


def run(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"training.seed={args.seed}")
    if args.data is not None:
        overrides.append(f"data.store={json.dumps(args.data)}")  # a JSON string is YAML: any path stays a string
    spec = load_spec_or_report(args.spec, overrides)
    if spec is None:
        return 1
    from runner.store import DataError
    from runner.train import RunError, train  # torch is imported here, not for --help

    try:
        return train(spec, out=args.out or f"runs/{spec.name}", device=args.device, max_samples=args.max_samples,
                     resume=args.resume, quiet=args.quiet, command=sys.argv, evaluate=args.evaluate)
    except (RunError, DataError) as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before training started, or a second Ctrl-C during a step
        print("runner: interrupted; no checkpoint written by this step (the folder keeps the last one)", file=sys.stderr)
        return 130
