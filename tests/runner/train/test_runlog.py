"""TensorBoard events (issue 21 item 16): a run's records and its checkpoints' spectrum scores as
scalars, and a run resumed after tensorboard was installed gets its earlier records back-filled.

The tensorboard package is optional (not a dependency), so the writer is a stand-in that keeps
what it is given; what is checked is what the runner hands it."""

from __future__ import annotations

import json

import pytest

import archspec
from runner.train import runlog
from runner.train.recipe import train


class Writer:
    instances: list = []

    def __init__(self, path):
        self.path, self.scalars, self.closed = path, [], False
        path.mkdir(parents=True, exist_ok=True)  # as SummaryWriter does
        Writer.instances.append(self)

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, float(value), int(step)))

    def close(self):
        self.closed = True


@pytest.fixture
def tensorboard(monkeypatch):
    Writer.instances = []
    monkeypatch.setattr(runlog, "_tensorboard", lambda path: Writer(path))
    return Writer


def test_records_and_evaluation_scores_become_scalars(tiny, tmp_path, tensorboard):
    run = tmp_path / "run"
    train(archspec.load(tiny, ["training.samples=96", "training.checkpoint.every=96"]), run, quiet=True)
    (writer,) = tensorboard.instances
    tags = {t for t, _, _ in writer.scalars}
    assert {"train/elbo", "train/kl", "train/lr", "test/elbo"} <= tags
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    test_elbos = [(r["sample"], r["elbo"]) for r in records if r["split"] == "test"]
    assert [(s, v) for t, v, s in writer.scalars if t == "test/elbo"] == pytest.approx(test_elbos)
    summary = json.loads((run / "eval" / "96" / "summary.json").read_text())
    z0 = summary["scores"]["tile"]["per_z"][0]
    got = {t: v for t, v, s in writer.scalars if s == 96 and t.startswith("eval/z0/")}
    assert got["eval/z0/auto_worst_k<2"] == pytest.approx(z0["auto"][1])
    assert got["eval/z0/cross_band_0.5-2"] == pytest.approx(z0["bands"]["cross"]["0.5-2"][0])
    assert got["eval/z0/mean_ratio"] == pytest.approx(z0["mean_ratio"])
    assert writer.closed


def test_a_run_resumed_with_tensorboard_newly_installed_gets_its_earlier_records(tiny, tmp_path, monkeypatch):
    run = tmp_path / "run"
    monkeypatch.setattr(runlog, "_tensorboard", lambda path: None)  # not installed
    spec = archspec.load(tiny, ["training.samples=96", "training.checkpoint.every=48"])
    train(spec, run, quiet=True, evaluate=False)
    Writer.instances = []
    monkeypatch.setattr(runlog, "_tensorboard", lambda path: Writer(path))
    longer = archspec.load(tiny, ["training.samples=144", "training.checkpoint.every=48"])
    train(longer, run, resume=True, quiet=True, evaluate=False)
    (writer,) = Writer.instances
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [(s, v) for t, v, s in writer.scalars if t == "test/elbo"]
    assert logged == pytest.approx([(r["sample"], r["elbo"]) for r in records if r["split"] == "test"])
    assert min(s for s, _ in logged) < 96 < max(s for s, _ in logged)  # back-filled, then continued
