"""No framework tax: the compiled spec against a hand-written model, and ``runner train`` against the bare step.

    python bench/overhead.py                                  # CPU: both parts, paper spec
    python bench/overhead.py --part model --batch 2 --steps 3
    python bench/overhead.py --device cuda --batch 24         # the fast path on both sides

Part 1, the model: a training step (forward, ELBO, backward, Adam) of ``archspec.build(paper
spec)`` and of ``bench/handwritten.py``'s HandCVAE (the same tables written by hand), on the
same random batch, alternating one timed round of each ``--repeat`` times. Both run the same
fast path (precision, channels-last, torch.compile, fused Adam on CUDA). Goal: spec / hand
samples/s >= 0.98.

Part 2, the runner: ``runner.train.recipe.Recipe`` from the start of the spec's schedule over
``--samples`` samples -- its data (the spec's store, as a run opens it), metrics, the test ELBO
at the spec's cadence (24 test samples every 72 for the paper), signal checks -- against the
bare step: the hand loop of part 1 on the spec's model, with batches from the same dataset and
the schedule's batch sizes, nothing else. A checkpoint (with its evaluation figures) is timed
once and amortised over ``checkpoint.every`` samples, as a long run pays it. Goal: at most 5%.

Ratios are of loops alternated in one process, so a machine busy with other work slows both
alike; the load average is printed with each figure.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import clock  # noqa: E402
from handwritten import HandCVAE, negative_elbo  # noqa: E402

import archspec  # noqa: E402
from runner.data.open import open_data  # noqa: E402
from runner.data.samples import Sampler  # noqa: E402
from runner.kinds.cvae import loss as spec_loss  # noqa: E402
from runner.runtime import resolve_device  # noqa: E402
from runner.train import fastpath  # noqa: E402
from runner.train.options import RunOptions  # noqa: E402
from runner.train.recipe import Recipe  # noqa: E402
from runner.train.schedule import Schedule  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def load() -> str:
    return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


# --- the hand loop: what a user writes around a model ------------------------------------------


class HandLoop:
    """forward, -ELBO, backward, Adam on the fast path ``fast``; ``loss(model, x, y)`` -> scalar."""

    def __init__(self, model, loss, fast: fastpath.FastPath, device: torch.device):
        self.model, self.fast, self.device = fast.prepare(model.to(device).train()), fast, device
        extra = {"fused": True, "lr": torch.tensor(1e-3, device=device)} if fast.fused_optimizer else {"lr": 1e-3}
        self.optimizer = torch.optim.Adam(self.model.parameters(), **extra)
        mode = "reduce-overhead" if fast.cuda_graphs else None
        self.loss = torch.compile(loss, mode=mode, dynamic=False) if fast.compile else loss

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.fast.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        x, y = self.fast.layout(x), self.fast.layout(y)
        with self.fast.autocast():
            objective = self.loss(self.model, x, y)
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        self.optimizer.step()


def spec_objective(model, x, y):
    return spec_loss(model, x, y, 1.0)[0]


def hand_objective(model, x, y):
    return negative_elbo(model(x, y), x)


def timed(fn, device: torch.device) -> float:
    sync(device)
    start = clock.now()
    fn()
    sync(device)
    return clock.now() - start


# --- part 1 -----------------------------------------------------------------------------------


def part_model(spec, fast, device, batch: int, steps: int, repeat: int) -> dict:
    """Samples/s of the spec's model and of the hand-written one, alternated."""
    torch.manual_seed(0)
    shapes = spec.model.shapes
    x, y = torch.rand(batch, *shapes["x"], device=device), torch.rand(batch, *shapes["y"], device=device)
    built, hand = archspec.build(spec), HandCVAE()
    sizes = [sorted(p.numel() for p in m.parameters()) for m in (built, hand)]
    if sizes[0] != sizes[1]:
        raise SystemExit(
            f"--part model compares the paper's tables: {spec.name} has {sum(sizes[0]):,} parameters, "
            f"the hand-written CVAE {sum(sizes[1]):,}; use specs/paper_cvae.yaml"
        )
    loops = {
        "archspec.build": HandLoop(built, spec_objective, fast, device),
        "hand-written": HandLoop(hand, hand_objective, fast, device),
    }
    for loop in loops.values():  # warm-up: kernels, allocator, compilation
        for _ in range(2):
            loop.step(x, y)
    seconds = {name: [] for name in loops}
    for _ in range(repeat):
        for name, loop in loops.items():
            seconds[name].append(timed(lambda: [loop.step(x, y) for _ in range(steps)], device))  # noqa: B023 (called within this iteration)
    rates = {name: batch * steps / statistics.median(s) for name, s in seconds.items()}
    ratios = [h / s for s, h in zip(seconds["archspec.build"], seconds["hand-written"])]
    return {"rates": rates, "ratios": ratios}


# --- part 2 -----------------------------------------------------------------------------------


def bare(spec, fast, device, data, samples: int) -> float:
    """Seconds for ``samples`` samples of the hand loop on the spec's model, the schedule's batch sizes."""
    torch.manual_seed(spec.training.seed)
    loop = HandLoop(archspec.build(spec), spec_objective, fast, device)
    schedule, sampler = Schedule.from_training(spec.training), Sampler(len(data), spec.training.seed)
    on_device = getattr(data, "device", None) == device

    def run():
        seen = 0
        while seen < samples:
            size = schedule.batch_size(seen)
            idx = sampler.next_on(size, device) if on_device else sampler.next(size)
            x, y = (v.to(device, non_blocking=True) for v in data.batch(idx))
            loop.step(x, y)
            seen += size

    return timed(run, device)


