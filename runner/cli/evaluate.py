"""`runner evaluate CHECKPOINT`: power spectra, one-point statistics and image panels of test tiles.

    runner evaluate runs/quickstart                          # -> runs/quickstart/eval/<samples>/
    runner evaluate runs/paper --out eval/paper --redshifts 0,0.5,1,2 --tiles 64 --device cuda

Writes spectra.png, spectra_paper.png, one_point.png, panels.png and summary.json (the numbers
behind every figure; see runner.science.report.summary). Exit status: 0 done, 1 the checkpoint,
the data or the output is wrong (one line, no traceback), 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """\
Test samples (a 100 plus a 150 Mpc/h tile, as in training) are chosen with a fixed seed at each
redshift: first combinations that share no tile, then further pairings of the same tiles (the
output says how many are independent). A requested redshift that the store lacks is replaced
by the nearest stored one. Each tile is painted twice: alone, as the paper did (its borders
zero-padded by the network), and at the centre of a window with --context pixels of its own
dark matter around it, cut back to the tile (the interior: the model away from any border).
Spectra are of physical-unit maps: painted pressure through the inverse shift-log transform
against the true summed pressure; cross spectra with the summed dark matter. Ratios
painted/true - 1 in 20 log-spaced k bins from 2 pi/L to 2 pi/L * T/2 (the paper's bins for
512^2 tiles of 100 Mpc/h), mean and standard deviation (ddof 1) over tiles.
"""


def tiles_arg(text: str) -> int | str | None:
    """--tiles: a positive integer, 'auto' (every independent test tile, 64 to 512) or 'all'
    (None: every combination of the split's tiles)."""
    if text.strip().lower() == "all":
        return None
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of tiles, 'auto' or 'all'. Received: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (or 'auto' or 'all'), not {value}")
    return value


def context_arg(text: str) -> int | None:
    """--context: pixels >= 0, or 'auto' (None: half the model's receptive field)."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected pixels or 'auto'. Received: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0 (0: no interior painting), not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from runner.cli.args import add_device, positive_int, redshift_list
    from runner.science.protocol import MAX_INDEPENDENT, TILES
    from runner.science.protocol import REDSHIFTS as DEFAULT_REDSHIFTS

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument(
        "checkpoint", metavar="CHECKPOINT", help="a checkpoint file, or a run folder (its latest checkpoint)"
    )
    parser.add_argument("--out", metavar="DIR", help="output folder (default: <run folder>/eval/<samples seen>)")
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="tile store to take the test split from (default: the one the checkpoint's spec names)",
    )
    parser.add_argument(
        "--redshifts",
        type=redshift_list,
        default=DEFAULT_REDSHIFTS,
        metavar="Z,Z,...",
        help=f"comma-separated (default {','.join(f'{z:g}' for z in DEFAULT_REDSHIFTS)})",
    )
    parser.add_argument(
        "--tiles",
        type=tiles_arg,
        default="auto",
        metavar="N|auto|all",
        help=f"test samples per redshift (default auto: every independent test tile, at least {TILES}, the "
        f"paper's, and at most {MAX_INDEPENDENT}; at most every combination of the split's tiles, which 'all' takes)",
    )
    parser.add_argument(
        "--context",
        type=context_arg,
        default=None,
        metavar="PX|auto",
        help="pixels of dark matter around each tile for the interior painting (default auto: half the "
        "model's receptive field, rounded to its size step; 0: whole tiles only)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="S", help="seed of the sample choice and the latent draws (default 0)"
    )
    parser.add_argument(
        "--latent",
        choices=("sample", "mean"),
        default="sample",
        help="sample: one prior draw of z per tile, as the original (default); mean: the prior's mean "
        "(as runner paint --latent)",
    )
    parser.add_argument("--mean", action="store_const", dest="latent", const="mean", help="the same as --latent mean")
    parser.add_argument(
        "--crop",
        type=int,
        default=0,
        metavar="PX",
        help="cut PX pixels from every side of each tile before any statistic (default 0: whole tiles, "
        "as the paper); the spectra are then of the smaller maps, in their own k bins",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=8, metavar="N", help="tiles per generator call (default 8)"
    )
    add_device(parser)
    parser.add_argument("--force", action="store_true", help="write into a folder that already holds a summary.json")


def run(args: argparse.Namespace) -> int:
    from runner.checkpoint import CheckpointError
    from runner.data.layout import DataError
    from runner.runtime import RunError
    from runner.science.painter import Painter, PaintError

    try:
        if args.crop < 0:
            raise PaintError(f"--crop must be >= 0. Received: {args.crop}")
        if args.out:
            _check_out(Path(args.out), PaintError)  # before the checkpoint is read
        painter = Painter.load(args.checkpoint, device=args.device, data=args.data)
        if painter.tile - 2 * args.crop < 8:
            raise PaintError(f"--crop {args.crop} leaves less than 8 pixels of the {painter.tile}-pixel tiles")
        out = Path(args.out) if args.out else _default_out(args.checkpoint, painter)
        _check_out(out, PaintError)
        if (out / "summary.json").exists() and not args.force:
            raise PaintError(f"{out} already holds an evaluation; pass --force to replace it, or choose another --out")
        summary = _evaluate(painter, args, out, PaintError)
    except (PaintError, CheckpointError, DataError, RunError) as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
        return 1
    print(_report(summary, out))
    return 0


def _check_out(out: Path, error_cls) -> None:
    if out.exists() and not out.is_dir():
        raise error_cls(f"{out}: is a file; --out names the folder the figures and summary.json go into")


def _evaluate(painter, args, out: Path, error_cls) -> dict:
    from runner.science.choice import context_margin
    from runner.science.evaluate import evaluate_model
    from runner.science.painter import open_test_split

    try:
        context = context_margin(painter.spec, painter.tile, args.context)
    except ValueError as exc:
        raise error_cls(str(exc)) from None
    test = painter.test_split or open_test_split(painter.spec, args.data)  # opened once
    return evaluate_model(
        painter.model,
        painter.spec,
        test,
        out,
        device=painter.device,
        transforms=painter.transforms,
        tiles=args.tiles,
        redshifts=args.redshifts,
        seed=args.seed,
        latent=args.latent,
        batch_size=args.batch_size,
        provenance=painter.provenance,
        crop=args.crop,
        context=context,
        precision=painter.precision,
        calibration=painter.calibration,
    )


def _default_out(checkpoint: str, painter) -> Path:
    from runner.science.evaluate import eval_dir

    path = Path(checkpoint)
    run_dir = path if path.is_dir() else path.parent
    return eval_dir(run_dir, painter.provenance["samples_seen"])


def _report(summary: dict, out: Path) -> str:
    """What stood in for what, how many tiles, the scores table, where the files are."""
    from runner.science.scores import format_scores

    lines = [f"runner: {note['note']}" for note in summary["redshifts"] if "note" in note]
    choice, context = summary["choice"], summary["context"]
    asked = summary["tiles_requested"]
    lines.append(
        f"runner: {choice['combinations']} test samples per redshift"
        + (f" ({asked} asked for)" if asked is not None and asked != choice["combinations"] else "")
        + f": combinations of {choice['tiles_per_depth']} tiles of each depth ({choice['available']} exist), "
        f"{choice['independent']} of them sharing no tile"
    )
    lines.append(
        "worst |<P_painted>/<P_true> - 1| (<> the mean over tiles) in the k bins below each k [h/Mpc]; "
        "'tile': each tile painted alone, as the paper"
        + (f"; 'interior': painted with {context['margin']} px of context" if context["margin"] else "")
    )
    lines.append(format_scores(summary, kl=summary["terms"].get("kl")))
    lines.append(
        f"runner: evaluated in {summary['seconds']:.1f} s -> {out}/ "
        f"({', '.join([*summary['figures'].values(), 'summary.json'])})"
    )
    return "\n".join(lines)
