"""Training and painting of ``kind: cvae``: the ELBO, one Adam over every parameter, prior draws.

    ELBO = log p(x | y, z) − KL(q(z | x, y) ‖ p(z | y)),   loss = −(log p(x | y, z) − β · KL)

(β = ``training.beta``; for β = 1, the paper's, the loss is −ELBO; the metrics log the ELBO,
the log-likelihood and the KL, so runs of different β compare on the same ELBO)

with the terms of :mod:`runner.kinds.likelihood`, averaged over the batch (nats per sample).
Painting draws z from the prior p(z | y), one draw per input (a tile), as the original's
``paint()`` did for its 512² maps; ``latent="mean"`` paints with the prior's mean instead.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from archspec.language.kinds.cvae import sample_gaussian
from runner.kinds.base import KINDS, Phase, RunnerKind
from runner.kinds.likelihood import gaussian_kl, gaussian_loglik


class ELBO(NamedTuple):
    """Batch means, in nats per sample: ``elbo = loglik − kl`` (the ELBO, whatever β trained)."""

    elbo: Tensor  # () scalar
    loglik: Tensor  # () scalar
    kl: Tensor  # () scalar


def elbo(out, x: Tensor, beta: float = 1.0, loglik=gaussian_loglik) -> ELBO:
    """The ELBO of a batch from the model's output, and the objective trained.

    Args:
        out: the model's ``CVAEOutput`` (q_mean, q_logvar, p_mean, p_logvar, z, x_mean).
        x: (N, C, H, W) the true maps.
        beta: weight of the KL term in the training objective.
        loglik: log p(x | mean), (N,) per sample (:data:`runner.kinds.likelihood.LIKELIHOODS`).

    Returns:
        (:class:`ELBO` of batch means, the objective loglik - beta * KL). The ELBO is loglik - KL
        whatever beta is: for beta != 1 the objective is not the ELBO, and a comparison of runs
        of different beta must compare ELBOs.
    """
    ll = loglik(x, out.x_mean).mean()
    kl = gaussian_kl(out.q_mean, out.q_logvar, out.p_mean, out.p_logvar).mean()
    return ELBO(ll - kl, ll, kl), ll - beta * kl


def stack(terms: ELBO) -> Tensor:
    """(3,) tensor [elbo, loglik, kl], detached: for accumulating without syncing the device."""
    return torch.stack([t.detach() for t in terms])


def loss(model, x: Tensor, y: Tensor, beta: float, loglik=gaussian_loglik) -> tuple[Tensor, Tensor]:
    terms, objective = elbo(model(x, y), x, beta, loglik)
    return -objective, stack(terms)


def paint(model, y: Tensor, latent: str = "sample") -> Tensor:
    """The generator's mean of x given y, at z drawn from the prior (or at the prior's mean)."""
    p_mean, p_logvar = model.prior(y=y)
    z = sample_gaussian(p_mean, p_logvar) if latent == "sample" else p_mean
    return model.generator(z=z, y=y)


KIND = KINDS.add(
    RunnerKind(
        name="cvae",
        terms=ELBO._fields,  # ("elbo", "loglik", "kl")
        phases=(Phase("model", params=lambda model: model.parameters(), loss=loss),),
        paint=paint,
    )
)
