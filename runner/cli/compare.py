"""`runner compare RUN... [--out DIR]`: runs (or sweep folders) side by side.

    runner compare runs/quickstart runs/free_latent --out runs/compare
    runner compare runs/sweep-quickstart             # -> runs/sweep-quickstart/compare/

Prints a Markdown table (parameters, samples, hours, final train/test ELBO, KL, the worst
spectrum ratio of the latest evaluation) and writes table.md, table.csv, table.json and
compare.png (test ELBO curves and spectrum ratios overlaid). Exit status: 0, 1 a folder is not
a run or sweep, 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders or sweep folders")
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="where the table and figure go (default: <sweep>/compare for one "
        "sweep folder, else only the printed table)",
    )
    parser.add_argument("--no-figure", dest="figure", action="store_false", help="tables only")


def run(args: argparse.Namespace) -> int:
    from runner.experiments.compare import expand, markdown, summarise, verdicts, write_comparison
    from runner.runtime import RunError

    try:
        runs = [summarise(path) for path in expand(args.runs)]
        out = Path(args.out) if args.out else _default_out(args.runs)
        print(markdown([r["row"] for r in runs], verdicts(runs)), end="")
        if out is not None:
            paths = write_comparison(runs, out, figure=args.figure)
            print(f"runner: wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    except RunError as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _default_out(paths: list[str]) -> Path | None:
    if len(paths) == 1 and not (Path(paths[0]) / "spec.yaml").is_file():
        return Path(paths[0]) / "compare"
    return None
