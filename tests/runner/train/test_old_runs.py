"""Specs that evolve: a run folder written before the runner's redesign (tests/data/run_v1,
checked in byte for byte) still resumes, paints and evaluates, and a field added to the spec
language later never orphans it; a removed field is named, in a spec file and in a saved spec."""

from __future__ import annotations

import importlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydantic import Field

import archspec
from archspec.language.spec import Spec, Training
from runner import checkpoint as ck
from runner.science.evaluate import evaluate_model
from runner.science.painter import Painter, open_test_split
from runner.train.recipe import train
from runner.train.schedule import Schedule

DATA = Path(__file__).resolve().parents[2] / "data"
OLD_RUN, OLD_SPEC = DATA / "run_v1", DATA / "tiny_v1.yaml"


class _TrainingWithWarmup(Training):
    warmup: int = Field(0, ge=0, description="a field added after run_v1 was written")


class _SpecWithWarmup(Spec):
    training: _TrainingWithWarmup = _TrainingWithWarmup()


@pytest.fixture
def old_run(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ARCHSPEC_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run_v1"
    shutil.copytree(OLD_RUN, run)
    return run


def test_the_old_checkpoint_is_what_the_fixture_claims():
    state = ck.read(OLD_RUN / "checkpoint-200.pt")
    assert state[ck.KEY_SAMPLES] == 200 and state[ck.KEY_FORMAT_VERSION] == 1
    assert state[ck.KEY_SPEC]["data"]["on_device"] is False  # a field the language has since dropped


def test_old_run_resumes_to_the_end_under_todays_schema(old_run, capsys):
    spec = archspec.load(OLD_SPEC)
    assert train(spec, old_run, resume=True, evaluate=False, command=["runner", "train", str(OLD_SPEC)]) == 0
    err = capsys.readouterr().err
    assert "data.on_device (False) is no longer part of a spec" in err and "--data-on-device" in err
    # its metrics were logged without the original's constant (−½ ln 2π per channel of x, one channel here)
    assert "logged without the original's constant" in err and "(-0.919 nats)" in err
    records = [json.loads(line) for line in (old_run / "metrics.jsonl").read_text().splitlines()]
    old, new = [r for r in records if r["sample"] <= 200], [r for r in records if r["sample"] > 200]
    assert old and new and not any("loglik_constant" in r for r in old)
    assert all(r["loglik_constant"] == pytest.approx(-0.5 * math.log(2 * math.pi)) for r in new)
    end = Schedule.from_training(spec.training).end()  # the first batch boundary at or after training.samples
    assert (old_run / "latest").read_text().strip() == f"checkpoint-{end}.pt"
    assert (
        "data:\n  store: mock" in (old_run / "spec.yaml").read_text()
        and "on_device" not in (old_run / "spec.yaml").read_text()
    )


def test_old_run_resumes_after_a_new_optional_field_joins_the_language(old_run, monkeypatch):
    monkeypatch.setattr(
        importlib.import_module("archspec.checking.load"), "Spec", _SpecWithWarmup
    )  # the language grows a field with a default
    spec = archspec.load(OLD_SPEC)
    assert spec.training.warmup == 0  # the field is there, at its default
    assert train(spec, old_run, resume=True, quiet=True, evaluate=False, max_samples=300) == 0
    assert ck.read_latest(old_run)[0][ck.KEY_SAMPLES] >= 300
    changed = archspec.load(OLD_SPEC, ["training.warmup=5"])  # a real change of what is trained still refuses
    with pytest.raises(Exception, match="training.warmup: 0 -> 5"):
        train(changed, old_run, resume=True, quiet=True, evaluate=False)


def test_old_checkpoint_paints_and_evaluates(old_run, tmp_path):
    painter = Painter.load(old_run / "checkpoint-200.pt", device="cpu")
    assert painter.provenance["transform_source"] == "checkpoint"  # the old checkpoint carries its transforms
    dm = np.exp(0.5 * np.random.default_rng(1).standard_normal((40, 40)))
    pressure = painter.paint(dm, 0.0)
    assert pressure.shape == (40, 40) and np.all(np.isfinite(pressure)) and np.all(pressure > 0)
    summary = evaluate_model(
        painter.model,
        painter.spec,
        open_test_split(painter.spec),
        tmp_path / "eval",
        device="cpu",
        transforms=painter.transforms,
        tiles=2,
        figures=(),
    )
    assert [entry["z"] for entry in summary["per_redshift"]] == [0.0, 1.0]


def test_a_removed_field_in_a_spec_file_says_where_it_went(tmp_path):
    text = OLD_SPEC.read_text().replace("  tile: 32\n", "  tile: 32\n  on_device: true\n")
    with pytest.raises(archspec.SpecError) as err:
        archspec.loads(text, "old.yaml")
    (problem,) = err.value.problems
    line = text.splitlines().index("  on_device: true") + 1
    assert (problem.file, problem.line, problem.col) == ("old.yaml", line, 3)
    assert "'on_device' was removed from the spec language" in problem.message and "--data-on-device" in problem.message


def test_a_saved_spec_that_no_longer_validates_names_the_field():
    saved = ck.read(OLD_RUN / "checkpoint-200.pt")[ck.KEY_SPEC]
    saved["training"]["samples"] = -1
    with pytest.raises(archspec.SpecError) as err:
        archspec.load_saved(saved, label="ck.pt")
    assert err.value.problems[0].file == "ck.pt" and "training.samples" in err.value.report()
