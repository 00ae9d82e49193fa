"""`runner` command line: one subcommand per module, each a few lines of wiring.

Each subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int``. Modules are
imported only when their subcommand runs, so ``runner --help`` and ``runner schedule`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). A fixed table written here, never names from a spec.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "train": ("runner.cli.train", "train the model a spec describes"),
    "schedule": ("runner.cli.schedule", "print a spec's batch-size and learning-rate schedule"),
    "paint": ("runner.cli.paint", "paint pressure onto dark-matter maps with a trained checkpoint"),
    "import-original": (
        "runner.cli.import_original",
        "turn the original's published CVAE into a run folder that paints",
    ),
    "evaluate": ("runner.cli.evaluate", "power spectra, one-point statistics and figures of a checkpoint"),
    "data": ("runner.cli.data", "make mock data or import real data into a tile store"),
    "sweep": ("runner.cli.sweep", "train a grid of --set values or a list of variant specs, one run folder each"),
    "compare": ("runner.cli.compare", "a table and a figure of runs (or sweeps) side by side"),
}

# The top-level modules of pyproject's `runner` extra (tests/test_precommit.py keeps them equal).
RUNNER_EXTRA = ("torch", "numpy", "h5py", "tqdm", "matplotlib", "powerbox", "pyccl")


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except ModuleNotFoundError as exc:  # `pip install archspec-torch` alone: the spec language, no torch
        if (exc.name or "").split(".")[0] not in RUNNER_EXTRA:
            raise
        print(
            f"runner: error: {exc.name} is not installed; the runner needs its extra: "
            'pip install "archspec-torch[runner]"',
            file=sys.stderr,
        )
        return 2


DESCRIPTION = "Train, paint, evaluate and compare the models that archspec specs describe."
EPILOG = "`runner COMMAND --help` says what each command takes; the README's Commands table lists them all."


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="runner", description=DESCRIPTION, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    rest: list[str] = []
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            if getattr(module, "PASSES_ON", False) and "--" in argv:  # `runner sweep ... -- TRAIN OPTIONS`
                argv, rest = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    args = parser.parse_args(argv)
    args.passed_on = rest
    # after parsing: `runner --help` stays instant (this imports archspec, 0.2 s)
    from archspec.language.distribution import clash_warning

    if clash_warning():  # another distribution named archspec beside this one: said once
        print(clash_warning(), file=sys.stderr)
    try:
        return importlib.import_module(SUBCOMMANDS[args.command][0]).run(args)
    except OSError as exc:  # a full disk, a read-only folder: the environment's fault, one line
        from runner.runtime import disk_error_line, is_disk_error

        if not is_disk_error(exc):
            raise
        print(f"runner: error: {disk_error_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
