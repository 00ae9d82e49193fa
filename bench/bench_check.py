"""`archspec check` against `import torch`: checking a spec must be faster than importing torch.

Both run as fresh subprocesses (interpreter start included, as a user sees them), several times
each; the best and the median of each are printed, and the ratio of the medians.

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
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def measure(command: list[str], repeat: int) -> list[float]:
    timed(command)  # warm the file cache once; not counted
    return [timed(command) for _ in range(repeat)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs of each command (default 7)")
    parser.add_argument("--spec", default="specs/paper_cvae.yaml")
    args = parser.parse_args(argv)
    # Both through the same interpreter, so a launcher shim (pyenv's adds ~0.1 s) weighs on neither.
    check = [sys.executable, "-m", "archspec", "check", args.spec]
    commands = {"archspec check": check, "import torch": [sys.executable, "-c", "import torch"]}
    results = {}
    for label, command in commands.items():
        times = measure(command, args.repeat)
        results[label] = statistics.median(times)
        print(f"{label:15s} median {results[label] * 1e3:7.0f} ms  best {min(times) * 1e3:7.0f} ms  ({args.repeat} runs: {' '.join(command[-3:])})")
    ratio = results["import torch"] / results["archspec check"]
    print(f"ratio: archspec check is {ratio:.1f}x faster than import torch (medians)")
    return 0 if ratio > 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
