"""What the training recipe needs before its first step: processes, device, data; small rules.

Kept apart from :mod:`runner.train` so the loop reads on its own.
"""
from __future__ import annotations

import os
from pathlib import Path

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
    if path == "mock":
        options = {"grid": data.mock.grid, "slices": data.mock.slices, "seed": data.mock.seed}
        if data.mock.redshifts is not None:
            options["redshifts"] = list(data.mock.redshifts)
        if distributed and not master:
            dist.barrier()  # wait for rank 0 to make it
        path = ensure_mock_store(cache_dir(), progress=progress and master, **options)
        if distributed and master:
            dist.barrier()
    store = open_store(path)
    tile = data.tile or spec.model.shapes["x"][1]
    if data.on_device:
        return tuple(DeviceTiles(store, tile=tile, split=s, test_slices=data.test_slices, device=device) for s in ("train", "test"))
    return tuple(TileDataset(store, tile=tile, split=s, test_slices=data.test_slices) for s in ("train", "test"))


def crossed(before: int, after: int, every: int) -> bool:
    """True when a multiple of ``every`` lies in (before, after]: an event is due at this boundary."""
    return after // every > before // every


def eval_seed(seed: int, seen: int) -> int:
    """The seed of an evaluation's latent noise: a function of the run's seed and the position only."""
    return (seed * 0x9E3779B97F4A7C15 + seen) % (1 << 63)
