"""The runner's overhead: the bare training step against the full runner, per sample.

    python bench/bench_runner.py                               # paper spec, CPU, 72 samples (~8 min)
    python bench/bench_runner.py --spec specs/quickstart.yaml --samples 4000
    python bench/bench_runner.py --device cuda --samples 1440

Both loops train the same spec from the same seed on the same in-memory samples (random maps of
the spec's shapes: data loading is bench_data's business), over the same number of samples on
the spec's schedule:

- bare: batch, forward, ELBO, backward, Adam step. Nothing else.
- runner: ``runner.train.recipe.Recipe`` with everything on: the schedule, train metrics, the test
  ELBO every ``evaluation.every`` samples (in eval mode, ``evaluation.batch_size`` samples),
  metrics.jsonl, signal checks. A checkpoint (with its curves PNG) is timed once, at the end,
  and amortised over ``checkpoint.every`` samples, as a long run would pay it.

Printed: seconds per sample of each, their ratio, and the overhead split into the evaluation
(compute the spec asks for: one forward of ``evaluation.batch_size`` samples per
``evaluation.every`` training samples) and the runner's own bookkeeping (everything else).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_data, when imported rather than run

import archspec  # noqa: E402
from runner.data import Sampler  # noqa: E402
from runner.kinds.cvae import elbo  # noqa: E402
from runner.train.schedule import Schedule  # noqa: E402
from runner.train.options import RunOptions  # noqa: E402
from runner.train.recipe import Recipe  # noqa: E402
from bench_data import sync as _sync  # noqa: E402  (one definition for both benchmarks)


class SyntheticTiles:
    """n random samples of the spec's x and y shapes, held in memory; ``batch`` gathers them."""

    def __init__(self, spec, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, *spec.model.shapes["x"], generator=g)
        self.y = torch.rand(n, *spec.model.shapes["y"], generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, idx):
        i = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return self.x[i], self.y[i]  # (N, 1, T, T), (N, 2, T, T), fresh copies like a real dataset


def bare(spec, data, samples: int, device: torch.device) -> float:
    """Seconds for ``samples`` training samples of forward, backward and optimizer step only."""
    t = spec.training
    torch.manual_seed(t.seed)
    model = archspec.build(spec).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=t.lr.start, betas=tuple(t.optimizer.betas))
    schedule, sampler = Schedule.from_training(t), Sampler(len(data), t.seed)
    seen = 0
    _sync(device)
    start = time.perf_counter()
    while seen < samples:
        size = schedule.batch_size(seen)
        x, y = (v.to(device) for v in data.batch(sampler.next(size)))
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr(seen)
        loss = -elbo(model(x, y), x, t.beta).elbo
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += size
    _sync(device)
    return time.perf_counter() - start


def runner(spec, data, test, samples: int, device: torch.device) -> dict:
    """The full recipe over the same samples. Timed apart: the evaluations, the checkpoints, and
    -- measured directly -- the runner's own work between steps (``_after_step`` and
    ``_stop_requested``: logging, scheduling, signal checks) less evaluations and checkpoints."""
    t = {"evaluate": 0.0, "evaluations": 0, "checkpoint": 0.0, "checkpoint_between": 0.0, "between": 0.0}
    inside = [False]  # within _after_step
    with tempfile.TemporaryDirectory() as out:
        options = RunOptions(device=device.type, quiet=True, evaluate=False)  # synthetic tiles have no store to paint
        recipe = Recipe(spec, Path(out) / "run", options=options, max_samples=samples, data=(data, test))
        recipe.setup()
        evaluate, save, after, stop = recipe.evaluate, recipe.save_checkpoint, recipe._after_step, recipe._stop_requested

        def timed_evaluate():
            begin = time.perf_counter()
            result = evaluate()
            _sync(device)
            t["evaluate"] += time.perf_counter() - begin
            t["evaluations"] += 1
            return result

        def timed_save():
            begin = time.perf_counter()
            result = save()
            t["checkpoint"] += time.perf_counter() - begin
            t["checkpoint_between"] += (time.perf_counter() - begin) if inside[0] else 0.0
            return result

        def timed_between(method):
            def wrapper(*args):
                inside[0] = True
                begin = time.perf_counter()
                result = method(*args)
                _sync(device)
                t["between"] += time.perf_counter() - begin
                inside[0] = False
                return result
            return wrapper

        recipe.evaluate, recipe.save_checkpoint = timed_evaluate, timed_save
        recipe._after_step, recipe._stop_requested = timed_between(after), timed_between(stop)
        _sync(device)
        start = time.perf_counter()
        recipe.train()
        _sync(device)
        t["total"] = time.perf_counter() - start
        t["samples"] = recipe.seen
        recipe.cleanup()
    t["bookkeeping"] = t["between"] - t["evaluate"] - t["checkpoint_between"]
    return t


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="specs/paper_cvae.yaml")
    parser.add_argument("--samples", type=int, default=72, help="training samples per loop (default: one evaluation period)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--repeat", type=int, default=1, help="alternate bare and runner this many times")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    spec = archspec.load(args.spec, args.overrides)
    device = torch.device(args.device)
    t = spec.training
    data, test = SyntheticTiles(spec, 64, 1), SyntheticTiles(spec, max(32, t.evaluation.batch_size), 2)
    print(f"{spec.name} on {device} ({torch.get_num_threads()} threads), {args.samples} samples from the start of the schedule")
    bare(spec, data, Schedule.from_training(t).batch_size(0), device)  # warm-up: one batch, kernels and allocator
    ratios, last = [], None
    for _ in range(args.repeat):  # alternate the two, so that a busy machine slows both alike
        seconds_bare = bare(spec, data, args.samples, device)
        r = runner(spec, data, test, args.samples, device)
        checkpoint_share = r["checkpoint"] * r["samples"] / t.checkpoint.every  # amortised over the spec's cadence
        seconds_runner = r["total"] - r["checkpoint"] + checkpoint_share
        ratios.append(seconds_runner / seconds_bare)
        last = (seconds_bare, seconds_runner, checkpoint_share, r)
    seconds_bare, seconds_runner, checkpoint_share, r = last
    n = r["samples"]
    rows = [
        ("bare step (forward, backward, Adam)", seconds_bare),
        ("runner, all included", seconds_runner),
        (f"  evaluation ({r['evaluations']} x {t.evaluation.batch_size} test samples, eval mode)", r["evaluate"]),
        (f"  checkpoints ({r['checkpoint']:.2f} s each, every {t.checkpoint.every:,} samples)", checkpoint_share),
        ("  bookkeeping (logging, schedule, signals), measured directly", r["bookkeeping"]),
    ]
    for name, seconds in rows:
        print(f"{name:<66} {seconds / n * 1e3:10.3f} ms/sample  {seconds / seconds_bare:8.2%} of bare")
    print(f"ratio runner / bare, wall clock: {' '.join(f'{x:.4f}' for x in ratios)} (median {np.median(ratios):.4f})")
    overhead = (r["bookkeeping"] + checkpoint_share) / seconds_bare
    print(f"runner overhead without the evaluation (bookkeeping + amortised checkpoints): {overhead:.2%}; "
          f"with it: {overhead + r['evaluate'] / seconds_bare:.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
