"""Which checkpoints and evaluation folders a run keeps: the last K, plus every M-th.

A run writes ``checkpoint-<N>.pt`` and ``eval/<N>/`` every ``training.checkpoint.every``
samples. Kept forever, a long run with frequent checkpoints fills the disk; so after each new
checkpoint the run deletes those the policy does not keep:

- the newest ``keep_last`` (the one ``latest`` names among them, and the previous ones a resume
  falls back to when the newest is damaged), and
- milestones: for each multiple of ``keep_every`` × ``checkpoint.every`` samples, the first
  checkpoint at or after it (a checkpoint is written at the first batch boundary at or after
  each multiple of ``checkpoint.every``, so "every M-th checkpoint").

The defaults (3 and 5) keep at most 3 + samples / (5 × checkpoint.every) checkpoints: for the
paper spec (19 MiB per checkpoint, one every 20,000 samples) 4 checkpoints, 76 MiB, for the
150,000-sample run and 5, 95 MiB, for the 252,928-sample one. ``keep_last = 0`` keeps everything.
Folders under ``eval/`` whose names are not numbers (``eval/readme``) are never touched.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path

CHECKPOINT = re.compile(r"^checkpoint-(\d+)\.pt$")


def retained(samples: Iterable[int], keep_last: int, every: int | None) -> set[int]:
    """The sample counts to keep among ``samples``: the newest ``keep_last`` and, for each
    multiple m of ``every`` (samples), the smallest count at or after m. ``keep_last`` 0: all."""
    ordered = sorted(set(samples))
    if keep_last <= 0:
        return set(ordered)
    kept = set(ordered[-keep_last:])
    if every:
        milestones = {}
        for s in ordered:
            milestones.setdefault(s // every, s)  # the first count in each interval [m·every, (m+1)·every)
        kept |= {s for m, s in milestones.items() if m > 0}
    return kept


def prune(run_dir: Path, keep_last: int, every: int | None, protect: str | None = None) -> list[Path]:
    """Delete the checkpoints and ``eval/<N>/`` folders of ``run_dir`` that the policy does not
    keep; ``protect`` (the file ``latest`` names) is never deleted. Returns what was deleted."""
    removed: list[Path] = []
    checkpoints = {int(m[1]): p for p in run_dir.iterdir() if (m := CHECKPOINT.match(p.name)) and p.is_file()}
    keep = retained(checkpoints, keep_last, every)
    for s, path in sorted(checkpoints.items()):
        if s not in keep and path.name != protect:
            path.unlink(missing_ok=True)
            removed.append(path)
    evals = run_dir / "eval"
    if evals.is_dir():
        folders = {int(p.name): p for p in evals.iterdir() if p.name.isdigit() and p.is_dir() and not p.is_symlink()}
        keep = retained(folders, keep_last, every)
        for s, path in sorted(folders.items()):
            if s not in keep:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed
