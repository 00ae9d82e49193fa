"""What a run shows away from a terminal (batch jobs, nohup, SLURM): a progress line on stderr
every N seconds or samples; and the loop's device-side indices, which must be the host's."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from runner.data.samples import Sampler
from runner.train.runlog import Progress, duration, progress_line


def test_progress_line_says_samples_rate_eta_and_the_latest_elbos():
    line = progress_line(12_345, 150_000, 14.1, {"train": "-63.2", "test": "-70.1", "lr": "0.001"}, name="paper")
    assert line == (
        "paper: 12,345/150,000 samples (8.2%), 14.1 samples/s, ETA 2h43m; train ELBO -63.2, test ELBO -70.1, lr 0.001"
    )  # (150,000 - 12,345) / 14.1 s = 2 h 42.7 min
    assert progress_line(0, 100, 0.0, {}).endswith("ETA ?")
    assert [duration(s) for s in (45, 312, 9790)] == ["45s", "5m12s", "2h43m"]


STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "  # the time of day each line starts with


def test_away_from_a_terminal_a_started_line_then_a_line_every_n_samples(capsys):
    progress = Progress(total=1000, initial=0, enabled=True, every_seconds=None, every_samples=250, name="mine")
    assert progress.bar is None  # pytest's stderr is not a terminal
    progress.show([{"split": "test", "elbo": -70.123, "lr": 1e-3}])
    for _ in range(10):
        progress.update(100)
    started, *lines = capsys.readouterr().err.splitlines()
    assert re.fullmatch(STAMP + r"mine: started at 0/1,000 samples", started), started
    assert [re.match(STAMP + r"mine: ([\d,]+)/", line).group(1) for line in lines] == ["300", "500", "800", "1,000"]
    assert all("test ELBO -70.12" in line and "lr 0.001" in line for line in lines)
    Progress(total=1000, initial=400, enabled=True, every_seconds=None, every_samples=250, name="mine")
    assert re.fullmatch(STAMP + r"mine: resumed at 400/1,000 samples\n", capsys.readouterr().err)
    quiet = Progress(total=1000, initial=0, enabled=False, every_samples=1)
    quiet.update(500)
    assert capsys.readouterr().err == ""


def test_the_rate_and_eta_are_averaged_over_the_last_lines(capsys, monkeypatch):
    import time as real_time
    import types

    from runner.train import runlog

    clock = iter([0.0, 10.0, 20.0, 120.0])  # start; lines after 100 samples in 10 s, 10 s, then 100 s
    fake = types.SimpleNamespace(monotonic=lambda: next(clock), strftime=real_time.strftime)
    monkeypatch.setattr(runlog, "time", fake)  # this module's clock only, not pytest's
    progress = Progress(total=1000, initial=0, enabled=True, every_seconds=None, every_samples=100, name="r")
    for _ in range(3):
        progress.update(100)
    lines = capsys.readouterr().err.splitlines()[1:]
    # the window holds every line so far: 100/10, 200/20, then 300/120 = 2.5 samples/s (not 1.0)
    assert [re.search(r"([\d.]+) samples/s", line).group(1) for line in lines] == ["10", "10", "2.5"]
    assert lines[-1].split("ETA ")[1].startswith("4m40s")  # 700 samples / 2.5 per second


def test_a_redirected_run_prints_progress_lines(tiny, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "runner",
        "train",
        str(tiny),
        "--out",
        str(tmp_path / "run"),
        "--device",
        "cpu",
        "--no-eval",
        "--max-samples",
        "96",
        "--progress-every",
        "48",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)  # stderr is a pipe
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if re.match(STAMP + r"tiny_train: ", line)]
    assert [line.split(": ")[1].split("/")[0] for line in lines] == ["started at 0", "48", "96"], out.stderr
    assert "samples/s" in lines[-1] and "ETA" in lines[-1] and "test ELBO" in lines[-1]


def test_device_indices_are_the_host_indices():
    host, device = Sampler(37, seed=5), Sampler(37, seed=5)
    for size in (4, 8, 30, 12, 37, 1):  # across pass boundaries
        expected = host.next(size)
        got = device.next_on(size, torch.device("cpu"))
        assert got.dtype == torch.int64 and np.array_equal(got.numpy(), expected)
    assert device.state_dict() == host.state_dict()


@pytest.mark.slow
def test_checkpoint_evaluations_in_background_leave_the_same_folder(tiny, tmp_path):
    """eval_in_background (the default on CUDA) runs `runner evaluate` on each checkpoint as a
    child process; the run waits for the last one, so the folder is complete when it returns."""
    import json

    import archspec
    from runner.train.recipe import train

    spec = archspec.load(tiny, ["training.samples=200"])
    assert train(spec, tmp_path / "run", quiet=True, eval_in_background=True) == 0
    summary = json.loads((tmp_path / "run" / "eval" / "200" / "summary.json").read_text())
    assert summary["provenance"]["samples_seen"] == 200
    assert {"spectra.png", "one_point.png", "panels.png"} <= {
        p.name for p in (tmp_path / "run" / "eval" / "200").iterdir()
    }
