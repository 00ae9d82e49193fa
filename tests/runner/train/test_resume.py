"""Resuming refuses what it must (another spec, broken checkpoints), falls back to the previous
good checkpoint, and Ctrl-C stops a run at a step boundary with a checkpoint."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import archspec
from runner import checkpoint as ck
from runner.runtime import RunError
from runner.train.recipe import train
from tests.readme import quoted
from tests.runner.train.test_train import assert_same_state


@pytest.fixture(scope="module")
def base_run(tiny, tmp_path_factory) -> Path:
    """A finished run of 200 samples with checkpoints at 104 and 200."""
    run = tmp_path_factory.mktemp("base") / "run"
    spec = archspec.load(tiny, ["training.samples=200", "training.checkpoint.every=100"])
    assert train(spec, run, quiet=True) == 0
    assert [p.name for p in ck.candidates(run)] == ["checkpoint-200.pt", "checkpoint-104.pt"]
    return run


def copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


def test_resume_with_another_spec_names_the_difference(base_run, tiny, tmp_path):
    run = copy(base_run, tmp_path)
    spec = archspec.load(tiny, ["training.samples=300", "training.lr.start=0.01", "model.shapes.z=[1, 4, 4]"])
    with pytest.raises(RunError) as err:
        train(spec, run, resume=True, quiet=True)
    text = str(err.value)
    assert "training.lr.start: 0.003 -> 0.01" in text and "training.samples" in text and "extend" in text
    assert "training.samples:" not in text  # an allowed difference is not listed as a reason


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _not_a_zip(path: Path) -> None:
    path.write_bytes(b"this is not a checkpoint\n" * 10)


def _wrong_keys(path: Path) -> None:
    torch.save({ck.KEY_FORMAT: ck.FORMAT, ck.KEY_FORMAT_VERSION: ck.FORMAT_VERSION, "weights": torch.zeros(2)}, path)


class Payload:  # a pickled object: weights_only must refuse it
    pass


def _pickled_object(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    state["extra"] = Payload()
    torch.save(state, path)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (_truncate, "unreadable"),
        (_not_a_zip, "unreadable"),
        (_wrong_keys, "missing model, optimizer"),
        (_pickled_object, "Payload"),
    ],
)
def test_broken_checkpoint_is_refused_with_a_reason(base_run, tmp_path, damage, reason):
    path = copy(base_run, tmp_path) / "checkpoint-200.pt"
    damage(path)
    with pytest.raises(ck.CheckpointError, match=reason) as err:
        ck.read(path)
    assert str(path) in str(err.value)


def test_resume_falls_back_to_the_previous_good_checkpoint(base_run, tiny, tmp_path, capsys):
    run = copy(base_run, tmp_path)
    _truncate(run / "checkpoint-200.pt")
    spec = archspec.load(tiny, ["training.samples=200", "training.checkpoint.every=100"])
    assert train(spec, run, resume=True, quiet=True) == 0
    err = capsys.readouterr().err
    assert "checkpoint-200.pt: unreadable" in err and "resuming from checkpoint-104.pt" in err
    assert_same_state(ck.read(base_run / "checkpoint-200.pt"), ck.read(run / "checkpoint-200.pt"))  # redone exactly


def test_resume_without_any_good_checkpoint_is_refused(base_run, tiny, tmp_path):
    run = copy(base_run, tmp_path)
    for path in ck.candidates(run):
        _not_a_zip(path)
    with pytest.raises(RunError, match="no usable checkpoint.*choose another --out"):
        train(archspec.load(tiny, ["training.samples=300"]), run, resume=True, quiet=True)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "f.pt"
    path.write_bytes(b"old")

    def fail(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        ck.write_atomic(path, fail)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.pt"]


def test_ctrl_c_writes_a_checkpoint_and_the_run_resumes(tiny, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "runner", "train", str(tiny), "--out", str(run), "--quiet", "--no-eval"]
    proc = subprocess.Popen(cmd + ["--set", "training.samples=1000000"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 1200  # a loaded machine may take minutes to import torch and start
    while not (run / "metrics.jsonl").is_file() and time.monotonic() < deadline:
        time.sleep(0.1)  # the metrics file is opened just before the handlers are installed
    time.sleep(1.0)  # a few steps in
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=1800)
    assert proc.returncode == 130, err
    assert "interrupted at" in err and "--resume" in err and "Traceback" not in err
    assert quoted("runner: interrupted at").search(err)  # as the README's "What happens when" quotes it
    latest = ck.candidates(run)[0]
    seen = int(ck.read(latest)[ck.KEY_SAMPLES])
    assert seen > 0
    out = subprocess.run(
        cmd + ["--set", "training.samples=1000000", "--resume", "--max-samples", str(seen + 1)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert out.returncode == 0, out.stderr
    assert int(ck.read(ck.candidates(run)[0])[ck.KEY_SAMPLES]) > seen


def test_atomic_path_commits_only_a_finished_write(tmp_path):
    from runner.runtime import atomic_path

    path = tmp_path / "f.h5"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.h5"]
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["f.h5"]


def test_a_file_that_is_no_checkpoint_says_so_without_torch_advice(tmp_path):
    path = tmp_path / "checkpoint-1.pt"
    _not_a_zip(path)
    with pytest.raises(ck.CheckpointError, match="not a torch checkpoint") as err:
        ck.read(path)
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)
