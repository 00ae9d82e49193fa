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
import re
import sys

from runner.cli.args import add_device, add_set, int_at_least, load_spec_or_report, positive_int

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
    parser.add_argument("--out", metavar="DIR", help="run folder (default: runs/<spec name>, or runs/<spec name>-<hash> "
                                                     "when that folder holds a run of another spec)")
    parser.add_argument("--data", metavar="PATH", help="tile store to train on; same as --set data.store=PATH")
    parser.add_argument("--max-samples", type=positive_int, metavar="N",
                        help="stop this invocation at the first batch boundary at or after N samples seen, "
                             "with a checkpoint (continue later with --resume); the spec is unchanged")
    add_set(parser)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last good checkpoint")
    parser.add_argument("--seed", type=int, metavar="S", help="same as --set training.seed=S")
    run_options = parser.add_argument_group("run options (not part of the spec)")
    add_device(run_options)
    run_options.add_argument("--data-on-device", action=argparse.BooleanOptionalAction, default=None,
                             help="hold both data splits on the training device and assemble batches there "
                                  "(default: on a GPU when they take at most half its free memory)")
    run_options.add_argument("--precision", choices=("auto", "fp32", "tf32", "bf16"), default="auto",
                             help="bf16 autocast (the loss stays fp32), tf32 (CUDA) or fp32; auto: bf16 on CUDA "
                                  "and on CPUs with native bf16, else fp32")
    run_options.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                             help="torch.compile each batch size's step (default: on CUDA)")
    run_options.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction, default=None,
                             help="replay compiled steps as CUDA graphs (default: with --compile on CUDA, one process)")
    run_options.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                             help="NHWC memory layout for the model and its inputs (default: on)")
    run_options.add_argument("--threads", type=positive_int, metavar="N",
                             help="CPU threads per process (default: the cores available, shared among the node's processes)")
    run_options.add_argument("--sync-every", type=positive_int, metavar="K",
                             help="under DDP, steps between checks of the stop flag (Ctrl-C, SIGTERM): each waits "
                                  "for the device (default: 16 on CUDA, 1 on the CPU)")
    run_options.add_argument("--progress-every", type=progress_interval, default="60s", metavar="N[s]",
                             help="away from a terminal, a progress line on stderr every N seconds (60s, the "
                                  "default) or N samples (5000)")
    run_options.add_argument("--quiet", action="store_true", help="no progress bar; only warnings and the final line")
    run_options.add_argument("--label", metavar="TEXT", help="the run's name in figure titles and comparisons "
                                                           "(default: the spec's name, and the --set overrides if any)")
    run_options.add_argument("--no-eval", dest="evaluate", action="store_false",
                             help="skip the spectra and figures written into <run>/eval/<samples>/ at each checkpoint")
    run_options.add_argument("--keep-last", type=int_at_least(0), default=3, metavar="K",
                             help="keep the newest K checkpoints and eval/<N>/ folders (default 3; 0 keeps all)")
    run_options.add_argument("--keep-every", type=int_at_least(0), default=5, metavar="M",
                             help="also keep every M-th checkpoint and its eval/<N>/ (default 5; 0: none)")
    run_options.add_argument("--on-nonfinite", choices=("stop", "rollback"), default="stop",
                             help="a NaN/inf loss or gradient: stop (default), or go back to the last good "
                                  "checkpoint with the learning rate halved (up to 3 times)")
    parser.add_argument("--accept-data-change", action="store_true",
                        help="resume even though the data store differs from the one the run recorded")
    run_options.add_argument("--eval-in-background", action=argparse.BooleanOptionalAction, default=None,
                             help="evaluate each checkpoint in a `runner evaluate` process while training goes on "
                                  "(default: on CUDA)")


def progress_interval(text: str) -> str:
    """An argparse type: '60s' (seconds) or '5000' (samples), positive."""
    if not re.fullmatch(r"[1-9][0-9]*s?", text.strip()):
        raise argparse.ArgumentTypeError(f"expected seconds like 60s or a number of samples like 5000. Received: {text!r}")
    return text.strip()


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
    options = RunOptions(device=args.device, data_on_device=args.data_on_device, evaluate=args.evaluate, quiet=args.quiet,
                         label=label, keep_last=args.keep_last, keep_every=args.keep_every, on_nonfinite=args.on_nonfinite,
                         precision=args.precision, compile=args.compile, cuda_graphs=args.cuda_graphs,
                         channels_last=args.channels_last, threads=args.threads, sync_every=args.sync_every,
                         progress_every=args.progress_every, eval_in_background=args.eval_in_background)
    out = args.out
    if out is None:
        from archspec.dump import to_data
        from runner.train.resume import default_run_folder

        out, note = default_run_folder(to_data(spec))
        if note and not args.quiet:
            print(note, file=sys.stderr)
    try:
        return train(spec, out=out, options=options, max_samples=args.max_samples, resume=args.resume,
                     accept_data_change=args.accept_data_change, command=sys.argv)
    except (RunError, DataError) as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before training started, or a second Ctrl-C during a step
        print("runner: interrupted; no checkpoint written by this step (the folder keeps the last one)", file=sys.stderr)
        return 130
