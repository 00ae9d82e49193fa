"""``runner train`` end to end: samples/s of a whole run, data, logging and evaluation included.

    python bench/e2e.py                                        # paper spec, this machine's defaults
    python bench/e2e.py --device cuda --samples 12000 --set 'training.batch_size=[[0, 24]]'
    python bench/e2e.py --spec specs/quickstart.yaml --samples 2000 -- --precision fp32

Runs ``python -m runner train SPEC --max-samples N`` into a fresh folder (arguments after
``--`` go to it) and reports two rates: wall (the whole command: start-up, data, compilation,
every step, the closing checkpoint with its evaluation figures) and steady (from the training
records' own clock, between the first record after a quarter of the samples and the last:
what a long run settles to). The spec's evaluation cadence is kept: the test ELBO every
``evaluation.every`` samples, and a checkpoint with its figures at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def steady_rate(records: list[dict], total: int) -> float | None:
    """Samples/s between the first train record at or after a quarter of ``total`` and the last one."""
    train = [r for r in records if r["split"] == "train"]
    later = [r for r in train if r["sample"] >= total / 4]
    if len(later) < 2 or later[-1]["time"] <= later[0]["time"]:
        return None
    return (later[-1]["sample"] - later[0]["sample"]) / (later[-1]["time"] - later[0]["time"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "specs" / "paper_cvae.yaml"))
    parser.add_argument("--samples", type=int, default=2000, help="--max-samples of the run (default 2000)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to this JSON file")
    parser.add_argument("runner_args", nargs="*", help="after --: more `runner train` options")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [
            sys.executable,
            "-m",
            "runner",
            "train",
            args.spec,
            "--out",
            str(out),
            "--device",
            args.device,
            "--max-samples",
            str(args.samples),
            "--progress-every",
            "30s",
        ]
        cmd += [x for kv in args.overrides for x in ("--set", kv)] + args.runner_args
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return done.returncode
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        options = json.loads((out / "options.json").read_text())
    seen = max(r["sample"] for r in records)
    steady = steady_rate(records, seen)
    tests = [r["elbo"] for r in records if r["split"] == "test" and r.get("elbo") is not None]
    result = {
        "spec": Path(args.spec).stem,
        "samples": seen,
        "wall_s": wall,
        "wall_samples_per_s": seen / wall,
        "steady_samples_per_s": steady,
        "last_test_elbo": tests[-1] if tests else None,
        "fast_path": options.get("resolved"),
        "overrides": args.overrides,
        "load": "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()),
    }
    print(
        f"runner train {result['spec']} {' '.join(args.overrides)}: {seen:,} samples in {wall:.1f} s: "
        f"{seen / wall:.1f} samples/s wall (all included), "
        + (f"{steady:.1f} samples/s steady" if steady else "too short for a steady rate")
        + f"; fast path {options.get('resolved')}; {result['load']}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
