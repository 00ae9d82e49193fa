"""Atomic file writes: a file is either the old one or the complete new one, never half of either.

    write_atomic(path, lambda f: f.write(data))          # bytes through a file object
    write_text_atomic(path, text)
    with atomic_path(path) as tmp:                       # for writers that want a path (h5py, savefig)
        h5py.File(tmp, "w") ...

The new content goes to a hidden temporary next to ``path`` (same folder, so same filesystem),
is fsynced, and is renamed over ``path`` with `os.replace`; the folder is fsynced where the
filesystem allows, so the rename survives a crash. On any error the temporary is deleted and
``path`` is left as it was. Torch-free, so data commands can use it.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


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


__all__ = ["atomic_path", "commit", "temp_path", "write_atomic", "write_text_atomic"]
