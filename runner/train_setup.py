"""What the training recipe needs around its loop: processes, device, data, resume rules, small helpers.

Kept apart from :mod:`runner.train` so the loop reads on its own.
"""
from __future__ import annotations

import os
import shlex
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import torch
import torch.distributed as dist


class RunError(Exception):
    """A run that cannot start or continue; the message says why and what to do instead."""


def resolve_device(choice: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without CUDA is an error."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise RunError(f"--device cuda: CUDA is not available to this torch ({torch.__version__}); use --device cpu")
    if choice not in ("cpu", "cuda"):
        raise RunError(f"--device must be auto, cpu or cuda. Received: {choice!r}")
    return torch.device(choice)


def init_distributed(device_choice: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under torchrun (RANK and WORLD_SIZE set) this joins the
    process group: NCCL with one GPU per process (LOCAL_RANK), gloo on CPUs."""
    device = resolve_device(device_choice)
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1, device  # one process
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if not dist.is_initialized():  # MASTER_ADDR / MASTER_PORT come from torchrun's environment
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def cache_dir() -> Path:
    """Where generated mock stores live: $ARCHSPEC_CACHE, else ~/.cache/archspec."""
    return Path(os.environ.get("ARCHSPEC_CACHE") or Path.home() / ".cache" / "archspec").expanduser()


def open_data(spec, device: torch.device, master: bool = True, distributed: bool = False, progress: bool = False) -> tuple:
    """The (train, test) datasets the spec's data section describes.

    ``store: mock`` generates the mock store into :func:`cache_dir` once (rank 0 first, the
    others wait and reuse it); any other value is the path of a tile store. ``on_device`` holds
    the split on the training device.
    """
    from runner.data import DeviceTiles, TileDataset, ensure_mock_store, open_store

    data = spec.data
    path = data.store
    scan = None  # open_store's default: read every value of a store up to 1 GiB for NaN/inf
    if data.on_device:
        scan = False  # DeviceTiles checks every value it loads
    if path == "mock":
        options = {"grid": data.mock.grid, "slices": data.mock.slices, "seed": data.mock.seed}
        if data.mock.redshifts is not None:
            options["redshifts"] = list(data.mock.redshifts)
        if distributed and not master:
            dist.barrier()  # wait for rank 0 to make it
        path = ensure_mock_store(cache_dir(), progress=progress and master, **options)
        if distributed and master:
            dist.barrier()
        scan = False  # ensure_mock_store validated it, and its writer refused NaN/inf
    store = open_store(path, scan=scan)
    tile = data.tile or spec.model.shapes["x"][1]
    if data.on_device:
        return tuple(DeviceTiles(store, tile=tile, split=s, test_slices=data.test_slices, device=device) for s in ("train", "test"))
    return tuple(TileDataset(store, tile=tile, split=s, test_slices=data.test_slices) for s in ("train", "test"))


def crossed(before: int, after: int, every: int) -> bool:
    """True when a multiple of ``every`` lies in (before, after]: an event is due at this boundary."""
    return after // every > before // every


@contextmanager
def seeded(device: torch.device, seed: int) -> Iterator[None]:
    """Run the block on its own random stream, seeded with ``seed`` (CPU, and ``device``'s when
    it is a GPU); the caller's stream is restored afterwards, as if the block had drawn nothing."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def eval_seed(seed: int, seen: int) -> int:
    """The seed of an evaluation's latent noise: a function of the run's seed and the position only."""
    return (seed * 0x9E3779B97F4A7C15 + seen) % (1 << 63)


# --- resuming ------------------------------------------------------------------------------------

EXTENDABLE = ("training.samples",)  # what may change when a run is resumed


def check_same_run(saved: dict, current: dict, path: Path, run_spec: Path) -> list[str]:
    """Refuse to resume a run (:class:`RunError`, naming every difference) when the spec's plain
    data differs from the checkpoint's in anything but :data:`EXTENDABLE`; returns notes on the
    allowed differences."""
    from archspec.cli import diff_data

    changes = list(diff_data(saved, current))
    blocking = [c for c in changes if c[0] not in EXTENDABLE]
    if blocking:
        lines = "\n".join(f"  {p}: {old!r} -> {new!r}" for p, old, new in blocking)
        raise RunError(f"cannot resume {path}: the spec differs from the run's\n{lines}\n"
                       f"only {', '.join(EXTENDABLE)} may change on resume (to extend a run); "
                       f"use the run's own spec ({run_spec}) or choose another --out")
    return [f"runner: {p}: {old} -> {new} ({'extending' if new > old else 'shortening'} the run)" for p, old, new in changes]


def resume_hint(command: Sequence[str] | None, out: Path) -> str:
    """The command that continues a run: ``command`` without --max-samples, with --resume."""
    argv = ["runner", *command[1:]] if command else ["runner", "train", "SPEC"]
    kept: list[str] = []
    for arg in argv:
        if kept and kept[-1] == "--max-samples":
            kept.pop()  # drop the option and its value
        elif not arg.startswith("--max-samples="):
            kept.append(arg)
    if not any(a == "--out" or a.startswith("--out=") for a in kept):
        kept += ["--out", str(out)]
    return shlex.join(kept + ([] if "--resume" in kept else ["--resume"]))


# --- small helpers -------------------------------------------------------------------------------


def sampler(n: int, seed: int):
    """The data's resumable sampler of sample indices."""
    from runner.data import Sampler

    return Sampler(n, seed)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def transforms_config(data) -> dict | None:
    """The shift-log statistics the data was transformed with, as plain data (None if unknown)."""
    transforms = getattr(data, "transforms", None)
    if not isinstance(transforms, dict):
        return None
    return {field: t.to_config() for field, t in transforms.items() if hasattr(t, "to_config")} or None
