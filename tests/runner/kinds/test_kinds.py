"""Model kinds: each is declared once per side (archspec: contract and forward; runner: training
phases and painting), the two registries agree, and the second kind, regression, trains,
evaluates and paints through the same runner as the cvae."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import archspec
from archspec.language.kinds import KINDS as SPEC_KINDS
from runner.kinds import KINDS as RUNNER_KINDS
from runner.kinds import LATENTS
from runner.science.painter import Painter
from runner.train.recipe import train
from tests.spec_texts import TINY_REGRESSION, TINY_SPEC

ROOT = Path(__file__).resolve().parents[3]


def test_every_kind_is_declared_on_both_sides_with_every_part():
    assert SPEC_KINDS.names() == RUNNER_KINDS.names() == ["cgan", "cvae", "regression"]
    for name in SPEC_KINDS.names():
        kind, runner_kind = SPEC_KINDS.get(name), RUNNER_KINDS.get(name)
        assert kind.name == runner_kind.name == name and kind.doc and kind.tensors and kind.roles
        for role in kind.roles:
            assert set(role.reads) <= set(kind.tensors), role.name
        assert tuple(p.optimizer for p in runner_kind.phases) == kind.phases  # training.phases' names
        likelihood = "discriminator" not in kind.networks
        assert (runner_kind.terms[0] == "elbo") == likelihood, name  # a GAN has no ELBO


@pytest.mark.parametrize("text", [TINY_SPEC, TINY_REGRESSION], ids=["cvae", "regression"])
def test_each_kind_paints_x_and_its_loss_terms_are_what_its_formula_gives(text):
    """What each part of a kind does, checked against numbers computed here: the painting has
    x's shape, the objective is minus the ELBO, and the terms obey the kind's formula."""
    torch.manual_seed(0)
    spec = archspec.loads(text)
    kind = RUNNER_KINDS.get(spec.model.kind)
    model = archspec.build(spec).eval()
    shapes = spec.model.shapes
    x, y = torch.randn(3, *shapes["x"]), torch.randn(3, *shapes["y"])
    with torch.no_grad():
        assert kind.paint(model, y, "mean").shape == (3, *shapes["x"])
        (phase,) = kind.phases
        assert {id(p) for p in phase.params(model)} == {id(p) for p in model.parameters()}
        objective, terms = phase.loss(model, x, y, 0.5)
    assert terms.shape == (len(kind.terms),) and torch.isfinite(terms).all()
    named = dict(zip(kind.terms, terms.tolist()))
    if spec.model.kind == "cvae":  # ELBO = loglik - KL; the objective weighs the KL by beta = 0.5 as given
        assert named["elbo"] == pytest.approx(named["loglik"] - named["kl"], rel=1e-5) and named["kl"] >= 0
        assert objective.item() == pytest.approx(-(named["loglik"] - 0.5 * named["kl"]), rel=1e-5)
    else:  # no latent: the ELBO is log N(x; model(y), 1), computed here, and the objective is minus it
        assert objective.item() == pytest.approx(-named["elbo"], rel=1e-6)
        mean = model(y=y)
        ll = (-0.5 * (x - mean).square().flatten(1).sum(1) - x.shape[1] * 0.5 * np.log(2 * np.pi)).mean()
        assert named["elbo"] == named["loglik"] == pytest.approx(ll.item(), rel=1e-5)


def test_an_unknown_kind_lists_the_known_ones():
    text = TINY_REGRESSION.replace("kind: regression", "kind: regresion")
    with pytest.raises(archspec.SpecError) as err:
        archspec.loads(text, "r.yaml")
    (problem,) = err.value.problems
    assert (problem.line, problem.col) == (4, 9)
    assert "unknown model kind 'regresion'; expected one of cgan, cvae, regression" in problem.message
    assert problem.fix == "did you mean 'regression'?"


def test_regression_contract_is_checked_like_the_cvae_one():
    broken = TINY_REGRESSION.replace("[Conv, 8/1, 3, 1, F, F, Softplus]", "[Conv, 8/2, 3, 1, F, F, Softplus]")
    with pytest.raises(archspec.SpecError, match="regression': painter must give x's shape, \\[1, 32, 32\\]"):
        archspec.loads(broken)
    reads_z = TINY_REGRESSION.replace(
        "shapes: {x: [1, 32, 32], y: [2, 32, 32]}", "shapes: {x: [1, 32, 32], y: [2, 32, 32], z: [1, 4, 4]}"
    )
    with pytest.raises(archspec.SpecError, match="unknown tensor 'z' for model kind 'regression'"):
        archspec.loads(reads_z)


def test_regression_forward_is_its_painter_network():
    spec = archspec.loads(TINY_REGRESSION)
    model = archspec.build(spec).eval()
    y = torch.rand(3, 2, 32, 32)
    with torch.no_grad():
        out = model(y=y)
        assert out.shape == (3, 1, 32, 32) and torch.equal(out, model.painter(y=y))
        for latent in LATENTS:  # no latent: every choice paints the same
            assert torch.equal(RUNNER_KINDS.get("regression").paint(model, y, latent), out)


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("regression")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHSPEC_CACHE", str(root / "cache"))
        spec = archspec.loads(TINY_REGRESSION.replace("every: 200}", "every: 1000}"))  # one evaluation, at the end
        run = root / "run"
        assert train(spec, run, quiet=True, command=["runner", "train", "regression.yaml"]) == 0
        yield spec, run


def test_regression_trains_with_the_gaussian_log_likelihood(regression_run):
    spec, run = regression_run
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"elbo", "loglik"} <= set(records[0]) and "kl" not in records[0]
    assert all(r["elbo"] == r["loglik"] for r in records)  # no latent: the ELBO is the log-likelihood
    tests = [r["elbo"] for r in records if r["split"] == "test"]
    assert sorted(tests[-5:])[2] > tests[0] + 0.5 * abs(tests[0]), tests  # it learns
    summary = json.loads(next((run / "eval").glob("*/summary.json")).read_text())
    assert summary["spec_name"] == "tiny_regression" and summary["per_redshift"]


def test_regression_paints_a_map_larger_than_its_tile(regression_run):
    _, run = regression_run
    painter = Painter.load(run, device="cpu")
    dm = np.exp(0.5 * np.random.default_rng(0).standard_normal((50, 70)))
    pressure = painter.paint_map(dm, 0.5)
    assert pressure.shape == (50, 70) and np.all(np.isfinite(pressure))
    again = painter.paint_map(dm, 0.5, samples=2, seed=1)  # no latent: every draw is the same map
    np.testing.assert_array_equal(again[0], again[1])


@pytest.mark.slow
def test_regression_spec_trains_and_evaluates_from_the_command_line(tmp_path):
    """The shipped 512² spec end to end: a few samples through `runner train`, then `runner evaluate`."""
    env = {**os.environ, "ARCHSPEC_CACHE": str(tmp_path / "cache")}
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "runner"]
    done = subprocess.run(
        cmd
        + [
            "train",
            str(ROOT / "specs" / "regression.yaml"),
            "--out",
            str(run),
            "--max-samples",
            "8",
            "--quiet",
            "--no-eval",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        cmd + ["evaluate", str(run), "--out", str(tmp_path / "eval"), "--tiles", "2", "--redshifts", "0,1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "eval" / "summary.json").is_file() and "worst |<P_painted>/<P_true> - 1|" in done.stdout
    assert "latent KL" not in done.stdout  # a regression has no latent
