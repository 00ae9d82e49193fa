"""Samples/s of the training step under each fast-path configuration, alternated in one process.

    python bench/fastpath.py                                        # CPU: paper and quickstart specs
    python bench/fastpath.py --specs specs/quickstart.yaml --batch 8,32 --configs fp32,cl,bf16+cl
    python bench/fastpath.py --device cuda --batch 24,96 \\
        --configs fp32,tf32+cl,bf16+cl,bf16+cl+compile,bf16+cl+compile+graphs

A configuration is a '+'-joined list of: a precision (fp32, tf32, bf16), ``cl`` (channels-last),
``compile`` (torch.compile), ``graphs`` (CUDA graphs). Each is timed through the runner's own
step (:class:`runner.train.step.Step`: forward, ELBO, backward, Adam) on random batches of the
spec's shapes; one round of ``--steps`` steps per configuration, the configurations taken in
turn ``--repeat`` times, so that a busy machine slows all alike. Printed: samples/s (median of
the rounds) and the ratio to the first configuration, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import clock  # noqa: E402

import archspec  # noqa: E402
from runner.kinds import KINDS  # noqa: E402
from runner.runtime import resolve_device  # noqa: E402
from runner.train import fastpath  # noqa: E402
from runner.train.options import RunOptions  # noqa: E402
from runner.train.step import Step  # noqa: E402

WORDS = {"fp32", "tf32", "bf16", "cl", "compile", "graphs"}


def options_of(config: str, device: str, threads: int | None) -> RunOptions:
    """'bf16+cl+compile' -> RunOptions with every choice explicit (nothing left to 'auto')."""
    words = set(config.split("+"))
    if words - WORDS:
        raise SystemExit(f"unknown words {sorted(words - WORDS)} in {config!r}; expected some of {sorted(WORDS)}")
    precision = next((p for p in ("bf16", "tf32", "fp32") if p in words), "fp32")
    return RunOptions(
        device=device,
        precision=precision,
        channels_last="cl" in words,
        compile="compile" in words,
        cuda_graphs="graphs" in words,
        threads=threads,
    )


class Timed:
    """One configuration's model, optimizer and step on one batch size."""

    def __init__(self, spec, config: str, device: torch.device, batch: int, threads: int | None):
        self.fast = fastpath.decide(options_of(config, device.type, threads), device.type, 1)
        self.fast.apply_globals()
        kind = KINDS.get(spec.model.kind)
        self.step = Step(kind, self.fast, device, lambda text: print(f"  ({config}) {text}"))
        torch.manual_seed(0)
        self.model = self.fast.prepare(archspec.build(spec).to(device).train())
        self.optimizers = self.step.optimizers(self.model, spec.training)
        self.step.set_lr(self.optimizers, spec.training.lr.start)
        shapes = spec.model.shapes
        self.x = torch.rand(batch, *shapes["x"], device=device)
        self.y = torch.rand(batch, *shapes.get("y", shapes["x"]), device=device)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step.train(self.model, self.optimizers, self.x, self.y, 1.0, 1.0)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(spec, configs: list[str], device, batch: int, steps: int, repeat: int, threads) -> dict[str, float]:
    """samples/s of each configuration (median of ``repeat`` alternated rounds)."""
    runs = {}
    for config in configs:
        runs[config] = Timed(spec, config, device, batch, threads)
        runs[config].run(3)  # warm-up: kernels, allocator, compilation, CUDA graph recording
    seconds = {c: [] for c in configs}
    for _ in range(repeat):
        for config, timed in runs.items():
            torch.set_num_threads(timed.fast.threads)
            sync(device)
            start = clock.now()
            timed.run(steps)
            sync(device)
            seconds[config].append(clock.now() - start)
    return {c: batch * steps / statistics.median(s) for c, s in seconds.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", default="specs/paper_cvae.yaml,specs/quickstart.yaml", help="comma-separated")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch", default=None, help="comma-separated batch sizes (default: each spec's first)")
    parser.add_argument("--configs", default="fp32,cl,bf16,bf16+cl", help="comma-separated; the first is the baseline")
    parser.add_argument("--steps", type=int, default=2, help="steps per timed round (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="alternated rounds (default 3)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: the runner's choice)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to this JSON file")
    clock.add_argument(parser)
    args = parser.parse_args(argv)
    clock.use(args.clock, args.device)
    device = resolve_device(args.device)
    configs = args.configs.split(",")
    print(
        f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}), torch "
        f"{torch.__version__}, {fastpath.decide(RunOptions(threads=args.threads), device.type, 1).threads} threads; "
        "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    )
    print(f"{'spec':<12} {'batch':>5}  " + "  ".join(f"{c:>22}" for c in configs))
    results: dict = {"device": str(device), "clock": args.clock, "rates": {}}
    for path in args.specs.split(","):
        spec = archspec.load(ROOT / path if not Path(path).is_absolute() else path)
        sizes = [int(b) for b in args.batch.split(",")] if args.batch else [spec.training.batch_size[0].size]
        for batch in sizes:
            rates = measure(spec, configs, device, batch, args.steps, args.repeat, args.threads)
            base = rates[configs[0]]
            cells = [f"{rates[c]:9.3g}/s (x{rates[c] / base:4.2f})" for c in configs]
            print(f"{spec.name:<12} {batch:>5}  " + "  ".join(f"{c:>22}" for c in cells), flush=True)
            results["rates"].setdefault(spec.name, {})[str(batch)] = rates
    print("load average {:.1f} {:.1f} {:.1f} at the end".format(*os.getloadavg()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
