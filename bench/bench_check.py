"""`archspec check` against `import torch`: checking a spec must be faster than importing torch,
also where the spec is broken and every fix shown is searched for and checked first, and with
`--fix`, which applies fixes one at a time and checks again after each.

Every command runs as a fresh subprocess (interpreter start included, as a user sees it), the
commands taking turns so that a busy machine weighs on all alike; the median and best of each
are printed, and each check's ratio to `import torch` (medians).

    python bench/bench_check.py [--repeat 7] [--spec specs/paper_cvae.yaml]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: the spec is invalid, as some are meant to be
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs of each command (default 7)")
    parser.add_argument("--spec", default="specs/paper_cvae.yaml", help="the valid spec to check")
    args = parser.parse_args(argv)
    # All through the same interpreter, so a launcher shim (pyenv's adds ~0.1 s) weighs on none.
    check = [sys.executable, "-m", "archspec", "check"]
    commands = {
        "check, valid": check + [args.spec],
        "check, broken (fixes searched)": check + ["examples/seed_as_printed.yaml"],
        "check --fix --dry-run, 3 slips": check + ["--fix", "--dry-run", "examples/typos.yaml"],
        "import torch": [sys.executable, "-c", "import torch"],
    }
    for command in commands.values():
        timed(command)  # warm the file cache once; not counted
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(args.repeat):
        for label, command in commands.items():
            times[label].append(timed(command))
    medians = {label: statistics.median(t) for label, t in times.items()}
    for label, t in times.items():
        print(
            f"{label:32s} median {medians[label] * 1e3:7.0f} ms  best {min(t) * 1e3:7.0f} ms  ({args.repeat} "
            f"runs: {' '.join(commands[label][-3:])})"
        )
    ok = True
    for label in list(commands)[:-1]:
        ratio = medians["import torch"] / medians[label]
        ok &= ratio > 1
        print(f"ratio: {label} is {ratio:.1f}x faster than import torch (medians)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
