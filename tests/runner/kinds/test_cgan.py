"""``kind: cgan`` in the runner: its two losses against torch's binary cross-entropy, its phases
stepping only their own network, and a tiny conditional GAN that trains, resumes bit for bit,
gives each phase its own learning rate, evaluates and paints through the same loop as the CVAE."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import archspec
from runner import checkpoint as ck
from runner.data.open import open_data
from runner.kinds import KINDS
from runner.science.evaluate import evaluate_model
from runner.science.painter import Painter
from runner.train.recipe import train
from tests.spec_texts import TINY_CGAN

KIND = KINDS.get("cgan")


def test_the_losses_are_binary_cross_entropies_and_the_feature_match():
    """The oracle: torch's binary_cross_entropy on the discriminator's outputs, and the feature
    match computed here from the map and the discriminator's rows."""
    torch.manual_seed(0)
    model = archspec.build(archspec.loads(TINY_CGAN)).eval()
    x, y = torch.rand(3, 1, 32, 32) * 0.3, torch.rand(3, 2, 32, 32)
    d_phase, g_phase = KIND.phases
    with torch.no_grad():
        d_objective, d_terms = d_phase.loss(model, x, y, 1.0)
        g_objective, g_terms = g_phase.loss(model, x, y, 1.0, perceptual=2.5)
        painted = model.generator(y=y)
        real, fake = model.discriminator(x=x, y=y), model.discriminator(x=painted, y=y)
        expected_d = F.binary_cross_entropy(real, torch.ones_like(real)) + F.binary_cross_entropy(
            fake, torch.zeros_like(fake)
        )
        adversarial = F.binary_cross_entropy(fake, torch.ones_like(fake))
        pairs = zip(
            [x, *model.discriminator.features(x=x, y=y)][:-1],
            [painted, *model.discriminator.features(x=painted, y=y)][:-1],
        )
        matched = sum(((a - b) ** 2).mean() for a, b in pairs)
    assert d_objective.item() == pytest.approx(expected_d.item(), rel=1e-5)
    assert d_terms.tolist() == pytest.approx([expected_d.item(), real.mean().item(), fake.mean().item()], rel=1e-5)
    assert g_terms.tolist() == pytest.approx(
        [(adversarial + 2.5 * matched).item(), adversarial.item(), matched.item()], rel=1e-5
    )
    assert g_objective.item() == pytest.approx(g_terms[0].item(), rel=1e-6)
    assert len(KIND.terms) == len(d_terms) + len(g_terms)


def test_a_saturated_score_gives_a_finite_loss():
    """A Sigmoid at exactly 0 or 1 (saturated in fp32) must not make ln 0 of the loss."""

    class Saturated(torch.nn.Module):
        def forward(self, x, y, phase):
            ones = torch.ones(2, 1, 4, 4, requires_grad=True)
            return ones, ones  # the true map scored 1, the painting 1: the discriminator is fooled entirely

    objective, terms = KIND.phases[0].loss(Saturated(), None, None, 1.0)
    assert torch.isfinite(objective) and torch.isfinite(terms).all() and objective.item() > 10


def test_each_phase_steps_its_own_network():
    model = archspec.build(archspec.loads(TINY_CGAN))
    d_phase, g_phase = KIND.phases
    d, g = {id(p) for p in d_phase.params(model)}, {id(p) for p in g_phase.params(model)}
    assert d and g and not d & g and d | g == {id(p) for p in model.parameters()}
    x, y = torch.rand(2, 1, 32, 32), torch.rand(2, 2, 32, 32)
    d_phase.loss(model, x, y, 1.0)[0].backward()
    assert all(p.grad is None for p in model.generator.parameters())  # the painting is detached for D


@pytest.fixture(scope="module")
def gan_runs(tmp_path_factory):
    """The tiny GAN uninterrupted to its end, and the same run stopped at 100 samples and resumed;
    a third with the discriminator's learning rate of its own."""
    root = tmp_path_factory.mktemp("cgan")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHSPEC_CACHE", str(root / "cache"))
        text = TINY_CGAN.replace("samples: 480", "samples: 160").replace(
            "every: 200}", "every: 1000}"
        )  # one evaluation
        spec = archspec.loads(text)
        whole, parts = root / "whole", root / "parts"
        argv = ["runner", "train", "tiny_cgan.yaml"]
        assert train(spec, whole, quiet=True, evaluate=False, command=argv) == 0  # science: below, no figures
        assert train(spec, parts, quiet=True, evaluate=False, max_samples=100, command=argv) == 0
        assert train(spec, parts, quiet=True, evaluate=False, resume=True, command=argv) == 0
        own = archspec.loads(
            text.replace(
                "  gan: {perceptual: 2.5}",
                "  gan: {perceptual: 2.5}\n  phases: {discriminator: {lr: {start: 2.0e-4, factor: 0.5, milestones: [1]}}}",
            )
        )
        assert train(own, root / "own", quiet=True, evaluate=False, max_samples=44, command=argv) == 0
        yield spec, whole, parts, root / "own"


