"""`runner schedule SPEC`: the batch-size and learning-rate table of a spec's training section."""

from __future__ import annotations

import argparse
import json

from runner.cli.args import add_set, load_spec_or_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the spec file")
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list of {sample, batch_size, lr}")
    add_set(parser, "training.samples=252928")


def run(args: argparse.Namespace) -> int:
    from runner.train.schedule import Schedule, describe, format_table

    spec = load_spec_or_report(args.spec, args.overrides)
    if spec is None:
        return 1
    schedule = Schedule.from_training(spec.training)
    own = [name for name, phase in spec.training.phases.items() if phase.lr is not None]  # its own lr
    if args.json:
        print(json.dumps(describe(schedule.changes()), indent=2))
    else:
        print(format_table(schedule, spec.training.pseudo_epoch))
        for name in own:
            print(f"\nphase {name} (training.phases.{name}.lr):")
            print(format_table(Schedule.from_training(spec.training, name), spec.training.pseudo_epoch))
    return 0