def runner(spec, options: RunOptions, device, data, samples: int) -> dict:
    """The recipe over ``samples`` samples; its evaluations and one checkpoint timed apart."""
    t = {"evaluate": 0.0, "evaluations": 0}
    with tempfile.TemporaryDirectory() as out:
        recipe = Recipe(spec, Path(out) / "run", options, max_samples=samples, data=data)
        recipe.setup()
        evaluate, save = recipe.test_loss, recipe.save_checkpoint

        def timed_evaluate():
            begin = clock.now()
            result = evaluate()
            sync(device)
            t["evaluate"] += clock.now() - begin
            t["evaluations"] += 1
            return result

        recipe.test_loss = timed_evaluate
        recipe.save_checkpoint = lambda: recipe.out  # timed apart below, once
        with contextlib.redirect_stderr(io.StringIO()):  # its closing line
            t["total"] = timed(recipe.train, device)
        t["samples"] = recipe.state.seen
        t["checkpoint"] = timed(save, device)  # with its evaluation figures, as in a run
        recipe.cleanup()
    return t


def part_runner(spec, options, fast, device, samples: int, repeat: int) -> dict:
    data = open_data(
        spec, device, on_device=options.data_on_device if options.data_on_device is not None else device.type == "cuda"
    )
    bare(spec, fast, device, data[0], Schedule.from_training(spec.training).batch_size(0) * 2)  # warm-up
    if fast.compile:  # compilation of every batch size it meets, train and eval, before the clock runs
        runner(spec, options, device, data, samples)
    ratios, last = [], None
    for _ in range(repeat):  # alternate, so that a busy machine slows both alike
        seconds_bare = bare(spec, fast, device, data[0], samples)
        r = runner(spec, options, device, data, samples)
        amortised = r["checkpoint"] * r["samples"] / spec.training.checkpoint.every
        seconds_runner = r["total"] + amortised
        ratios.append(seconds_runner / seconds_bare)
        last = (seconds_bare, seconds_runner, amortised, r)
    return {"ratios": ratios, "last": last}


# --- main ---------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "specs" / "paper_cvae.yaml"))
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--part", default="both", choices=("model", "runner", "both"))
    parser.add_argument("--batch", type=int, help="part 1's batch (default: 2 on the CPU, 24 on CUDA)")
    parser.add_argument("--steps", type=int, help="part 1's steps per timed round (default: 2 on the CPU, 20 on CUDA)")
    parser.add_argument(
        "--samples",
        type=int,
        default=144,
        help="part 2's samples per loop (default 144: two evaluation periods of the paper spec)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="alternations (default 3)")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "tf32", "bf16"))
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--threads", type=int, help="CPU threads (default: the runner's choice)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to this JSON file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    clock.add_argument(parser)
    args = parser.parse_args(argv)
    clock.use(args.clock, args.device)
    spec = archspec.load(args.spec, args.overrides)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    options = RunOptions(
        device=device.type,
        quiet=True,
        precision=args.precision,
        compile=args.compile,
        cuda_graphs=args.cuda_graphs,
        channels_last=args.channels_last,
        threads=args.threads,
    )
    fast = fastpath.decide(options, device.type, 1)
    fast.apply_globals()
    print(
        f"{spec.name} on {device} ({torch.get_num_threads()} threads), torch {torch.__version__}; fast path: "
        + ", ".join(f"{k}={v}" for k, v in fast.describe().items() if k not in ("device_type",))
        + f"; {load()}"
    )
    results: dict = {"spec": spec.name, "device": str(device), "fast_path": fast.describe(), "clock": args.clock}
    if args.part in ("model", "both"):
        batch, steps = args.batch or (24 if cuda else 2), args.steps or (20 if cuda else 2)
        m = part_model(spec, fast, device, batch, steps, args.repeat)
        for name, rate in m["rates"].items():
            print(
                f"  {name:<16} {rate:10.2f} samples/s  (batch {batch}, median of {args.repeat} rounds of {steps} steps)"
            )
        print(
            f"model: archspec / hand-written samples/s {' '.join(f'{r:.3f}' for r in m['ratios'])} "
            f"(median {statistics.median(m['ratios']):.3f}; goal >= 0.98); {load()}"
        )
        results["model"] = {
            "batch": batch,
            "samples_per_s": m["rates"],
            "ratio": statistics.median(m["ratios"]),
            "ratios": m["ratios"],
            "load": load(),
        }
    if args.part in ("runner", "both"):
        r = part_runner(spec, options, fast, device, args.samples, args.repeat)
        seconds_bare, seconds_runner, amortised, t = r["last"]
        n = t["samples"]
        e = spec.training.evaluation
        rows = [
            ("bare step (hand loop, same data)", seconds_bare),
            ("runner train, all included", seconds_runner),
            (f"  evaluation ({t['evaluations']} x {e.batch_size} test samples every {e.every})", t["evaluate"]),
            (
                f"  checkpoint + its figures ({t['checkpoint']:.2f} s each, every {spec.training.checkpoint.every:,})",
                amortised,
            ),
        ]
        for name, seconds in rows:
            print(f"  {name:<64} {seconds / n * 1e3:9.2f} ms/sample  {seconds / seconds_bare:8.2%} of bare")
        overheads = [x - 1 for x in r["ratios"]]
        print(
            f"runner: overhead over the bare step {' '.join(f'{o:+.2%}' for o in overheads)} "
            f"(median {statistics.median(overheads):+.2%}; goal <= 5%); {load()}"
        )
        results["runner"] = {
            "samples": n,
            "overhead": statistics.median(overheads),
            "overheads": overheads,
            "bare_samples_per_s": n / seconds_bare,
            "runner_samples_per_s": n / seconds_runner,
            "evaluation_share": t["evaluate"] / seconds_bare,
            "checkpoint_share": amortised / seconds_bare,
            "load": load(),
        }
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
