"""The benchmarks' clock: wall seconds, or this process's CPU seconds.

On a machine shared with other work, wall time measures the queue as much as the code; with
``--threads 1 --clock process`` a loop is timed in the CPU seconds this process spent, the work
done rather than the time waited (with more threads, idle threads spin and overcount). Both sides
of a ratio are always timed with the same clock, in the same process.

    parser = argparse.ArgumentParser(); add_argument(parser); args = parser.parse_args()
    use(args.clock, args.device);  start = now(); ...; seconds = now() - start
"""

from __future__ import annotations

import argparse
import time

_CLOCK = [time.perf_counter]


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clock",
        choices=("wall", "process"),
        default="wall",
        help="process: this process's CPU seconds instead of wall seconds -- with --threads 1 on a "
        "machine shared with other work, the work done rather than the time waited",
    )


def use(kind: str, device: str) -> None:
    """Time with ``kind`` ('wall' or 'process'); CPU seconds say nothing of work on a GPU."""
    if kind == "process":
        import torch

        if torch.cuda.is_available() and device != "cpu":
            raise SystemExit("--clock process measures CPU work; use it with --device cpu")
        _CLOCK[0] = time.process_time
    else:
        _CLOCK[0] = time.perf_counter


def now() -> float:
    return _CLOCK[0]()
