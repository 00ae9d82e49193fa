"""Batch size and learning rate as pure functions of the number of samples seen.

The spec writes the schedule in pseudo-epochs (``training.pseudo_epoch`` samples each); here it
becomes integer sample counts. The rules, which the training loop and ``runner schedule`` share:

1. A batch that starts when ``seen`` samples have been seen has ``batch_size(seen)`` samples and
   trains at ``lr(seen)``: a change takes effect at the first batch that *starts* at or after its
   sample count (a milestone in the middle of a batch waits for the next batch).
2. Milestones at fractional sample counts round up: pseudo-epoch 0.1 of 1,568 is sample 157.
3. Training stops at the first batch boundary at or after ``training.samples``: no batch is cut
   short, so a run may see up to one batch more than asked, and the batches of a run that is
   later extended (``--set training.samples=...`` on resume) are exactly those of a longer run.

Nothing here imports torch: ``runner schedule`` is instant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from runner.runtime import RunError


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def milestone_sample(at: float, pseudo_epoch: int) -> int:
    """Pseudo-epoch ``at`` -> the sample count where it falls, rounded up to a whole sample.

    The float is read as the decimal the spec wrote (``repr``), so 0.3 pseudo-epochs of 1,000
    samples is exactly 300, not 300.00000000000006 rounded up to 301.
    """
    return math.ceil(Fraction(repr(float(at))) * pseudo_epoch)


@dataclass(frozen=True)
class Change:
    """A row of the schedule: from the batch that starts at ``sample`` on, these values."""

    sample: int
    batch_size: int
    lr: float

    def as_dict(self) -> dict:
        return {"sample": self.sample, "batch_size": self.batch_size, "lr": self.lr}


@dataclass(frozen=True)
class Schedule:
    """The training schedule in samples.

    Attributes:
        samples: training stops at the first batch boundary at or after this many samples.
        batch_steps: ((from sample, batch size), ...), increasing, the first from 0.
        lr_start: learning rate before the first milestone.
        lr_factor: multiplied in at each milestone.
        lr_milestones: sample counts of the milestones, increasing.
        lr_min: the floor the rate never goes below.
    """

    samples: int
    batch_steps: tuple[tuple[int, int], ...]
    lr_start: float
    lr_factor: float
    lr_milestones: tuple[int, ...]
    lr_min: float

    def __post_init__(self) -> None:
        # The spec validates all of this with positions; this guards direct construction.
        if not self.batch_steps or self.batch_steps[0][0] != 0:
            raise ValueError(f"the first batch step must start at sample 0, found {self.batch_steps[:1]}")
        if any(size < 1 for _, size in self.batch_steps):
            raise ValueError(f"batch sizes must be positive, found {[s for _, s in self.batch_steps]}")
        for name, values in (("batch steps", [a for a, _ in self.batch_steps]), ("lr milestones", self.lr_milestones)):
            if any(b <= a for a, b in zip(values, values[1:])):
                raise ValueError(f"{name} must increase, found {list(values)}")

    @classmethod
    def from_training(cls, training, phase: str | None = None) -> Schedule:
        """From a spec's ``training`` section (:class:`archspec.language.spec.Training`); with
        ``phase``, that phase's learning rate where ``training.phases`` gives it one.

        ``lr.every`` puts a milestone at every multiple of it below ``training.samples``."""
        pe = training.pseudo_epoch
        lr = training.lr_of(phase)
        # Two fractional milestones may round onto the same sample; the later one wins then.
        steps: dict[int, int] = {}
        for step in training.batch_size:
            steps[milestone_sample(step.at, pe)] = step.size
        return cls(
            samples=training.samples,
            batch_steps=tuple(sorted(steps.items())),
            lr_start=lr.start,
            lr_factor=lr.factor,
            lr_milestones=tuple(milestone_sample(m, pe) for m in lr.milestones) or _every(lr, pe, training.samples),
            lr_min=lr.min,
        )

    # --- pure functions of samples seen ---------------------------------------------------

    def batch_size(self, seen: int) -> int:
        """Size of the batch that starts after ``seen`` samples: the last step at or before it."""
        return next(size for start, size in reversed(self.batch_steps) if start <= seen)

    def lr(self, seen: int) -> float:
        """Learning rate of the batch that starts after ``seen`` samples."""
        n = sum(1 for m in self.lr_milestones if m <= seen)  # 1. milestones passed
        decayed = float(
            f"{self.lr_start * self.lr_factor**n:.12g}"
        )  # 2. decayed; 1e-3 * 0.1**2 is 1e-05, not 1.0000000000000003e-05
        return max(decayed, self.lr_min)  # 3. floored

    def first_start(self, sample: int) -> int:
        """The first batch start at or after ``sample`` (where a change at ``sample`` takes effect)."""
        start, size = next((s, b) for s, b in reversed(self._segments()) if s <= sample)
        return start + _ceil_div(sample - start, size) * size

    def end(self) -> int:
        """Samples seen when training stops: the first batch boundary at or after ``samples``."""
        return self.first_start(self.samples)

    def steps(self, until: int | None = None) -> int:
        """Number of batches that start before ``until`` (default: the whole run)."""
        until = self.samples if until is None else until
        segments = self._segments()
        count = 0
        for i, (start, size) in enumerate(segments):
            stop = min(segments[i + 1][0] if i + 1 < len(segments) else until, until)
            if stop > start:
                count += _ceil_div(stop - start, size)
        return count

    def changes(self) -> list[Change]:
        """The schedule's table: one row at sample 0 and one per batch start where the batch
        size or the learning rate changes, up to the end of training."""
        candidates = (
            {0} | {self.first_start(a) for a, _ in self.batch_steps} | {self.first_start(m) for m in self.lr_milestones}
        )
        rows: list[Change] = []
        for sample in sorted(s for s in candidates if s < self.samples or s == 0):
            row = Change(sample, self.batch_size(sample), self.lr(sample))
            if not rows or (row.batch_size, row.lr) != (rows[-1].batch_size, rows[-1].lr):
                rows.append(row)
        return rows

    def _segments(self) -> list[tuple[int, int]]:
        """(first batch start, batch size) of each batch-size step that gets any batch.

        Within a step the batches start at ``first + k * size``; the next step's first batch is
        the first of those at or after the step's sample. A step that the previous step's last
        batch jumps over entirely gets no batch (its successor starts at the same sample).
        """
        out: list[tuple[int, int]] = []
        start = 0
        for i, (_, size) in enumerate(self.batch_steps):
            following = self.batch_steps[i + 1][0] if i + 1 < len(self.batch_steps) else None
            if following is not None and start >= following:
                continue  # jumped over: no batch of this size
            out.append((start, size))
            if following is not None:
                start += _ceil_div(following - start, size) * size
        return out


def _every(lr, pseudo_epoch: int, samples: int) -> tuple[int, ...]:
    """The milestones of ``lr.every``: one at each multiple of it, up to the end of training."""
    if lr.every is None:
        return ()
    every, out, k = Fraction(repr(float(lr.every))), [], 1
    while (sample := math.ceil(every * k * pseudo_epoch)) < samples:
        out.append(sample)
        k += 1
    return tuple(out)


def format_table(schedule: Schedule, pseudo_epoch: int | None = None) -> str:
    """The schedule as an aligned text table, with a closing line on where training stops."""
    head = ["sample", "pseudo-epoch", "batch size", "lr"] if pseudo_epoch else ["sample", "batch size", "lr"]
    rows = []
    for c in schedule.changes():
        cells = [f"{c.sample:,}", f"{c.batch_size}", f"{c.lr:.3g}"]
        if pseudo_epoch:
            cells.insert(1, f"{c.sample / pseudo_epoch:.2f}".rstrip("0").rstrip("."))
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in [head] + rows]
    lines.append(f"stops at {schedule.end():,} samples (asked: {schedule.samples:,}) after {schedule.steps():,} steps")
    return "\n".join(lines)


def split_batch(batch_size: int, rank: int, world_size: int) -> tuple[int, int]:
    """The slice [lo, hi) of a global batch that process ``rank`` of ``world_size`` trains on.

    Sizes differ by at most one: the first ``batch_size % world_size`` ranks take one more.
    A rank may get an empty slice when the batch is smaller than the number of processes.
    """
    base, extra = divmod(batch_size, world_size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def check_world_size(schedule: Schedule, world: int) -> None:
    """The rule for the number of processes: each trains on its share of every global batch
    (:func:`split_batch`), so every batch of the schedule needs at least one sample per process."""
    start, smallest = min(schedule.batch_steps, key=lambda step: step[1])
    if smallest < world:
        raise RunError(
            f"{world} processes need global batches of at least {world} samples (one per process), "
            f"but the schedule has batches of {smallest} (from sample {start:,}); run at most "
            f"{smallest} processes, or a schedule whose smallest batch is at least {world}"
        )


def describe(changes: Sequence[Change]) -> list[dict]:
    """The rows as plain data (``runner schedule --json``)."""
    return [c.as_dict() for c in changes]


def crossed(before: int, after: int, every: int) -> bool:
    """True when a multiple of ``every`` lies in (before, after]: an event is due at this boundary."""
    return after // every > before // every
