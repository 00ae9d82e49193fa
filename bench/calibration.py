"""What the calibration of the painting does to a trained run's scores: one table, three paintings.

    python bench/calibration.py RUN                   # a run folder (its latest checkpoint) or a checkpoint
    python bench/calibration.py RUN --fit-on train --fit-seeds 5 6 7 --min-count 64 512 2048

The run's model paints ``--tiles`` samples per redshift of the split the calibration is fitted
on (the validation slices where the spec names them, as training does; ``--fit-on train`` for
training tiles) and the test samples, scored as ``runner evaluate`` scores them (tiles painted
alone, one prior draw per tile, the run's precision), three ways:

- raw: the network's output t taken through the inverse transform, e^{4t} − 1 (the paper);
- lognormal: t + 2 s²(t), with s²(t) the variance of the true t in bins of the painted t, the
  mean of e^{4t} *if* the scatter around the painting were Gaussian in t;
- pressure_mean: ¼ ln E[e^{4 t_true} | painted t], what ``training.calibration: pressure_mean``
  stores in a checkpoint (runner.science.calibration; the same fit on the same samples).

``--fit-seeds`` fits again on other choices of samples: how much the painting moves with the
tiles the table is fitted on (the reason the tail's bins are wide: docs/calibration.md).
``--min-count`` sets the pixels of the thinnest tail bin. ``--residuals`` first prints how well
the model fits the fitted split against the test: a model that fits them much better than
unseen tiles (a long training fitted on training tiles) gets too small a correction.

Each line gives the worst |<P_painted>/<P_true> − 1| below k = 2 h/Mpc, the band-averaged ratio
− 1 at k 0.5–2 h/Mpc with its bootstrap 68% interval, and the mean painted / true pressure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.cli.evaluate import tiles_arg  # noqa: E402
from runner.science.calibration import MIN_SHARE, Calibration, as_table, fit, paint_training  # noqa: E402
from runner.science.ceiling import fit_conditional_mean, min_count_for  # noqa: E402
from runner.science.protocol import REDSHIFTS, TILES  # noqa: E402


def lognormal(painted, true, redshifts, tiles, min_count: int = 0) -> Calibration:
    """t + 2 s²(t) at the bins' mean painted t: E[t | painted] + 2 Var[t | painted], both from the
    pressure_mean fit's own bins (runner.science.ceiling.fit_conditional_mean)."""
    knots, values = [], []
    for p, t in zip(painted, true):
        r = np.ravel(t).astype(float) - np.ravel(p).astype(float)
        m = min_count or min_count_for(np.size(p), MIN_SHARE)
        centre, mean_r = fit_conditional_mean(p, r, m)
        _, mean_r2 = fit_conditional_mean(p, r**2, m)
        centre, value = as_table(centre, centre + mean_r + 2 * np.maximum(mean_r2 - mean_r**2, 0))
        knots.append(centre)
        values.append(value)
    return Calibration(tuple(float(z) for z in redshifts), tuple(knots), tuple(values), tiles)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="a run folder or a checkpoint")
    p.add_argument("--tiles", type=int, default=256, help="samples per redshift for the fits (default 256)")
    p.add_argument(
        "--fit-on",
        choices=("auto", "train", "validation"),
        default="auto",
        help="the split the fits paint (default auto: the validation slices where the spec names them, as training "
        "does; else training tiles)",
    )
    p.add_argument(
        "--fit-seeds",
        type=int,
        nargs="+",
        default=None,
        help="seeds of the choice of fitted samples (default: the run's own seed); several show how much the "
        "painting moves with the tiles the table is fitted on",
    )
    p.add_argument(
        "--test",
        type=tiles_arg,
        default="auto",
        help=f"test samples per redshift (default auto: every independent one, {TILES}-512)",
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--min-count",
        type=int,
        nargs="+",
        default=[0],
        help="pixels in the thinnest tail bin (default 0: the calibration's own, MIN_SHARE of the fitted pixels)",
    )
    p.add_argument(
        "--residuals",
        action="store_true",
        help="also print the RMS of true − painted t (all pixels, and the brightest 1%% painted) on the fitted and "
        "test tiles: a model that fits its fitted tiles much better than the test's gets too small a calibration",
    )
    args = p.parse_args(argv)
    import torch

    from runner.data.open import open_data, open_validation
    from runner.science.evaluate import evaluate_model
    from runner.science.painter import Painter

    torch.set_num_threads(args.threads)
    painter = Painter.load(args.run, device="cpu")
    train, test = open_data(painter.spec, torch.device("cpu"))
    validation = open_validation(painter.spec, train.store)
    if args.fit_on == "validation" and validation is None:
        p.error(f"{painter.spec.name} names no validation slices (data.validation_slices)")
    source = validation if args.fit_on != "train" and validation is not None else train
    zs, n = source.space.redshifts, min(args.tiles, source.space.per_depth**2)

    def paint(data, seed):
        return paint_training(
            painter.model, painter.kind, data, device=painter.device, precision=painter.precision, seed=seed,
            tiles=args.tiles,
        )  # fmt: skip

    ways = {"raw": None}
    for seed in args.fit_seeds or [painter.spec.training.seed]:
        painted, true = paint(source, seed)
        if args.residuals:
            held = paint(test, seed)
            print(f"| split | z | RMS(t_true − t_painted) | the same, brightest 1% painted |  (fit seed {seed})")
            print("|---|---|---|---|")
            for split, (p_all, t_all) in ((source.space.split, (painted, true)), ("test", held)):
                for z, p_z, t_z in zip(zs, p_all, t_all):
                    r, top = (t_z - p_z).ravel(), p_z.ravel() > np.quantile(p_z, 0.99)
                    print(f"| {split} | {z:g} | {np.sqrt(np.mean(r**2)):.4f} | {np.sqrt(np.mean(r[top] ** 2)):.4f} |")
            print()
        tag = f", fit seed {seed}" if args.fit_seeds else ""
        for m in args.min_count:
            ways[f"lognormal (min count {m or 'default'}{tag})"] = lognormal(painted, true, zs, n, m)
            ways[f"pressure_mean (min count {m or 'default'}{tag})"] = fit(
                painted, true, zs, n, min_count=m or None, split=source.space.split
            )
    print(
        f"{painter.spec.name} ({painter.provenance['checkpoint']}), fitted on {args.tiles} {source.space.split} "
        "samples per redshift"
    )
    print("| painting | z | auto worst k<2 | cross worst k<2 | auto band 0.5-2 | cross band 0.5-2 | mean ratio |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, calibration in ways.items():
            summary = evaluate_model(
                painter.model, painter.spec, test, Path(tmp) / name, device=painter.device,
                transforms=painter.transforms, tiles=args.test,
                redshifts=REDSHIFTS, figures=(), context=0, precision=painter.precision, calibration=calibration,
            )  # fmt: skip
            for row in summary["scores"]["tile"]["per_z"]:
                bands = row["bands"]
                cells = [f"{row['auto'][1]:.3f}", f"{row['cross'][1]:.3f}"] + [
                    "{:+.3f} [{:+.3f}, {:+.3f}]".format(*bands[kind]["0.5-2"]) for kind in ("auto", "cross")
                ]
                print(f"| {name} | {row['z']:g} | " + " | ".join(cells) + f" | {row['mean_ratio']:.3f} |")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\n{time.strftime('%Y-%m-%d')}, load average {load:.1f} at the end; "
        f"command: python bench/calibration.py {' '.join(argv if argv is not None else sys.argv[1:])}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
