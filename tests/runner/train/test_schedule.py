"""The schedule: the paper's table, and the closed forms against a batch-by-batch simulation."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archspec
from runner.train.schedule import Schedule, milestone_sample, split_batch

PAPER = "specs/paper_cvae.yaml"

# DESIGN.md §3: batch 4 -> 8 -> 16 -> 24 at pseudo-epochs 8, 16, 32 (x 1,568 samples); lr 1e-3,
# x 0.1 at 64 (the first batch of 24 that starts at or after 100,352 starts at 100,360); the
# milestones at 96 and 128 fall after 150,000.
PAPER_TABLE = [
    {"sample": 0, "batch_size": 4, "lr": 1e-3},
    {"sample": 12_544, "batch_size": 8, "lr": 1e-3},
    {"sample": 25_088, "batch_size": 16, "lr": 1e-3},
    {"sample": 50_176, "batch_size": 24, "lr": 1e-3},
    {"sample": 100_360, "batch_size": 24, "lr": 1e-4},
]


def _simulate(s: Schedule) -> tuple[list[tuple[int, int, float]], int, int]:
    """Brute force: walk batch by batch, applying each milestone at the first batch start at or
    after it, written independently of the closed forms under test."""
    size_i, lr_n = 0, 0
    seen, steps, batches = 0, 0, []
    while seen < s.samples:
        while size_i + 1 < len(s.batch_steps) and s.batch_steps[size_i + 1][0] <= seen:
            size_i += 1
        while lr_n < len(s.lr_milestones) and s.lr_milestones[lr_n] <= seen:
            lr_n += 1
        lr = s.lr_start
        for _ in range(lr_n):
            lr *= s.lr_factor
        size = s.batch_steps[size_i][1]
        batches.append((seen, size, max(lr, s.lr_min)))
        seen += size
        steps += 1
    return batches, seen, steps


def test_paper_schedule_json():
    out = subprocess.run(
        [sys.executable, "-m", "runner", "schedule", PAPER, "--json"], capture_output=True, text=True, check=True
    )
    rows = json.loads(out.stdout)
    assert [r["sample"] for r in rows] == [r["sample"] for r in PAPER_TABLE]
    assert [r["batch_size"] for r in rows] == [r["batch_size"] for r in PAPER_TABLE]
    assert [r["lr"] for r in rows] == pytest.approx([r["lr"] for r in PAPER_TABLE], rel=1e-12)


def test_paper_schedule_text_and_longer_run():
    schedule = Schedule.from_training(archspec.load(PAPER).training)
    assert schedule.end() == 150_016 and schedule.steps() == 3136 + 1568 + 1568 + 4160
    out = subprocess.run(
        [sys.executable, "-m", "runner", "schedule", PAPER, "--set", "training.samples=252928"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (
        "150,544" in out and "200,704" in out and "1e-05" in out and "1e-06" in out
    )  # 96 and 128 x 1,568, then 24-aligned
    assert "stops at 252,928 samples" in out


def test_schedule_of_invalid_spec_reports(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "runner", "schedule", PAPER, "--set", "training.lr.min=1"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "lr" in out.stderr and "Traceback" not in out.stderr


def test_milestone_rounding():
    assert milestone_sample(8, 1568) == 12_544
    assert milestone_sample(0.3, 1000) == 300  # not 301 from float error
    assert milestone_sample(0.1, 1568) == 157  # 156.8 rounds up


def test_milestone_inside_a_batch_waits_for_the_next():
    s = Schedule(
        samples=100, batch_steps=((0, 4), (10, 8)), lr_start=1.0, lr_factor=0.5, lr_milestones=(13,), lr_min=0.0
    )
    assert s.first_start(10) == 12 and s.batch_size(12) == 8 and s.batch_size(8) == 4
    assert s.first_start(13) == 20 and s.lr(12) == 1.0 and s.lr(20) == 0.5
    assert [(c.sample, c.batch_size, c.lr) for c in s.changes()] == [(0, 4, 1.0), (12, 8, 1.0), (20, 8, 0.5)]


def test_a_step_jumped_over_gets_no_batch():
    s = Schedule(
        samples=100, batch_steps=((0, 10), (3, 2), (5, 7)), lr_start=1.0, lr_factor=1.0, lr_milestones=(), lr_min=0.0
    )
    assert [(c.sample, c.batch_size) for c in s.changes()] == [(0, 10), (10, 7)]


@st.composite
def schedules(draw) -> Schedule:
    n_steps = draw(st.integers(1, 4))
    starts = [0] + sorted(draw(st.sets(st.integers(1, 300), min_size=n_steps - 1, max_size=n_steps - 1)))
    sizes = draw(st.lists(st.integers(1, 40), min_size=n_steps, max_size=n_steps))
    milestones = sorted(draw(st.sets(st.integers(0, 400), max_size=4)))
    return Schedule(
        samples=draw(st.integers(1, 500)),
        batch_steps=tuple(zip(starts, sizes)),
        lr_start=draw(st.sampled_from([1e-3, 0.5, 2.0])),
        lr_factor=draw(st.sampled_from([0.1, 0.5, 1.0])),
        lr_milestones=tuple(milestones),
        lr_min=draw(st.sampled_from([0.0, 1e-5, 1e-4])),
    )


@settings(max_examples=300, deadline=None)
@given(schedules())
def test_closed_forms_match_simulation(s: Schedule):
    batches, end, steps = _simulate(s)
    assert s.end() == end and s.steps() == steps
    for seen, size, lr in batches:
        assert s.batch_size(seen) == size
        assert s.lr(seen) == pytest.approx(lr, rel=1e-12)
    changes, previous = [], None
    for seen, size, lr in batches:  # the table: the rows where something changes
        if previous is None or size != previous[0] or not math.isclose(lr, previous[1], rel_tol=1e-9):
            changes.append((seen, size))
        previous = (size, lr)
    assert [(c.sample, c.batch_size) for c in s.changes()] == changes
    starts = {seen for seen, _, _ in batches} | {end}
    for m in range(0, end + 1):  # every milestone position lands on the first batch start at or after it
        assert s.first_start(m) == min(b for b in starts if b >= m)


@given(st.integers(1, 200), st.integers(1, 9))
def test_split_batch_covers_the_batch(batch, world):
    slices = [split_batch(batch, r, world) for r in range(world)]
    assert slices[0][0] == 0 and slices[-1][1] == batch
    assert all(a[1] == b[0] for a, b in zip(slices, slices[1:]))
    assert max(hi - lo for lo, hi in slices) - min(hi - lo for lo, hi in slices) <= 1
