"""The runtime every part of the runner shares: atomic writes, the device, processes, seeding.

Atomic writes: a file is either the old one or the complete new one, never half of either::

    write_atomic(path, lambda f: f.write(data))          # bytes through a file object
    write_text_atomic(path, text)
    with atomic_path(path) as tmp:                       # for writers that want a path (h5py, savefig)
        h5py.File(tmp, "w") ...

The new content goes to a hidden temporary next to ``path`` (same folder, so same filesystem),
is fsynced, and is renamed over ``path`` with `os.replace`; the folder is fsynced where the
filesystem allows, so the rename survives a crash. On any error the temporary is deleted and
``path`` is left as it was.

Torch is imported inside the functions that need it, so that the data commands, which only
write files, never pay for it.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:  # pragma: no cover
    import torch


class RunError(Exception):
    """A run, or a command on a run, that cannot go ahead; the message says why and what to do."""


# --- atomic writes ---------------------------------------------------------------------------------


def temp_path(path: str | os.PathLike) -> Path:
    """The hidden temporary that :func:`commit` moves over ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def commit(tmp: Path, path: str | os.PathLike) -> None:
    """Make ``tmp`` durable and rename it over ``path``, then make the rename durable."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(Path(path).parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # not every filesystem lets a directory be fsynced
        pass


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; committed when the block ends
    without an error, deleted in every case."""
    tmp = temp_path(path)
    try:
        yield tmp
        commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, write: Callable) -> None:
    """Call ``write(file)`` on a binary file that replaces ``path`` once ``write`` returns."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_atomic(path, lambda f: f.write(text.encode()))


# --- device and processes ----------------------------------------------------------------------------



def resolve_device(choice: str) -> "torch.device":
    """'auto' -> cuda when available, else cpu; 'cuda' without CUDA is a :class:`RunError`."""
    import torch

    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise RunError(f"--device cuda: CUDA is not available to this torch ({torch.__version__}); use --device cpu")
    if choice not in ("cpu", "cuda"):
        raise RunError(f"--device must be auto, cpu or cuda. Received: {choice!r}")
    return torch.device(choice)


def init_distributed(device_choice: str) -> tuple[int, int, "torch.device"]:
    """(rank, world size, device). Under torchrun (RANK and WORLD_SIZE set) this joins the
    process group: NCCL with one GPU per process (LOCAL_RANK), gloo on CPUs."""
    import torch
    import torch.distributed as dist

    device = resolve_device(device_choice)
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1, device  # one process
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if not dist.is_initialized():  # MASTER_ADDR / MASTER_PORT come from torchrun's environment
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def available_cores() -> int:
    """The CPU cores this process may run on: its affinity mask, capped by a cgroup CPU quota
    (containers and SLURM jobs often have fewer than ``os.cpu_count()``)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpu_quota()
    return max(1, min(cores, quota) if quota is not None else cores)


def cgroup_cpu_quota(path: str = "/sys/fs/cgroup/cpu.max") -> int | None:
    """Whole CPUs of a cgroup v2 quota ("200000 100000" -> 2), rounded up; None without one."""
    try:
        quota, period = open(path).read().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, -(-int(quota) // int(period)))


def node_processes() -> int:
    """Processes of this run on this machine: torchrun's LOCAL_WORLD_SIZE, else 1."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def cpu_threads(choice: int | None = None) -> int:
    """Threads for this process: ``choice``; else OMP_NUM_THREADS where the user set it; else
    the available cores shared among the node's processes. Under torchrun (LOCAL_WORLD_SIZE
    set) OMP_NUM_THREADS=1 is torchrun's blanket default for every worker whatever the cores,
    so it is not taken as the user's choice (``--threads 1`` is)."""
    if choice is not None:
        return choice
    omp = os.environ.get("OMP_NUM_THREADS", "")
    under_torchrun = "LOCAL_WORLD_SIZE" in os.environ
    if omp.isdigit() and int(omp) > 0 and not (under_torchrun and omp == "1"):
        return int(omp)
    return max(1, available_cores() // node_processes())


# --- seeding ---------------------------------------------------------------------------------------


@contextmanager
def seeded(device: "torch.device", seed: int) -> Iterator[None]:
    """Run the block on its own random stream, seeded with ``seed`` (CPU, and ``device``'s when
    it is a GPU); the caller's stream is restored afterwards, as if the block had drawn nothing."""
    import torch

    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


__all__ = ["RunError", "atomic_path", "available_cores", "cgroup_cpu_quota", "commit", "cpu_threads",
           "init_distributed", "node_processes", "resolve_device", "seeded", "temp_path", "write_atomic",
           "write_text_atomic"]
