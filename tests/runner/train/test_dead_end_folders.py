"""A run folder that never got a checkpoint is no dead end (issue 19, item 1): --resume starts the
run over and says so, the same spec only; what the messages suggest works."""

from __future__ import annotations

import json

import pytest

import archspec
from archspec.language.dump import dump_resolved
from runner import checkpoint as ck
from runner.cli import main as runner_main

SHORT = ["--set", "training.samples=48", "--set", "training.checkpoint.every=24"]


def _train(tiny, out, *extra):
    return runner_main(["train", str(tiny), "--out", str(out), "--quiet", "--no-eval", *SHORT, *extra])


@pytest.mark.parametrize("left", ["killed_writing_spec", "full_disk_on_first_checkpoint"])
def test_resume_in_a_folder_without_checkpoint_starts_the_run_over(tiny, tmp_path, capsys, left):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text("4242\n")
    spec = archspec.load(tiny, overrides=SHORT[1::2])
    if left == "killed_writing_spec":
        (out / ".spec.yaml.4242.tmp").write_text(dump_resolved(spec)[:100])
    else:
        (out / "spec.yaml").write_text(dump_resolved(spec))
        (out / "metrics.jsonl").write_text(json.dumps({"stale": True, "split": "train", "elbo": -1.0}) + "\n")
    if left == "full_disk_on_first_checkpoint":
        (out / ".checkpoint-200.pt.4242.tmp").write_bytes(b"PK\x03\x04 cut short")
    assert _train(tiny, out) == 1  # without --resume: refused, and told to use it
    assert "continue it with --resume" in capsys.readouterr().err
    assert _train(tiny, out, "--resume") == 0
    assert "never wrote a checkpoint: starting it over" in capsys.readouterr().err
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records and not any(r.get("stale") for r in records)  # the abandoned attempt's record is gone
    assert ck.read_latest(out)[0][ck.KEY_SAMPLES] == spec.training.samples
    assert not list(out.glob(".*.tmp"))


def test_a_folder_without_checkpoint_of_another_spec_is_refused(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    other = archspec.load(tiny, overrides=[*SHORT[1::2], "training.seed=7"])
    (out / "spec.yaml").write_text(dump_resolved(other))
    assert _train(tiny, out, "--resume") == 1
    err = capsys.readouterr().err
    assert "holds a run of another spec" in err and "never wrote a checkpoint" in err and "Traceback" not in err
    assert (out / "spec.yaml").read_text() == dump_resolved(other)  # nothing touched
