"""`runner paint CHECKPOINT --input DM.h5 --output OUT.h5`: paint pressure with a trained model.

    runner paint runs/quickstart --input dm.h5 --output painted.h5             # one prior draw per tile
    runner paint runs/paper/checkpoint-150000.pt --input dm.h5 --output p.h5 --samples 8 --device cuda
    runner paint runs/fiducial --input dm.h5 --output p.h5 --latent mean       # the prior's mean

Exit status: 0 painted, 1 the checkpoint, the input or the output is wrong (one line, no
traceback), 2 usage.
"""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
dark matter: a projected density in the model's units, those of the original: scaled so that a
  250 Mpc/h-deep projection (a 100 plus a 150 Mpc/h slice, as every training sample) has mean
  about 1; a D Mpc/h-deep projection has mean about D/250. Every map is checked by its mean
  before anything is painted: within 1.5x of the expected mean it is painted; within 10x it is
  painted with a warning naming the factor; further off it is refused (other units). --rescale
  multiplies each map by (expected mean / its mean) instead: for maps in other units. A map of
  another depth (the dataset's 'slice_depth' or 'depth' attribute, else --depth) is checked
  against that depth's mean and is a warning: the model never saw such slabs.

input (HDF5), either layout:
  plain  a dataset /dm (or --dataset NAME): one map (H, W) or a stack (N, H, W), with an
         attribute 'redshift' (or 'z'): one number, or one per map; --redshift Z for a dataset
         without one. Output: /pressure, the same shape.
  store  the tile store's layout /dm/z<z>/<depth>, each (n_slices, H, W): every redshift and
         depth present is painted, each slice on its own (redshift from the dataset's
         'redshift' attribute, else the group name). Output: /pressure/z<z>/<depth>.
  Maps must be at least the generator's tile a side; larger maps are painted tile by tile
  with overlapping, blended seams. Each tile gets its own draw of z from the prior p(z|y), as
  the original painted; --latent mean paints at the prior's mean. With --samples K > 1 every
  output dataset gains a leading axis of K draws.

output: float32 pressure in physical units (the inverse shift-log transform, with sigma_z from
the checkpoint, or from its spec's tile store when the checkpoint carries none), with
provenance attributes (checkpoint path and sha256, spec hash and text, archspec version, date,
the dark-matter units expected). Written to a temporary file and renamed; an existing output is
replaced only with --force.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from runner.cli.args import add_device, int_at_least

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument(
        "checkpoint", metavar="CHECKPOINT", help="a checkpoint file, or a run folder (its latest checkpoint)"
    )
    parser.add_argument("--input", required=True, metavar="DM.h5", help="dark-matter maps (layouts below)")
    parser.add_argument("--output", required=True, metavar="OUT.h5", help="painted pressure (HDF5)")
    parser.add_argument(
        "--samples",
        type=int_at_least(1),
        default=1,
        metavar="K",
        help="latent draws per map from the prior (default 1, as the original)",
    )
    parser.add_argument(
        "--latent",
        choices=("sample", "mean"),
        default="sample",
        help="sample: z drawn from the prior p(z|y) per tile, as the original (default); "
        "mean: z = the prior's mean (deterministic; one map)",
    )
    parser.add_argument(
        "--depth",
        type=float,
        metavar="MPC",
        help="projection depth in Mpc/h of datasets without a 'slice_depth' or 'depth' "
        "attribute (default 250, the model's)",
    )
    parser.add_argument(
        "--rescale",
        action="store_true",
        help="multiply each map by (expected mean / its mean): for maps in other units",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the latent draws (default 0)")
    parser.add_argument(
        "--overlap",
        type=int,
        metavar="PX",
        help="overlap of neighbouring tiles in pixels (default: a quarter of the tile)",
    )
    parser.add_argument(
        "--batch-size", type=int_at_least(1), default=8, metavar="N", help="tiles per generator call (default 8)"
    )
    add_device(parser)
    parser.add_argument(
        "--dataset", default="dm", metavar="NAME", help="the input's dark-matter dataset or group (default dm)"
    )
    parser.add_argument(
        "--redshift",
        type=float,
        metavar="Z",
        help="the redshift of a plain dataset that has no 'redshift' (or 'z') attribute",
    )
    parser.add_argument(
        "--data",
        metavar="STORE",
        help="tile store whose statistics define the transform, when the checkpoint carries none "
        "(default: the store its spec names)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from runner.checkpoint import CheckpointError
    from runner.data.layout import DataError
    from runner.runtime import RunError
    from runner.science.painted_files import check_output, paint_file, scan_input
    from runner.science.painter import Painter, PaintError

    usage = _usage_error(args)
    if usage:
        print(f"runner paint: error: {usage}", file=sys.stderr)
        return 2
    try:
        maps = scan_input(args.input, args.dataset, args.redshift)  # a bad input fails before the checkpoint is read
        check_output(Path(args.input), Path(args.output), args.force)
        painter = Painter.load(args.checkpoint, device=args.device, data=args.data)
        out, n = paint_file(
            painter,
            args.input,
            args.output,
            maps=maps,
            dataset=args.dataset,
            samples=args.samples,
            latent=args.latent,
            overlap=args.overlap,
            seed=args.seed,
            depth=args.depth,
            rescale=args.rescale,
            batch_size=args.batch_size,
            force=args.force,
            progress=not args.quiet,
        )
    except (PaintError, CheckpointError, DataError, RunError) as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
        return 1
    print(f"runner: painted {n} map(s) on {painter.device} -> {out}", file=sys.stderr)
    return 0


def _usage_error(args: argparse.Namespace) -> str | None:
    """Option combinations argparse cannot check alone (exit 2, before anything is read)."""
    if args.latent == "mean" and args.samples != 1:
        return f"--latent mean paints one map; --samples {args.samples} needs --latent sample"
    if args.depth is not None and not args.depth > 0:
        return f"--depth must be a positive depth in Mpc/h. Received: {args.depth:g}"
    if args.redshift is not None and not (args.redshift >= 0 and args.redshift < float("inf")):
        return f"--redshift must be a finite redshift >= 0. Received: {args.redshift:g}"
    return None
