"""The cost of watching for NaN/inf: a training step with and without the finiteness watch.

    python bench/bench_guard.py                                  # quickstart spec, CPU, batch 8
    python bench/bench_guard.py --spec specs/paper_cvae.yaml --batch 4 --steps 5
    python bench/bench_guard.py --device cuda --batch 24 --steps 200

The watch (runner.train.guard) adds to each step the gradients' global norm and a few
element-wise operations on the device, and no host synchronisation: its verdict is read where
metrics are read back anyway. Both loops train the same model from the same seed on the same
random batch; blocks of steps alternate between the two, so that a loaded machine slows both
alike. Printed: milliseconds per step of each (median over blocks) and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import archspec  # noqa: E402
from runner.kinds.cvae import loss  # noqa: E402
from runner.train.guard import GRAD, FiniteWatch, gradient_norm  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def block(model, optimizer, x, y, steps: int, watch: FiniteWatch | None, device: torch.device) -> float:
    """Seconds per step over ``steps`` steps, with or without the watch."""
    sync(device)
    start = time.perf_counter()
    for i in range(steps):
        objective, terms = loss(model, x, y, 1.0)
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        if watch is not None:
            norm = gradient_norm(model.parameters(), device).reshape(1)
            watch.step(torch.cat([terms, norm]), i + 1)
        optimizer.step()
    sync(device)
    if watch is not None:
        assert watch.read() is None  # the one read a flush would do
    return (time.perf_counter() - start) / steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="specs/quickstart.yaml")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="steps per block")
    parser.add_argument("--blocks", type=int, default=6, help="blocks of each, alternating")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    spec = archspec.load(args.spec)
    torch.manual_seed(0)
    model = archspec.build(spec).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(args.batch, *spec.model.shapes["x"], device=device)
    y = torch.rand(args.batch, *spec.model.shapes["y"], device=device)
    block(model, optimizer, x, y, 2, None, device)  # warm-up
    plain, watched = [], []
    for _ in range(args.blocks):
        plain.append(block(model, optimizer, x, y, args.steps, None, device))
        watched.append(
            block(model, optimizer, x, y, args.steps, FiniteWatch(("elbo", "loglik", "kl", GRAD), device), device)
        )
    a, b = statistics.median(plain), statistics.median(watched)
    print(
        f"{args.spec}, batch {args.batch}, {args.device}: step {a * 1e3:.2f} ms plain, {b * 1e3:.2f} ms watched; "
        f"ratio {b / a:.4f} ({args.blocks} alternating blocks of {args.steps} steps, medians)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
