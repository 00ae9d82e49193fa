"""The spectral term of ``training.likelihood.spectra``: known answers written out here, an
independent numpy computation mode by mode, and what it adds to the CVAE's objective."""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import archspec
from archspec.language.dump import spec_hash
from runner.kinds import KINDS as RUNNER_KINDS
from runner.kinds.cvae import elbo
from runner.kinds.likelihood import SPECTRAL_EDGES, spectral_error
from tests.spec_texts import TINY_REGRESSION, TINY_SPEC

ROOT = Path(__file__).resolve().parents[3]


class Out(NamedTuple):
    q_mean: torch.Tensor
    q_logvar: torch.Tensor
    p_mean: torch.Tensor
    p_logvar: torch.Tensor
    z: torch.Tensor
    x_mean: torch.Tensor


def t_of(p: np.ndarray) -> torch.Tensor:
    """The stored transform t = ln(1 + p/σ_z)/4 of pressure in units of σ_z."""
    return torch.from_numpy(np.log1p(p) / 4)


def numpy_error(x: np.ndarray, mean: np.ndarray) -> float:
    """The same quantity mode by mode in numpy: shells of |k| in units of the fundamental."""
    p_true, p_paint = np.expm1(4 * x), np.expm1(4 * mean)
    f_true, f_paint = np.fft.rfft2(p_true), np.fft.rfft2(p_paint)
    h, w = x.shape[-2:]
    edges = [e for e in SPECTRAL_EDGES if e <= min(h, w) // 2]
    num, den = np.zeros(len(edges) - 1), np.zeros(len(edges) - 1)
    for i in range(h):
        for j in range(w // 2 + 1):
            k = math.hypot(i if i <= h // 2 else i - h, j)
            for s in range(len(edges) - 1):
                if edges[s] <= k < edges[s + 1]:
                    num[s] += np.sum(np.abs(f_paint[..., i, j] - f_true[..., i, j]) ** 2)
                    den[s] += np.sum(np.abs(f_true[..., i, j]) ** 2)
    return float(np.mean(num / den))


def test_zero_for_the_truth_and_one_for_a_painting_of_nothing():
    rng = np.random.default_rng(0)
    x = t_of(rng.lognormal(0, 1, (4, 1, 32, 32)))
    assert spectral_error(x, x).item() == 0
    torch.testing.assert_close(spectral_error(x, torch.zeros_like(x)), torch.tensor(1.0, dtype=x.dtype))


@pytest.mark.parametrize("c", [0.0, 0.5, 0.9, 1.5])
def test_a_painting_of_c_times_the_truth_scores_one_minus_c_squared(c):
    # F_painted − F_true = (c − 1) F_true mode by mode: every shell's error is (1 − c)² of its power.
    p = np.random.default_rng(3).lognormal(0, 1.5, (4, 1, 64, 64))
    torch.testing.assert_close(spectral_error(t_of(p), t_of(c * p)), torch.tensor((1 - c) ** 2, dtype=torch.float64))


@pytest.mark.parametrize("size", [2, 3, 5])
def test_a_tile_of_a_few_pixels_has_one_shell_and_a_finite_error(size):
    p = np.random.default_rng(size).lognormal(0, 1.5, (4, 1, size, size))
    torch.testing.assert_close(spectral_error(t_of(p), t_of(0.5 * p)), torch.tensor(0.25, dtype=torch.float64))


@pytest.mark.parametrize("size", [16, 32, 64])
def test_agrees_with_numpy_mode_by_mode(size):
    rng = np.random.default_rng(size)
    x = np.log1p(rng.lognormal(0, 1.5, (3, 1, size, size))) / 4
    mean = np.log1p(rng.lognormal(0, 1.0, (3, 1, size, size))) / 4
    got = spectral_error(torch.from_numpy(x), torch.from_numpy(mean)).item()
    assert got == pytest.approx(numpy_error(x, mean), rel=1e-9)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 10))
def test_error_of_pressure_scaled_with_its_truth_is_unchanged(seed, c):
    # Whitened shell by shell: a sky and its painting both brighter by c score the same.
    rng = np.random.default_rng(seed)
    p, q = rng.lognormal(0, 1, (2, 1, 16, 16)), rng.lognormal(0, 1, (2, 1, 16, 16))
    once = spectral_error(t_of(p), t_of(q))
    scaled = spectral_error(t_of(c * p), t_of(c * q))
    torch.testing.assert_close(scaled, once, rtol=1e-7, atol=1e-10)


def _latents(n):
    g = torch.Generator().manual_seed(n)
    return [torch.randn(5, 1, 2, 2, generator=g, dtype=torch.float64) for _ in range(4)]


def test_the_objective_subtracts_lambda_times_the_error_and_the_elbo_is_unchanged():
    qm, qlv, pm, plv = _latents(3)
    rng = np.random.default_rng(1)
    x, mu = t_of(rng.lognormal(0, 1, (5, 1, 16, 16))), t_of(rng.lognormal(0, 1, (5, 1, 16, 16)))
    out = Out(qm, qlv, pm, plv, qm, mu)
    plain_terms, plain = elbo(out, x, beta=1.0)
    terms, objective = elbo(out, x, beta=1.0, spectra=10.0)
    assert terms == plain_terms  # the logged ELBO, log-likelihood and KL do not see the term
    torch.testing.assert_close(objective, plain - 10.0 * numpy_error(x.numpy(), mu.numpy()))


def test_the_gradient_reaches_the_painting_and_is_finite_in_the_brightest_pixels():
    x = t_of(np.random.default_rng(2).lognormal(0, 2, (4, 1, 32, 32)))  # peaks of hundreds of σ
    mean = torch.zeros_like(x, requires_grad=True)
    spectral_error(x, mean).backward()
    assert torch.isfinite(mean.grad).all() and mean.grad.abs().sum() > 0


def test_the_field_at_its_default_is_left_out_of_the_spec_and_its_hash():
    paper = ROOT / "specs/paper_cvae.yaml"  # written before the field existed
    zero = archspec.load(paper, ["training.likelihood.spectra=0"])
    assert "likelihood" not in zero.model_dump(by_alias=True)["training"]
    assert spec_hash(zero) == spec_hash(archspec.load(paper))
    assert spec_hash(archspec.load(paper, ["training.likelihood.spectra=1"])) != spec_hash(zero)
    twin = archspec.load(ROOT / "specs/variants/quickstart/paper_loss.yaml")
    assert (
        twin.training.likelihood.spectra == 0
        and archspec.load(ROOT / "specs/quickstart.yaml").training.likelihood.spectra == 10
    )


@pytest.mark.parametrize("text", [TINY_SPEC, TINY_REGRESSION], ids=["cvae", "regression"])
def test_a_kind_trained_on_a_likelihood_takes_the_term_from_the_spec(text):
    kind = RUNNER_KINDS.get(archspec.loads(text).model.kind)
    spec = archspec.loads(text.replace("  seed: 3", "  seed: 3\n  likelihood: {spectra: 2.5}"))
    assert kind.options(archspec.loads(text).training) == {}  # the paper's loss: nothing bound
    assert kind.options(spec.training) == {"spectra": 2.5}
    if spec.model.kind == "regression":  # its objective: minus the log-likelihood plus 2.5 x the error
        torch.manual_seed(0)
        model = archspec.build(spec).eval()
        x = t_of(np.random.default_rng(4).lognormal(0, 1, (3, *spec.model.shapes["x"])))
        y = torch.randn(3, *spec.model.shapes["y"], dtype=torch.float64).float()
        with torch.no_grad():
            objective, terms = kind.phases[0].loss(model, x.float(), y, 1.0, spectra=2.5)
            painted = model(y=y).double().numpy()
        expected = -terms[1].item() + 2.5 * numpy_error(x.numpy(), painted)
        assert objective.item() == pytest.approx(expected, rel=1e-4)


def test_a_first_call_in_inference_mode_leaves_training_its_backward():
    # The shells are made once per tile size; an evaluation (inference mode) may make them first.
    from runner.kinds.likelihood import _shells

    _shells.cache_clear()
    x = t_of(np.random.default_rng(5).lognormal(0, 1, (2, 1, 24, 24)))
    with torch.inference_mode():
        spectral_error(x, x * 0.9)
    mean = (x * 0.9).clone().requires_grad_()
    spectral_error(x, mean).backward()
    assert torch.isfinite(mean.grad).all() and mean.grad.abs().sum() > 0
