"""The training loop on a tiny spec and a tiny mock store: it learns, it leaves a complete run
folder, and a run stopped and resumed (or extended) ends bit for bit where an uninterrupted one does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import archspec
from runner import checkpoint as ck
from runner.runtime import RunError
from runner.train.recipe import train


def load(path: Path, *overrides: str):
    return archspec.load(path, list(overrides))


def records(run: Path, split: str) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["split"] == split]


def final_state(run: Path, samples: int) -> dict:
    return torch.load(run / ck.checkpoint_name(samples), weights_only=True)


def assert_same_state(a: dict, b: dict) -> None:
    for key in a[ck.KEY_MODEL]:
        assert torch.equal(a[ck.KEY_MODEL][key], b[ck.KEY_MODEL][key]), key
    for pa, pb in zip(a[ck.KEY_OPTIMIZER]["state"].values(), b[ck.KEY_OPTIMIZER]["state"].values()):
        assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert a[ck.KEY_SAMPLES] == b[ck.KEY_SAMPLES] and a[ck.KEY_STEP] == b[ck.KEY_STEP]
    assert a[ck.KEY_SAMPLERS] == b[ck.KEY_SAMPLERS]


@pytest.fixture(scope="module")
def reference(tiny, tmp_path_factory) -> Path:
    """An uninterrupted run of 704 samples (the tiny spec extended), shared by the tests below."""
    run = tmp_path_factory.mktemp("ref") / "run"
    assert (
        train(
            load(tiny, "training.samples=704"),
            run,
            quiet=True,
            keep_last=0,  # every checkpoint kept
            command=["runner", "train", str(tiny)],
        )
        == 0
    )
    return run


def test_tiny_run_learns_and_leaves_a_complete_folder(reference, tiny):
    tests = [r["elbo"] for r in records(reference, "test")]
    first, last = tests[0], sorted(tests[-5:])[2]  # the last: median of the last five evaluations
    assert last > first + 0.5 * abs(first), (first, last)
    names = {p.name for p in reference.iterdir()}
    assert {
        "spec.yaml",
        "env.json",
        "command.txt",
        "metrics.jsonl",
        "curves.png",
        "latest",
        "checkpoint-704.pt",
    } <= names
    spec = load(tiny, "training.samples=704")
    assert archspec.load(reference / "spec.yaml") == spec
    assert f"# spec_hash: {archspec.spec_hash(spec)}" in (reference / "spec.yaml").read_text()
    env = json.loads((reference / "env.json").read_text())
    assert {"python", "torch", "numpy", "device", "hostname", "git_commit"} <= set(env) and env["device"] == "cpu"
    assert (reference / "command.txt").read_text().startswith("runner train ")
    record = records(reference, "train")[0]
    assert {"sample", "split", "elbo", "kl", "loglik", "lr", "batch_size", "time", "step"} <= set(record)
    assert record["sample"] == 24 and record["batch_size"] == 4 and record["lr"] == 3e-3
    state = final_state(reference, 704)
    assert set(ck.REQUIRED_KEYS) <= set(state) and state[ck.KEY_SPEC_HASH] == archspec.spec_hash(spec)
    assert (reference / "latest").read_text().strip() == "checkpoint-704.pt"
    assert (reference / "checkpoint-200.pt").is_file() and (
        reference / "checkpoint-404.pt"
    ).is_file()  # every 200 samples, at the first boundary at or after
    for seen in (200, 404, 704):  # each checkpoint's science lands beside it (runner.science.evaluate's hook)
        summary = json.loads((reference / "eval" / str(seen) / "summary.json").read_text())
        assert summary["provenance"]["samples_seen"] == seen
        assert {"spectra.png", "one_point.png", "panels.png"} <= {
            p.name for p in (reference / "eval" / str(seen)).iterdir()
        }


def test_stopped_resumed_and_extended_run_is_bit_identical(reference, tiny, tmp_path):
    run = tmp_path / "run"
    argv = ["runner", "train", str(tiny), "--out", str(run)]
    assert (
        train(load(tiny), run, quiet=True, evaluate=False, max_samples=100, command=argv) == 0
    )  # a pause mid-schedule; no checkpoint evaluations, which the reference ran: they must not touch training
    assert ck.candidates(run)[0].name == "checkpoint-104.pt"
    assert train(load(tiny), run, resume=True, quiet=True, evaluate=False, command=argv) == 0  # to the spec's end, 480
    assert (
        train(load(tiny, "training.samples=704"), run, resume=True, quiet=True, evaluate=False, command=argv) == 0
    )  # extended
    assert_same_state(final_state(reference, 704), final_state(run, 704))
    assert records(run, "test") == records(reference, "test") or [  # identical metrics but for wall time
        {k: v for k, v in r.items() if k != "time"} for r in records(run, "test")
    ] == [{k: v for k, v in r.items() if k != "time"} for r in records(reference, "test")]
    assert len((run / "command.txt").read_text().splitlines()) == 3


def test_refuses_an_existing_run_without_resume(reference, tiny):
    with pytest.raises(RunError, match="--resume.*--out"):
        train(load(tiny, "training.samples=704"), reference, quiet=True)


def test_resume_of_a_finished_run_does_nothing(reference, tiny, capsys):
    before = (reference / "metrics.jsonl").read_text()
    assert train(load(tiny, "training.samples=704"), reference, resume=True, quiet=True) == 0
    assert "nothing to do" in capsys.readouterr().err
    assert (reference / "metrics.jsonl").read_text() == before


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, **(env or {})},
    )


def test_cli_reports_spec_and_data_errors_without_traceback(tiny, tmp_path):
    out = run_cli("train", str(tiny), "--out", str(tmp_path / "a"), "--set", "training.lr.strat=1")
    assert out.returncode == 1 and "did you mean 'start'" in out.stderr and "Traceback" not in out.stderr
    out = run_cli("train", str(tiny), "--out", str(tmp_path / "b"), "--data", str(tmp_path / "missing.h5"))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "missing.h5" in out.stderr
    out = run_cli("train", str(tiny), "--out", str(tmp_path / "c"), "--device", "cuda")
    if not torch.cuda.is_available():
        assert out.returncode == 1 and "--device cpu" in out.stderr and "Traceback" not in out.stderr


def test_cli_refuses_max_samples_below_one_before_writing_anything(tiny, tmp_path):
    out = run_cli("train", str(tiny), "--out", str(tmp_path / "run"), "--max-samples", "-5")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "at least 1" in out.stderr  # a usage error
    assert not (tmp_path / "run").exists()
    with pytest.raises(RunError, match="at least 1"):
        train(load(tiny), tmp_path / "api", quiet=True, max_samples=-5)
    assert not (tmp_path / "api").exists()


def test_cli_refuses_an_out_that_is_a_file(tiny, tmp_path):
    (tmp_path / "file").write_text("x")
    out = run_cli("train", str(tiny), "--out", str(tmp_path / "file"))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "not a run folder" in out.stderr
