"""`runner evaluate CHECKPOINT`: power spectra, one-point statistics and image panels of test tiles.

    runner evaluate runs/quickstart                          # -> runs/quickstart/eval/<samples>/
    runner evaluate runs/paper --out eval/paper --redshifts 0,0.5,1,2 --tiles 48 --device cuda

Writes spectra.png, one_point.png, panels.png and summary.json (the numbers behind every
figure; see runner.science.evaluate.evaluate_model). Exit status: 0 done, 1 the checkpoint, the data or
the output is wrong (one line, no traceback), 2 usage.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

EPILOG = """\
Test samples (a 100 plus a 150 Mpc/h tile, as in training) are chosen with a fixed seed at each
redshift; a requested redshift that the store lacks is replaced by the nearest stored one (the
output says so). Spectra are of physical-unit maps: painted pressure through the inverse
shift-log transform against the true summed pressure; cross spectra with dark matter as
1 + delta. Ratios painted/true - 1 in 20 log-spaced k bins from 2 pi/L to 2 pi/L * T/2 (the
paper's bins for 512^2 tiles of 100 Mpc/h), mean and std over tiles.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from runner.cli.args import add_device, redshift_list
    from runner.science.protocol import REDSHIFTS as DEFAULT_REDSHIFTS
    from runner.science.protocol import TILES as DEFAULT_TILES

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint file, or a run folder (its latest checkpoint)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: <run folder>/eval/<samples seen>)")
    parser.add_argument("--data", metavar="PATH", help="tile store to take the test split from (default: the one the checkpoint's spec names)")
    parser.add_argument("--redshifts", type=redshift_list, default=DEFAULT_REDSHIFTS, metavar="Z,Z,...",
                        help=f"comma-separated (default {','.join(f'{z:g}' for z in DEFAULT_REDSHIFTS)})")
    parser.add_argument("--tiles", type=int, default=DEFAULT_TILES, metavar="N",
                        help=f"test samples per redshift (default {DEFAULT_TILES}; all of the split's tiles if fewer)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the sample choice and the latent draws (default 0)")
    parser.add_argument("--mean", action="store_true", help="paint with the prior's mean instead of one prior draw per tile")
    parser.add_argument("--crop", type=int, default=0, metavar="PX",
                        help="cut PX pixels from every side of each tile before any statistic (default 0: whole tiles, "
                             "as the paper); shows the interior apart from the generator's border effects")
    parser.add_argument("--batch-size", type=int, default=8, metavar="N", help="tiles per generator call (default 8)")
    add_device(parser)
    parser.add_argument("--force", action="store_true", help="write into a folder that already holds a summary.json")


def run(args: argparse.Namespace) -> int:
    from runner.checkpoint import CheckpointError
    from runner.science.painter import Painter, PaintError
    from runner.data.layout import DataError
    from runner.runtime import RunError

    try:
        if args.tiles < 1 or args.batch_size < 1 or args.crop < 0:
            raise PaintError(f"--tiles and --batch-size must be >= 1 and --crop >= 0. "
                             f"Received: {args.tiles}, {args.batch_size}, {args.crop}")
        if args.out:
            _check_out(Path(args.out), PaintError)  # before the checkpoint is read
        painter = Painter.load(args.checkpoint, device=args.device, data=args.data)
        if painter.tile - 2 * args.crop < 8:
            raise PaintError(f"--crop {args.crop} leaves less than 8 pixels of the {painter.tile}-pixel tiles")
        out = Path(args.out) if args.out else _default_out(args.checkpoint, painter)
        _check_out(out, PaintError)
        if (out / "summary.json").exists() and not args.force:
            raise PaintError(f"{out} already holds an evaluation; pass --force to replace it, or choose another --out")
        summary = _evaluate(painter, args, out)
    except (PaintError, CheckpointError, DataError, RunError) as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
        return 1
    print(_report(summary, out))
    return 0


def _check_out(out: Path, error_cls) -> None:
    if out.exists() and not out.is_dir():
        raise error_cls(f"{out}: is a file; --out names the folder the figures and summary.json go into")


def _evaluate(painter, args, out: Path) -> dict:
    from runner.science.evaluate import evaluate_model
    from runner.science.painter import open_test_split

    test = painter.test_split or open_test_split(painter.spec, args.data)  # opened once
    return evaluate_model(painter.model, painter.spec, test, out, device=painter.device, transforms=painter.transforms,
                          tiles=args.tiles, redshifts=args.redshifts, seed=args.seed,
                          latent="mean" if args.mean else "sample", batch_size=args.batch_size,
                          provenance=painter.provenance, crop=args.crop)


def _default_out(checkpoint: str, painter) -> Path:
    from runner.science.evaluate import eval_dir

    path = Path(checkpoint)
    run_dir = path if path.is_dir() else path.parent
    return eval_dir(run_dir, painter.provenance["samples_seen"])


def _report(summary: dict, out: Path) -> str:
    """A few lines: what stood in for what, the worst bins per redshift, where the files are."""
    lines = [f"runner: {note['note']}" for note in summary["redshifts"] if "note" in note]
    k = summary["overall"]["k_below"]
    lines.append(f"worst bins at k < {k:g} h/Mpc: |mean over tiles of P_painted/P_true - 1|, "
                 f"and |log10 of the mean spectra's ratio| [dex]")
    lines.append(f"{'z':>6} {'tiles':>6} {'auto':>10} {'cross':>10} {'auto dex':>9} {'cross dex':>9}")
    for entry in summary["per_redshift"]:
        cells = []
        for field, fn in (("mean", abs), ("ratio_of_means", _dex)):
            for kind in ("auto", "cross"):
                values = [fn(v) for kk, v in zip(entry["k"], entry[kind][field]) if kk < k and v is not None]
                cells.append(max(values, default=float("nan")))
        lines.append(f"{entry['z']:>6g} {entry['n_tiles']:>6} {cells[0]:>10.3g} {cells[1]:>10.3g} "
                     f"{cells[2]:>9.3f} {cells[3]:>9.3f}")
    lines.append(f"runner: evaluated in {summary['seconds']:.1f} s -> {out}/ "
                 f"({', '.join([*summary['figures'].values(), 'summary.json'])})")
    return "\n".join(lines)


def _dex(ratio_minus_one: float) -> float:
    """|log10| of a ratio; infinite for a ratio <= 0 (a cross spectrum of the wrong sign)."""
    return abs(math.log10(1 + ratio_minus_one)) if ratio_minus_one > -1 else math.inf
