"""A run SIGKILLed again and again (at random moments, and inside its checkpoint and pointer
writes through the ARCHSPEC_FAULTS test hook) and resumed each time ends exactly where an
uninterrupted run ends: no half-written file is read, no metrics record is lost or written
twice, and the temporaries of the killed writes are removed at the next start."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner import checkpoint as ck
from runner.runtime import remove_stale_temporaries, temp_path
from tests.readme import named_test_files, quoted
from tests.runner.train.test_train import assert_same_state

# 160 samples in 30 steps (batches of 4 to 80 samples, then of 8), a checkpoint at 32, 64, 96, 128 and 160
ARGS = [
    "--set",
    "training.samples=160",
    "--set",
    "training.checkpoint.every=32",
    "--set",
    "training.evaluation.every=16",
    "--set",
    "training.log_every=16",
    "--no-eval",
    "--quiet",
    "--keep-last",
    "0",
    "--device",
    "cpu",
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: the same arithmetic in every process


def start(spec: Path, run: Path, *extra: str, faults: str | None = None) -> subprocess.Popen:
    env = {**ENV, **({"ARCHSPEC_FAULTS": faults} if faults else {})}
    return subprocess.Popen(
        [sys.executable, "-m", "runner", "train", str(spec), "--out", str(run), *ARGS, *extra],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> str:
    _, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return err


def temporaries(run: Path) -> list[Path]:
    return sorted(p for p in run.rglob(".*.tmp"))


def records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def assert_folder_consistent(run: Path) -> None:
    """What a reader finds in the folder after a kill: every file whole, ``latest`` naming a
    checkpoint that reads, metrics lines that parse but for at most a last one cut short."""
    if not (run / ck.LATEST).exists():
        return  # killed before its first checkpoint
    for path in ck.candidates(run):
        ck.read(path)  # raises on a half-written checkpoint
    assert (run / (run / ck.LATEST).read_text().strip()).is_file()
    for name in ("env.json", "options.json", "data.json"):
        if (run / name).exists():
            json.loads((run / name).read_text())
    lines = (run / "metrics.jsonl").read_text().split("\n")
    for line in lines[:-2]:
        json.loads(line)


@pytest.mark.slow  # six processes started and killed (~37 s); .ci/run runs it with the slow suite
def test_killed_again_and_again_resumes_to_the_uninterrupted_result(tiny, tmp_path):
    reference = tmp_path / "reference"
    ref = start(tiny, reference)
    run = tmp_path / "run"
    # 1. killed inside the write of the 3rd checkpoint: its bytes are in a temporary, not yet renamed
    assert start(tiny, run, faults="write:checkpoint-*.pt:3:kill").wait(timeout=120) == -signal.SIGKILL
    stale = temporaries(run)
    assert [p.name.rsplit(".", 2)[0] for p in stale] == [".checkpoint-96.pt"]
    assert (run / ck.LATEST).read_text().strip() == "checkpoint-64.pt" and not (run / "checkpoint-96.pt").exists()
    assert_folder_consistent(run)
    # 2. killed inside the write of ``latest`` just after checkpoint-128.pt was renamed in place
    err = finish(proc := start(tiny, run, "--resume", faults="write:latest:2:kill"))
    assert proc.returncode == -signal.SIGKILL and "warning" not in err
    assert not any(p in temporaries(run) for p in stale)  # the start removed the first kill's temporary
    assert (run / ck.LATEST).read_text().strip() == "checkpoint-96.pt" and (run / "checkpoint-128.pt").is_file()
    assert_folder_consistent(run)  # the next start resumes from 96, which latest names, and redoes 128
    # 3. killed at random moments of training, three times
    rng = random.Random(1234)
    for _ in range(3):
        proc = start(tiny, run, "--resume")
        size = (run / "metrics.jsonl").stat().st_size
        deadline = time.monotonic() + 90
        while proc.poll() is None and (run / "metrics.jsonl").stat().st_size <= size and time.monotonic() < deadline:
            time.sleep(0.02)  # until it has trained and written past where it resumed
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        err = finish(proc)
        assert "warning" not in err and "trying the previous checkpoint" not in err  # nothing half-written was read
        assert_folder_consistent(run)
    # 4. to the end
    err = finish(proc := start(tiny, run, "--resume"))
    assert proc.returncode == 0, err
    assert finish(ref) is not None and ref.returncode == 0
    assert temporaries(run) == []
    assert_same_state(ck.read(reference / "checkpoint-160.pt"), ck.read(run / "checkpoint-160.pt"))
    mine, theirs = records(run), records(reference)
    keys = [(r["sample"], r["split"]) for r in mine]
    assert len(keys) == len(set(keys)), "a record written twice"
    strip = lambda rs: [{k: v for k, v in r.items() if k != "time"} for r in rs]  # noqa: E731
    assert strip(mine) == strip(theirs)  # none lost, none duplicated, the same values


def test_stale_temporaries_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    (tmp_path / "eval" / "8").mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [
        tmp_path / f".checkpoint-8.pt.{dead.pid}.tmp",
        tmp_path / "eval" / "8" / f".summary.json.{dead.pid}.tmp",
        temp_path(tmp_path / "latest"),
    ]  # this process's own: it has not written yet when it cleans
    live = tmp_path / f".metrics.jsonl.{os.getppid()}.tmp"  # a live process's write in progress
    kept = [tmp_path / "checkpoint-8.pt", tmp_path / ".lock", tmp_path / ".hidden.tmp", live]
    for p in stale + kept:
        p.write_text("x")
    assert sorted(remove_stale_temporaries(tmp_path, depth=2)) == sorted(stale)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times come from /proc")
def test_a_temporary_whose_pid_was_reused_by_a_later_process_is_stale(tmp_path):
    # PIDs wrap (pid_max 32,768 is common): a live process that started after the temporary was
    # last written did not write it
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        reused = tmp_path / f".curves.png.{later.pid}.tmp"
        reused.write_text("x")
        os.utime(reused, (time.time() - 3600, time.time() - 3600))  # written an hour before `later` started
        ours = tmp_path / f".metrics.jsonl.{later.pid}.tmp.keep"  # not a temporary's name: never touched
        ours.write_text("x")
        fresh = tmp_path / f".summary.json.{later.pid}.tmp"  # written by `later`, as far as anyone can tell
        fresh.write_text("x")
        assert remove_stale_temporaries(tmp_path, depth=0) == [reused]
        assert fresh.exists() and ours.exists()
    finally:
        later.kill()
        later.wait()


@pytest.mark.slow
def test_killed_inside_an_evaluation_redoes_it_on_resume(tiny, tmp_path):
    run = tmp_path / "run"
    args = [a for a in ARGS if a != "--no-eval"]
    cmd = [sys.executable, "-m", "runner", "train", str(tiny), "--out", str(run), *args, "--set", "training.samples=40"]
    out = subprocess.run(
        cmd, env={**ENV, "ARCHSPEC_FAULTS": "write:summary.json:1:kill"}, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == -signal.SIGKILL
    assert (run / "checkpoint-32.pt").is_file() and not (run / "eval" / "32" / "summary.json").exists()
    out = subprocess.run(cmd + ["--resume"], env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads((run / "eval" / "32" / "summary.json").read_text())["provenance"]["samples_seen"] == 32
    assert (run / "eval" / "40" / "summary.json").is_file() and temporaries(run) == []


def test_a_second_process_training_into_the_same_folder_is_refused(tiny, tmp_path):
    import archspec
    from runner.runtime import RunError
    from runner.train.recipe import train
    from runner.train.runlog import RunLock

    run = tmp_path / "run"
    run.mkdir()
    lock = RunLock(run)
    lock.acquire()  # as a first process training there holds it
    try:
        with pytest.raises(RunError, match=rf"{run} is in use by another runner process \(pid {os.getpid()}\)") as err:
            train(archspec.load(tiny, ["training.samples=8"]), run, quiet=True, evaluate=False)
        assert quoted("runner: error: … is in use").fullmatch(f"runner: error: {err.value}")
    finally:
        lock.release()
    assert not (run / ".lock").exists()  # released: the file goes with the lock
    assert train(archspec.load(tiny, ["training.samples=8"]), run, resume=True, quiet=True, evaluate=False) == 0
    assert not (run / ".lock").exists()  # a run that ended leaves no lock file behind


def test_a_starter_that_opened_the_lock_file_just_before_its_holder_removed_it_locks_the_new_one(tmp_path, monkeypatch):
    """The race a removed lock file opens: B opens .lock, A (the holder) removes it and ends, B
    locks the old, unlinked file. B must notice and lock the path's file, so that C is refused."""
    from runner.runtime import RunError
    from runner.train import runlog

    first, second, third = runlog.RunLock(tmp_path), runlog.RunLock(tmp_path), runlog.RunLock(tmp_path)
    first.acquire()
    stale = os.open(tmp_path / ".lock", os.O_RDWR)  # B's open, before A lets go
    first.release()
    assert not (tmp_path / ".lock").exists()
    real_open, opened = os.open, []

    def open_(path, flags, mode=0o777):
        opened.append(path)
        return stale if len(opened) == 1 else real_open(path, flags, mode)

    monkeypatch.setattr(runlog.os, "open", open_)
    second.acquire()
    monkeypatch.setattr(runlog.os, "open", real_open)
    assert len(opened) == 2  # the unlinked file was let go, the path's new file locked
    assert os.fstat(second._fd).st_ino == os.stat(tmp_path / ".lock").st_ino
    with pytest.raises(RunError, match="in use by another runner process"):
        third.acquire()
    second.release()


def test_the_readme_section_names_tests_that_exist():
    named = named_test_files()
    root = Path(__file__).resolve().parents[3]
    assert len(named) >= 8 and all((root / n).is_file() for n in named), named


def test_a_mock_generation_killed_mid_way_leaves_nothing_behind_the_next_one(tmp_path):
    from runner.data.mock import ensure_mock_store

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    half = tmp_path / f".mock-xyz.h5.{dead.pid}.tmp"
    half.write_bytes(b"\x89HDF half a store")
    ensure_mock_store(tmp_path, grid=32, slices=2, redshifts=(0.0,))
    assert not half.exists() and not list(tmp_path.glob(".*.tmp"))
