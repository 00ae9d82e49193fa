"""Fault injection for tests: make a chosen write die, or fail as a full or read-only disk would.

The tests of killed runs and full disks need a failure at an exact place (inside the write of
the second checkpoint, after its bytes are on disk and before the rename) in a process they
start with the command line. The environment variable ``ARCHSPEC_FAULTS`` names such places::

    ARCHSPEC_FAULTS="write:checkpoint-*.pt:2:kill"       # SIGKILL inside the 2nd checkpoint write
    ARCHSPEC_FAULTS="write:summary.json:1:enospc"        # the 1st summary.json: no space left
    ARCHSPEC_FAULTS="write:*.pt:1:erofs,write:latest:3:kill"

Each entry is ``POINT:GLOB:N:ACTION``: at the N-th time (counted per process, from 1) the point
is reached for a file whose name matches GLOB, do ACTION (``kill``: SIGKILL this process;
``enospc``, ``erofs``, ``eacces``: raise the OSError a full disk, a read-only filesystem or a
folder without write permission raises). The one point today is ``write``, in
:func:`runner.runtime.atomic_path` after the temporary is written and before it is renamed.

Unset (always, outside tests) this costs one dictionary lookup per atomic write.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import signal
from dataclasses import dataclass
from pathlib import Path

ENV = "ARCHSPEC_FAULTS"
ERRNOS = {"enospc": errno.ENOSPC, "erofs": errno.EROFS, "eacces": errno.EACCES}
ACTIONS = ("kill", *ERRNOS)


@dataclass(frozen=True)
class Fault:
    point: str
    glob: str
    nth: int
    action: str


def parse(text: str) -> list[Fault]:
    """The faults of an ``ARCHSPEC_FAULTS`` value; ValueError naming the entry that is malformed."""
    faults = []
    for entry in filter(None, (e.strip() for e in text.split(","))):
        parts = entry.split(":")
        if len(parts) != 4 or not parts[2].isdigit() or int(parts[2]) < 1 or parts[3] not in ACTIONS:
            raise ValueError(
                f"{ENV}: {entry!r} is not POINT:GLOB:N:ACTION with N >= 1 and ACTION one of {', '.join(ACTIONS)}"
            )
        faults.append(Fault(parts[0], parts[1], int(parts[2]), parts[3]))
    return faults


_counts: dict[Fault, int] = {}


def reset() -> None:
    """Start counting afresh (for tests that run several commands in one process)."""
    _counts.clear()


def reached(point: str, path: str | os.PathLike) -> None:
    """Called at a fault point for ``path``: does what ``ARCHSPEC_FAULTS`` asks there, if anything."""
    text = os.environ.get(ENV)
    if not text:
        return
    name = Path(path).name
    for fault in parse(text):
        if fault.point != point or not fnmatch.fnmatchcase(name, fault.glob):
            continue
        _counts[fault] = _counts.get(fault, 0) + 1
        if _counts[fault] != fault.nth:
            continue
        if fault.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        code = ERRNOS[fault.action]
        raise OSError(code, os.strerror(code), str(path))
