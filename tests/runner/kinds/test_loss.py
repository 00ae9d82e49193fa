"""The ELBO: closed-form KL against torch.distributions, the likelihood with the original's constant."""

from __future__ import annotations

import math
from typing import NamedTuple

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from runner.kinds.cvae import ELBO, elbo, stack
from runner.kinds.likelihood import gaussian_kl, gaussian_loglik


class Out(NamedTuple):  # the fields of the model's CVAEOutput that the loss reads
    q_mean: torch.Tensor
    q_logvar: torch.Tensor
    p_mean: torch.Tensor
    p_logvar: torch.Tensor
    z: torch.Tensor
    x_mean: torch.Tensor


def _latents(seed: int, shape=(5, 2, 4, 4)):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) * s for s in (1.0, 1.5, 1.0, 1.5)]


@pytest.mark.parametrize("seed", range(5))
def test_kl_matches_torch_distributions(seed):
    qm, qlv, pm, plv = _latents(seed)
    expected = kl_divergence(Normal(qm, (qlv / 2).exp()), Normal(pm, (plv / 2).exp())).flatten(1).sum(1)
    torch.testing.assert_close(gaussian_kl(qm, qlv, pm, plv), expected, rtol=1e-10, atol=1e-10)


def test_kl_zero_for_equal_distributions_and_positive_otherwise():
    qm, qlv, pm, plv = _latents(7)
    assert torch.allclose(gaussian_kl(qm, qlv, qm, qlv), torch.zeros(5, dtype=torch.float64))
    assert (gaussian_kl(qm, qlv, pm, plv) > 0).all()


@pytest.mark.parametrize("channels", [1, 2])
def test_loglik_is_the_gaussian_density_with_the_constant_once_per_channel_as_the_original(channels):
    x = torch.randn(3, channels, 8, 8, dtype=torch.float64)
    mu = torch.randn(3, channels, 8, 8, dtype=torch.float64)
    # torch's density subtracts 0.5 ln 2 pi per pixel; the original (and we) once per channel
    per_pixel = Normal(mu, 1.0).log_prob(x).flatten(1).sum(1)
    expected = per_pixel + (64 - 1) * channels * 0.5 * torch.log(torch.tensor(2 * torch.pi, dtype=torch.float64))
    torch.testing.assert_close(gaussian_loglik(x, mu), expected)


def test_loglik_of_a_perfect_painting_is_the_constant_alone():
    x = torch.ones(2, 2, 4, 4)
    torch.testing.assert_close(gaussian_loglik(x, x), torch.full((2,), -2 * 0.918938533))  # 2 channels x ln(2 pi)/2


def test_the_elbo_is_loglik_minus_kl_whatever_beta_and_the_objective_weights_kl_by_beta():
    qm, qlv, pm, plv = _latents(3)
    x, mu = torch.randn(5, 1, 8, 8, dtype=torch.float64), torch.zeros(5, 1, 8, 8, dtype=torch.float64)
    out = Out(qm, qlv, pm, plv, qm, mu)
    terms, objective = elbo(out, x, beta=0.25)
    assert isinstance(terms, ELBO)
    loglik = (-0.5 * x.square().flatten(1).sum(1)).mean() - 0.5 * math.log(2 * math.pi)  # written out
    torch.testing.assert_close(terms.loglik, loglik)
    torch.testing.assert_close(terms.kl, gaussian_kl(qm, qlv, pm, plv).mean())
    torch.testing.assert_close(terms.elbo, loglik - terms.kl)  # the ELBO: beta = 1 by definition
    torch.testing.assert_close(objective, loglik - 0.25 * terms.kl)  # what training maximises
    assert stack(terms).shape == (3,) and not stack(terms).requires_grad


def test_gradient_flows_to_every_input():
    qm, qlv, pm, plv = (t.clone().requires_grad_() for t in _latents(4))
    mu = torch.zeros(5, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    (-elbo(Out(qm, qlv, pm, plv, qm, mu), torch.ones(5, 1, 8, 8, dtype=torch.float64))[0].elbo).backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in (qm, qlv, pm, plv, mu))
