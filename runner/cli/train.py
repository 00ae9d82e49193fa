"""`runner train SPEC`: train the model a spec describes (see :mod:`runner.train.recipe`).

    runner train specs/quickstart.yaml                       # -> runs/quickstart
    runner train specs/paper_cvae.yaml --out runs/paper --device cuda
    runner train specs/paper_cvae.yaml --out runs/paper --resume   # after Ctrl-C or a crash
    torchrun --nproc_per_node 4 -m runner train specs/paper_cvae.yaml --out runs/paper

Exit status: 0 finished (or stopped by --max-samples), 1 the spec, the data or the run folder
is wrong, the loss went non-finite or the disk refused a write (one message, no traceback),
2 usage, 130 interrupted by Ctrl-C after a checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys

from runner.cli.args import add_model_options, add_set, load_spec_or_report, model_options, positive_int

EPILOG = """\
run options (--device, --precision, --compile, --data-on-device, --no-eval, --quiet, --label,
--keep-last, --keep-every, --on-nonfinite, ...) change how a run goes, never what it trains (up
to floating-point rounding): they are not part of the spec's hash, may differ between the
invocations of one run, and are recorded in <run>/options.json with what their defaults became
on this machine ("resolved"). (--on-nonfinite rollback lowers the learning rate only after a
NaN; the factor is saved in the checkpoints.) Everything in the spec is the run's identity: a
resume refuses any change to it but training.samples, and a resume on another data store than
the run recorded in data.json is refused unless --accept-data-change.

the fast path's defaults: on CUDA bf16 autocast, channels-last, torch.compile, CUDA graphs (one
process), data on the GPU, fused Adam; on the CPU channels-last, and bf16 autocast where the
CPU has native bf16. Each is switchable: --precision fp32 --no-compile --no-channels-last ...
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("spec", metavar="SPEC", help="the spec file")
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="run folder (default: runs/<spec name>, or runs/<spec name>-<hash> "
        "when that folder holds a run of another spec)",
    )
    parser.add_argument("--data", metavar="PATH", help="tile store to train on; same as --set data.store=PATH")
    parser.add_argument(
        "--max-samples",
        type=positive_int,
        metavar="N",
        help="stop this invocation at the first batch boundary at or after N samples seen, "
        "with a checkpoint (continue later with --resume); the spec is unchanged",
    )
    add_set(parser)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last good checkpoint")
    parser.add_argument("--seed", type=int, metavar="S", help="same as --set training.seed=S")
    parser.add_argument(
        "--accept-data-change",
        action="store_true",
        help="resume even though the data store differs from the one the run recorded",
    )
    from runner.train.options import RunOptions  # the one definition of the run options (no torch)

    add_model_options(parser.add_argument_group("run options (not part of the spec)"), RunOptions)


def run(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"training.seed={args.seed}")
    if args.data is not None:
        overrides.append(f"data.store={json.dumps(args.data)}")  # a JSON string is YAML: any path stays a string
    spec = load_spec_or_report(args.spec, overrides, user=args.overrides)  # --seed and --data are not warned about
    if spec is None:
        return 1
    from runner.data.layout import DataError
    from runner.runtime import RunError
    from runner.train.options import RunOptions
    from runner.train.recipe import train  # torch is imported here, not for --help

    label = args.label or (f"{spec.name} [{', '.join(args.overrides)}]" if args.overrides else None)
    options = model_options(RunOptions, args, label=label)
    out = args.out
    if out is None:
        from archspec.language.dump import to_data
        from runner.train.resume import default_run_folder

        out, note = default_run_folder(to_data(spec))
        if note and not args.quiet:
            print(note, file=sys.stderr)
    try:
        return train(
            spec,
            out=out,
            options=options,
            max_samples=args.max_samples,
            resume=args.resume,
            accept_data_change=args.accept_data_change,
            command=sys.argv,
        )
    except (RunError, DataError) as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before training started, or a second Ctrl-C during a step
        print(
            "runner: interrupted; no checkpoint written by this step (the folder keeps the last one)", file=sys.stderr
        )
        return 130
