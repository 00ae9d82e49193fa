"""`runner paint CHECKPOINT --input DM.h5 --output OUT.h5`: paint pressure with a trained model.

    runner paint runs/quickstart --input dm.h5 --output painted.h5             # prior mean
    runner paint runs/paper/checkpoint-150000.pt --input dm.h5 --output p.h5 --samples 8 --device cuda

Exit status: 0 painted, 1 the checkpoint, the input or the output is wrong (one line, no
traceback), 2 usage.
"""
from __future__ import annotations

import argparse
import sys

EPILOG = """\
input (HDF5), either layout:
  plain  a dataset /dm (or --dataset NAME): one map (H, W) or a stack (N, H, W) of projected
         dark-matter density in units of the mean (1 + delta), with an attribute 'redshift':
         one number, or one per map. Output: /pressure, the same shape.
  store  the tile store's layout /dm/z<z>/<depth>, each (n_slices, H, W): every redshift and
         depth present is painted, each slice on its own (redshift from the dataset's
         'redshift' attribute, else the group name). Output: /pressure/z<z>/<depth>.
         The model learnt from 250 Mpc/h-deep sums of a 100 and a 150 Mpc/h tile: a single
         depth's maps are shallower projections than any it saw.
  Maps must be at least the generator's tile a side; larger maps are painted tile by tile
  with overlapping, blended seams. With --samples K every output dataset gains a leading axis
  of K latent draws; each tile gets its own draw of z from the prior p(z|y).

output: float32 pressure in physical units (the inverse shift-log transform, with sigma_z from
the checkpoint, or from its spec's tile store when the checkpoint carries none), with
provenance attributes (checkpoint path and sha256, spec hash and text, archspec version, date).
Written to a temporary file and renamed; an existing output is replaced only with --force.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from runner.cli.args import add_device, int_at_least

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint file, or a run folder (its latest checkpoint)")
    parser.add_argument("--input", required=True, metavar="DM.h5", help="dark-matter maps (layouts below)")
    parser.add_argument("--output", required=True, metavar="OUT.h5", help="painted pressure (HDF5)")
    parser.add_argument("--samples", type=int_at_least(0), default=0, metavar="K",
                        help="latent draws per map from the prior (default 0: paint with the prior's mean, as the original)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the latent draws (default 0)")
    parser.add_argument("--overlap", type=int, metavar="PX", help="overlap of neighbouring tiles in pixels (default: a quarter of the tile)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=8, metavar="N", help="tiles per generator call (default 8)")
    add_device(parser)
    parser.add_argument("--dataset", default="dm", metavar="NAME", help="the input's dark-matter dataset or group (default dm)")
    parser.add_argument("--data", metavar="STORE",
                        help="tile store whose statistics define the transform, when the checkpoint carries none "
                             "(default: the store its spec names)")
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from runner.checkpoint import CheckpointError
    from runner.science.painted_files import check_output, paint_file, scan_input
    from runner.science.painter import Painter, PaintError
    from runner.data.layout import DataError
    from runner.runtime import RunError
    from pathlib import Path

    try:
        maps = scan_input(args.input, args.dataset)  # a bad input fails before the checkpoint is read
        check_output(Path(args.input), Path(args.output), args.force)
        painter = Painter.load(args.checkpoint, device=args.device, data=args.data)
        out, n = paint_file(painter, args.input, args.output, maps=maps, dataset=args.dataset, samples=args.samples,
                            overlap=args.overlap, seed=args.seed, batch_size=args.batch_size,
                            force=args.force, progress=not args.quiet)
    except (PaintError, CheckpointError, DataError, RunError) as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
        return 1
    print(f"runner: painted {n} map(s) on {painter.device} -> {out}", file=sys.stderr)
    return 0
