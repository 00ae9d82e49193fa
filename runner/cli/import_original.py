"""`runner import-original DIR --out RUN`: the original's published CVAE as a run folder.

    runner import-original baryon_painter/trained_models/CVAE/fiducial --out runs/fiducial
    runner paint runs/fiducial --input dm.h5 --output pressure.h5

Exit status: 0 imported, 1 a file, key or statistic is wrong (one line, no traceback), 2 usage.
"""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
DIR is the original repository's trained_models/CVAE/fiducial/ folder:
  model_state          the weights (torch's legacy or zip format), read with weights_only=True;
                       every key of the original's layout is mapped onto the paper spec and
                       every shape checked: the first key that does not fit is named
  model_meta           the transform's statistics, read without running it: only numpy arrays
                       and plain containers are built, the original's functions stay inert
                       placeholders, any other global refuses the file
  training_stats.txt   optional: its last line gives the samples seen (the checkpoint's name)

Given the original's trained_models/CGAN/fiducial/ folder instead (g_struc.pickle, no
model_state), it reads the GAN generator's structure without running it, compares it with
specs/paper_cgan.yaml layer by layer (channels, kernels, strides, paddings, bias, spectral
norm), says what matches or differs, and exits 1: importing the GAN's weights is not supported
yet (docs/cgan.md).

RUN gets checkpoint-<samples>.pt (with the statistics: painting needs no store), latest,
spec.yaml and imported.json (source, sha256 of every file read, where the statistics came
from). It paints (runner paint RUN, runner.load_painter(RUN)) and evaluates like a trained
run; it cannot be resumed (no optimizer state).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("source", metavar="DIR", help="the original's trained_models/CVAE/fiducial folder")
    parser.add_argument("--out", required=True, metavar="RUN", help="the run folder to write")
    parser.add_argument(
        "--statistics",
        choices=("meta", "fiducial"),
        default="meta",
        help="meta: model_meta's, read without running it (the published table when it is "
        "absent; default); fiducial: the published table of docs/data.md, model_meta unopened",
    )
    parser.add_argument(
        "--spec", metavar="SPEC", help="a spec of the paper's structure (default: the paper's, packaged)"
    )
    parser.add_argument("--force", action="store_true", help="replace a previous import in RUN")


def run(args: argparse.Namespace) -> int:
    import archspec
    from runner.checkpoint import CheckpointError
    from runner.importers.original import OriginalImportError, import_original

    try:
        imported = import_original(
            args.source, args.out, spec_path=args.spec, statistics=args.statistics, force=args.force
        )
    except FileNotFoundError as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
        return 1
    except archspec.SpecError as exc:
        print(exc.report(), file=sys.stderr)
        return 1
    except (OriginalImportError, CheckpointError) as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
        return 1
    for note in imported.notes:
        print(f"runner: note: {note}", file=sys.stderr)
    print(
        f"runner: imported {imported.samples_seen:,}-sample model, statistics from {imported.statistics} "
        f"-> {imported.checkpoint}",
        file=sys.stderr,
    )
    return 0
