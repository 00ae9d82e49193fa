"""`runner data`: make mock data, import the original's npy maps, describe a store.

    runner data mock mock.h5                       # 1024^2, 4 slices per depth, 11 redshifts
    runner data mock full.h5 --full                # the original's 2048^2, 14 slices (9.9 GiB)
    runner data mock small.h5 --grid 256 --slices 3 --redshifts 0,1,2
    runner data import-npy /data/bahamas bahamas.h5
    runner data info mock.h5
    runner data prepare specs/paper_cvae.yaml      # a spec's store, ready before torchrun starts

No torch is imported here.
"""

from __future__ import annotations

import argparse
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from runner.cli.args import redshift_list
    from runner.data.layout import DEFAULT_GRID, DEFAULT_SLICES, FULL_GRID, FULL_SLICES

    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    mock = sub.add_parser(
        "mock",
        help="write a calibrated mock store",
        description="Write a mock store with the original's layout and "
        "statistics; prints targets against achieved statistics.",
    )
    mock.add_argument("out", metavar="OUT.h5", help="the tile store to write (never overwritten without --force)")
    mock.add_argument(
        "--grid",
        type=int,
        help=f"pixels per side, 0.1953125 Mpc/h each (default {DEFAULT_GRID}; 512 = one 100 Mpc/h tile)",
    )
    mock.add_argument("--slices", type=int, help=f"slices per depth (default {DEFAULT_SLICES})")
    mock.add_argument(
        "--full",
        action="store_true",
        help=f"the original's size: grid {FULL_GRID}, {FULL_SLICES} slices per depth (9.9 GiB; ~10 min, 4 GB RAM)",
    )
    mock.add_argument("--redshifts", type=redshift_list, help="comma-separated (default: the original's 11, 0 ... 2)")
    mock.add_argument("--seed", type=int, default=0, help="randomness of the slices (default 0)")
    mock.add_argument(
        "--sky",
        choices=("halo", "lognormal"),
        default="halo",
        help="halo: dark matter and pressure from the same halos (default, mock v3); "
        "lognormal: the older sky of mock v2 (docs/mock.md)",
    )
    mock.add_argument("--force", action="store_true", help="replace OUT.h5 if it exists")
    mock.add_argument("--quiet", action="store_true", help="no progress bar")

    imp = sub.add_parser(
        "import-npy",
        help="import the original's npy maps into a store",
        description="Import {field}_z{z:.3f}_train_{100|150}.npy files, slice by slice.",
    )
    imp.add_argument("src", metavar="DIR", help="the folder of the original's .npy maps")
    imp.add_argument("out", metavar="OUT.h5", help="the tile store to write")
    imp.add_argument("--dm-name", default="dm", help="{field} of the dark-matter files (default dm)")
    imp.add_argument("--pressure-name", default="pressure", help="{field} of the pressure files (default pressure)")
    imp.add_argument("--redshifts", type=redshift_list, help="comma-separated; default every redshift found")
    imp.add_argument("--box-size", type=float, help="Mpc/h (default grid x 0.1953125)")
    imp.add_argument(
        "--dm-scale",
        type=float,
        help="factor on the dark matter (default: the "
        "original's load-time Omega_m/(Omega_m - Omega_b)/(grid/8*5), which turns "
        "its raw npy sums into a summed-sample mean of ~1; 1 for maps already so)",
    )
    imp.add_argument("--force", action="store_true", help="replace OUT.h5 if it exists")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")

    prep = sub.add_parser(
        "prepare",
        help="make a spec's data ready before a multi-process run",
        description="Generate the spec's mock store into the cache ($ARCHSPEC_CACHE) once, "
        "or check its store; print the store's path. Run it before torchrun on several "
        "machines, with ARCHSPEC_CACHE on a filesystem they share.",
    )
    prep.add_argument("spec", metavar="SPEC", help="the spec whose data section names the store")
    from runner.cli.args import add_set

    add_set(prep, example="data.mock.slices=6")
    prep.add_argument(
        "--data", metavar="PATH", help="a tile store instead of the spec's; same as --set data.store=PATH"
    )
    prep.add_argument("--quiet", action="store_true", help="no progress bar")

    info = sub.add_parser(
        "info",
        help="print a store's (or a painted file's) layout and statistics",
        description="Validate a store and print its layout and statistics; for a file `runner paint` wrote, "
        "its provenance (checkpoint, calibration, latent), units and painted maps.",
    )
    info.add_argument("path", metavar="FILE.h5", help="a tile store, or a file `runner paint` wrote")
    info.add_argument(
        "--tile",
        type=int,
        help="tile size for the sample counts (default 512, or the largest power of two dividing the grid)",
    )
    info.add_argument(
        "--scan", action="store_true", help="read every value (NaN/inf check) even for a store over 1 GiB"
    )


def run_mock(args: argparse.Namespace) -> int:
    from runner.data.layout import DEFAULT_GRID, DEFAULT_SLICES, FULL_GRID, FULL_SLICES, REDSHIFTS, DataError
    from runner.data.mock import format_table, generate_mock

    if args.full and (args.grid or args.slices):
        raise DataError("mock: --full sets --grid 2048 and --slices 14; give one or the other")
    grid = FULL_GRID if args.full else args.grid or DEFAULT_GRID
    slices = FULL_SLICES if args.full else args.slices or DEFAULT_SLICES
    start = time.perf_counter()
    rows = generate_mock(
        args.out,
        grid=grid,
        slices=slices,
        redshifts=args.redshifts or REDSHIFTS,
        seed=args.seed,
        force=args.force,
        progress=not args.quiet,
        sky=args.sky,
    )
    from pathlib import Path

    size = Path(args.out).stat().st_size / 2**20
    print(format_table(rows))
    print(f"wrote {args.out}: {size:,.1f} MiB in {time.perf_counter() - start:.1f} s")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from runner.data.npy_import import import_npy
    from runner.data.store import describe, open_store

    out = import_npy(
        args.src,
        args.out,
        dm_name=args.dm_name,
        pressure_name=args.pressure_name,
        redshifts=args.redshifts,
        box_size=args.box_size,
        dm_scale=args.dm_scale,
        force=args.force,
        progress=not args.quiet,
    )
    with open_store(out, scan=False) as store:
        print(describe(store))
    return 0


def run_info(args: argparse.Namespace) -> int:
    from runner.data.samples import check_tile
    from runner.data.store import describe, open_store
    from runner.science.painted_info import describe_painted, is_painted

    if is_painted(args.path):  # a file `runner paint` wrote: its provenance and maps
        print(describe_painted(args.path))
        return 0
    with open_store(args.path, scan=True if args.scan else None) as store:
        if args.tile:
            check_tile(store.grid, args.tile, store.path.name)
        print(describe(store, args.tile))
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    import json

    from runner.cli.args import load_spec_or_report
    from runner.data.open import store_path
    from runner.data.store import open_store

    overrides = list(args.overrides) + ([f"data.store={json.dumps(args.data)}"] if args.data is not None else [])
    spec = load_spec_or_report(args.spec, overrides)  # as `runner train SPEC --data ... --set ...` reads it
    if spec is None:
        return 1
    path = store_path(spec.data, progress=not args.quiet)
    with open_store(path):  # validated as training will read it
        pass
    print(path)
    return 0


ACTIONS = {"mock": run_mock, "import-npy": run_import, "info": run_info, "prepare": run_prepare}


def run(args: argparse.Namespace) -> int:
    from runner.data.layout import DataError

    try:
        return ACTIONS[args.data_command](args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