def test_a_gan_run_logs_its_terms_and_its_science(gan_runs, tmp_path):
    spec, whole, _, _ = gan_runs
    records = [json.loads(line) for line in (whole / "metrics.jsonl").read_text().splitlines()]
    records = [r for r in records if "split" in r]
    assert set(KIND.terms) <= set(records[0]) and "elbo" not in records[0]
    assert all(np.isfinite([r[t] for t in KIND.terms]).all() for r in records)
    assert all(0 <= r["d_real"] <= 1 and 0 <= r["d_fake"] <= 1 for r in records)
    # lr.every: 3 pseudo-epochs of 40 samples, a milestone at 120, halving the rate from the first
    # batch that starts at or after it (batches of 8 from 80: the one at 120); a record carries the
    # rate of the batch that ended at its sample
    lr_at = {r["sample"]: r["lr"] for r in records if r["split"] == "train"}
    assert [lr_at[n] for n in (96, 120, 144)] == [1e-3, 1e-3, 5e-4]

    # the science of its checkpoint, as a run measures it (the in-run hook calls the same function)
    model = archspec.build(spec)
    model.load_state_dict(torch.load(whole / ck.checkpoint_name(160), weights_only=True)[ck.KEY_MODEL])
    _, test = open_data(spec, torch.device("cpu"))
    summary = evaluate_model(model.eval(), spec, test, tmp_path, tiles=4, redshifts=(0.0, 1.0), figures=())
    assert set(summary["terms"]) == set(KIND.terms) and summary["latent"] == "none (the kind has no latent)"
    assert summary["scores"]["tile"]["worst"]["auto"] and summary["terms"]["g_perceptual"] > 0


def test_a_stopped_and_resumed_gan_run_is_bit_identical(gan_runs):
    """Both optimizers, both networks (spectral norm's power-iteration vectors included) and every
    random state come back: the resumed run ends where the uninterrupted one does."""
    _, whole, parts, _ = gan_runs
    a, b = (torch.load(run / ck.checkpoint_name(160), weights_only=True) for run in (whole, parts))
    assert any("_u" in key for key in a[ck.KEY_MODEL])
    for key in a[ck.KEY_MODEL]:
        assert torch.equal(a[ck.KEY_MODEL][key], b[ck.KEY_MODEL][key]), key
    assert set(a[ck.KEY_OPTIMIZER]) == {"discriminator", "generator"}
    for name in ("discriminator", "generator"):
        for pa, pb in zip(a[ck.KEY_OPTIMIZER][name]["state"].values(), b[ck.KEY_OPTIMIZER][name]["state"].values()):
            assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert a[ck.KEY_SAMPLERS] == b[ck.KEY_SAMPLERS]


def test_each_phase_keeps_its_own_learning_rate(gan_runs):
    _, _, _, own = gan_runs
    state = torch.load(own / ck.checkpoint_name(44), weights_only=True)
    lrs = {name: saved["param_groups"][0]["lr"] for name, saved in state[ck.KEY_OPTIMIZER].items()}
    # the last batch started at 40: the discriminator's own schedule had passed its milestone at
    # pseudo-epoch 1 (40 samples): 2e-4 x 0.5; the generator follows training.lr, milestone at 120
    assert lrs == {"discriminator": pytest.approx(1e-4), "generator": pytest.approx(1e-3)}


def test_a_gan_run_paints_maps_of_any_size(gan_runs):
    _, whole, _, _ = gan_runs
    painter = Painter.load(whole, device="cpu")
    dm = np.exp(0.5 * np.random.default_rng(0).standard_normal((50, 70)))
    pressure = painter.paint_map(dm, 0.5)
    assert pressure.shape == (50, 70) and np.all(np.isfinite(pressure))
    again = painter.paint_map(dm, 0.5, samples=2, seed=1)  # a deterministic generator: draws are equal
    np.testing.assert_array_equal(again[0], again[1])
