"""The runtime every part of the runner shares: atomic writes, the device, processes, seeding.

Atomic writes: a file is either the old one or the complete new one, never half of either::

    write_atomic(path, lambda f: f.write(data))          # bytes through a file object
    write_text_atomic(path, text)
    with atomic_path(path) as tmp:                       # for writers that want a path (h5py, savefig)
        h5py.File(tmp, "w") ...

The new content goes to a hidden temporary next to ``path`` (same folder, so same filesystem),
is fsynced, and is renamed over ``path`` with `os.replace`; the folder is fsynced where the
filesystem allows, so the rename survives a crash. On any error the temporary is deleted and
``path`` is left as it was, and an OSError names ``path`` (not the temporary). A process killed
mid-write leaves its temporary behind: :func:`remove_stale_temporaries` clears those when a run
starts again.

Torch is imported inside the functions that need it, so that the data commands, which only
write files, never pay for it.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from runner import faults

if TYPE_CHECKING:  # pragma: no cover
    import torch


class RunError(Exception):
    """A run, or a command on a run, that cannot go ahead; the message says why and what to do."""


# --- atomic writes ---------------------------------------------------------------------------------


_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")  # what temp_path names


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
        faults.reached("write", path)  # tests kill the process here, or fail as a full disk would
        commit(tmp, path)
    except OSError as exc:  # name the file the user asked for, not the hidden temporary
        if exc.errno is None or exc.filename == str(path):
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, write: Callable) -> None:
    """Call ``write(file)`` on a binary file that replaces ``path`` once ``write`` returns."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_atomic(path, lambda f: f.write(text.encode()))


def _started_at(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), where /proc says; else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: start time in clock ticks
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _alive(pid: int, wrote_at: float | None = None) -> bool:
    """Whether the process that wrote a temporary at ``wrote_at`` still runs. PIDs are reused
    (pid_max is often 32,768 and a busy machine wraps it in minutes): a process that started
    after the temporary was last written is another one, and the temporary is stale."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        pass
    started = _started_at(pid) if wrote_at is not None else None
    return started is None or started <= wrote_at + 1.0  # a second's slack for clock-tick rounding


def remove_stale_temporaries(folder: str | os.PathLike, depth: int = 1) -> list[Path]:
    """Delete the temporaries that writes killed mid-way left in ``folder`` (and its sub-folders
    ``depth`` levels down); returns them. A temporary of a live process other than this one is
    another writer's and is left alone (this process has written none yet when it calls this)."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = _TEMP.match(entry.name)
        if (
            match
            and entry.is_file()
            and (int(match["pid"]) == os.getpid() or not _alive(int(match["pid"]), entry.stat().st_mtime))
        ):
            entry.unlink(missing_ok=True)
            removed.append(entry)
        elif depth > 0 and entry.is_dir() and not entry.is_symlink():
            removed += remove_stale_temporaries(entry, depth - 1)
    return removed


# --- disk errors -------------------------------------------------------------------------------------

# what a full disk, a read-only or foreign folder, a quota or a file-size limit raise: the
# environment's fault, reported as one line, never a traceback
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO})


def is_disk_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def disk_error_line(exc: OSError, doing: str = "write", where: str | os.PathLike | None = None) -> str:
    """'cannot write runs/x/checkpoint-8.pt: No space left on device (free some space ...)'.
    ``where`` names the folder when the error has no file name (a write to an open file)."""
    what = f" {exc.filename}" if exc.filename else f" in {where}" if where else ""
    advice = {
        errno.ENOSPC: "free some space",
        errno.EDQUOT: "free some space within your quota",
        errno.EFBIG: "the file exceeds a size limit (ulimit -f?)",
        errno.EROFS: "the filesystem is read-only: choose a writable folder",
        errno.EACCES: "no permission: choose a folder you can write to",
        errno.EPERM: "no permission: choose a folder you can write to",
    }.get(exc.errno)
    return f"cannot {doing}{what}: {exc.strerror or exc}" + (f" ({advice})" if advice else "")


# --- names inside folders ------------------------------------------------------------------------------


def child(folder: str | os.PathLike, name: str) -> Path:
    """``folder / name`` for a ``name`` that comes from data (a spec's name, an override's value,
    an input file's name): ValueError unless it is one plain path component, so that it can
    never point outside ``folder`` (no separator, not '.', '..', empty, or absolute)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name or Path(name).is_absolute():
        raise ValueError(f"{name!r} is not a plain file or folder name (no '/', '..' or empty names)")
    return Path(folder) / name


# --- device and processes ----------------------------------------------------------------------------


def resolve_device(choice: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without CUDA is a :class:`RunError`."""
    import torch

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
def seeded(device: torch.device, seed: int) -> Iterator[None]:
    """Run the block on its own random stream, seeded with ``seed`` (CPU, and ``device``'s when
    it is a GPU); the caller's stream is restored afterwards, as if the block had drawn nothing."""
    import torch

    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def autocast_for(precision: str, device):
    """The forward in ``precision`` as a model trained: bf16 autocast for "bf16", else nothing
    (a bf16-trained model can paint very differently in fp32)."""
    import contextlib

    import torch

    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


__all__ = [
    "DISK_ERRNOS",
    "autocast_for",
    "RunError",
    "atomic_path",
    "available_cores",
    "cgroup_cpu_quota",
    "child",
    "commit",
    "cpu_threads",
    "disk_error_line",
    "init_distributed",
    "is_disk_error",
    "node_processes",
    "remove_stale_temporaries",
    "resolve_device",
    "seeded",
    "temp_path",
    "write_atomic",
    "write_text_atomic",
]
