"""Does data loading keep up with training? Samples/s of each loader against a training step.

    python bench/bench_data.py                       # auto device; a cached 1024^2 mock store
    python bench/bench_data.py --device cuda --batch 24 --store data.h5

Prints samples/s of
  - the training step (forward, ELBO, backward, Adam) of the paper's model when archspec can
    build it, else of a stand-in conv net with the paper's layer sizes;
  - the CPU loader (TileDataset) reading from RAM and from the HDF5 file, including the copy
    to the device;
  - the on-device path (DeviceTiles);
and each loader's ratio to the training step: above 1, it is faster than training consumes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from runner.data import DeviceTiles, Sampler, TileDataset, ensure_mock_store, open_store  # noqa: E402
from runner.data.open import cache_dir  # noqa: E402
from runner.runtime import RunError, resolve_device  # noqa: E402


def stand_in() -> nn.Module:
    """Convolutions of the paper's sizes: 512 -> 256 -> 64 (128 channels) -> 256 -> 512."""

    def conv(cin, cout, k, s, transposed=False):
        layer = (nn.ConvTranspose2d if transposed else nn.Conv2d)(cin, cout, k, s, (k - s) // 2, bias=False)
        return [layer, nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *conv(3, 8, 4, 2),
        *conv(8, 32, 8, 4),
        *conv(32, 128, 3, 1),
        *conv(128, 128, 3, 1),
        *conv(128, 32, 8, 4, True),
        *conv(32, 8, 4, 2, True),
        nn.Conv2d(8, 1, 5, 1, 2, bias=False),
    )


def training_step(tile: int):
    """(name, step(x, y)) for the paper's model if archspec builds it, else the stand-in."""
    try:
        import archspec
        from runner.kinds.cvae import elbo

        spec = archspec.load(Path(__file__).resolve().parents[1] / "specs" / "paper_cvae.yaml")
        model, name = archspec.build(spec), "paper_cvae (archspec.build)"
        if tile != spec.model.shapes["x"][1]:
            raise ValueError(f"the paper's model takes {spec.model.shapes['x'][1]}^2 tiles")

        def loss(x, y):
            return -elbo(model(x, y), x)[0].elbo
    except Exception as exc:  # ImportError while archspec is young; any build problem alike
        print(f"(paper model unavailable: {type(exc).__name__}: {str(exc)[:120]}; using a stand-in)")
        model, name = stand_in(), "stand-in conv net"

        def loss(x, y):
            return (model(torch.cat([x, y], 1)) - x).square().mean()

    return name, model, loss


def rate(fn, batch: int, repeats: int, device: torch.device) -> float:
    """Samples per second of fn() (one batch each call), after one warm-up call."""
    fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return batch * repeats / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", help="a tile store (default: a cached mock, grid 1024, 3 slices, z 0,1,2)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--batch", type=int, help="samples per batch (default 24 on cuda, 4 on cpu)")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--steps", type=int, help="timed training steps (default 20 on cuda, 2 on cpu)")
    a = p.parse_args()
    try:
        device = resolve_device(a.device)
    except RunError as exc:
        sys.exit(f"bench_data: error: {exc}")
    gpu = device.type == "cuda"
    batch, steps = a.batch or (24 if gpu else 4), a.steps or (20 if gpu else 2)
    path = a.store or ensure_mock_store(cache_dir(), grid=1024, slices=3, redshifts=(0.0, 1.0, 2.0), progress=True)
    store = open_store(path)
    print(
        f"{store}\ndevice {device}, batch {batch}, tile {a.tile}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads"
    )

    name, model, loss = training_step(a.tile)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    ram = TileDataset(store, tile=a.tile, split="train", in_memory=True)
    disk = TileDataset(store, tile=a.tile, split="train", in_memory=False)
    t0 = time.perf_counter()
    dev = DeviceTiles(store, tile=a.tile, split="train", device=device)
    load_s = time.perf_counter() - t0
    sampler = Sampler(len(ram), seed=0)
    x0, y0 = (t.to(device) for t in ram.batch(sampler.next(batch)))

    def step():
        opt.zero_grad(set_to_none=True)
        loss(x0, y0).backward()
        opt.step()

    def cpu_loader(ds):
        def load():
            x, y = ds.batch(sampler.next(batch))
            return x.to(device, non_blocking=True), y.to(device, non_blocking=True)

        return load

    def on_device():
        return dev.batch(torch.from_numpy(sampler.next(batch)).to(device, non_blocking=True))

    loops = max(steps, 5)
    rows = [
        (f"training step: {name}", rate(step, batch, steps, device)),
        ("CPU loader, maps in RAM (+ copy to device)", rate(cpu_loader(ram), batch, loops, device)),
        ("CPU loader, HDF5 reads (+ copy to device)", rate(cpu_loader(disk), batch, loops, device)),
        (
            f"on-device batches (load {load_s:.1f} s, {dev.nbytes / 2**20:,.0f} MiB)",
            rate(on_device, batch, loops * 4, device),
        ),
    ]
    train = rows[0][1]
    print(f"\n{'':<58}{'samples/s':>11}{'x training':>12}")
    for label, r in rows:
        print(f"{label:<58}{r:>11.1f}{r / train:>11.1f}x")


if __name__ == "__main__":
    main()
