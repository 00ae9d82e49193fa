"""Training and painting of ``kind: cvae``: the ELBO, one Adam over every parameter, prior draws.

    ELBO = log p(x | y, z) − KL(q(z | x, y) ‖ p(z | y)),   loss = −(log p(x | y, z) − β · KL)

(β = ``training.beta``; for β = 1, the paper's, the loss is −ELBO; the metrics log the ELBO,
the log-likelihood and the KL, so runs of different β compare on the same ELBO), and where
``training.likelihood.spectra`` is λ > 0 the loss adds λ times the whitened spectral error of
pressure (:func:`runner.kinds.likelihood.spectral_error`), which the metrics do not log: the
ELBO stays the ELBO, and such runs compare with others by it and by their spectra,

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
from runner.kinds.likelihood import gaussian_kl, gaussian_loglik, spectral_error, spectral_options


class ELBO(NamedTuple):
    """Batch means, in nats per sample: ``elbo = loglik − kl`` (the ELBO, whatever β trained)."""

    elbo: Tensor  # () scalar
    loglik: Tensor  # () scalar
    kl: Tensor  # () scalar


def elbo(out, x: Tensor, beta: float = 1.0, loglik=gaussian_loglik, spectra: float = 0.0) -> ELBO:
    """The ELBO of a batch from the model's output, and the objective trained.

    Args:
        out: the model's ``CVAEOutput`` (q_mean, q_logvar, p_mean, p_logvar, z, x_mean).
        x: (N, C, H, W) the true maps.
        beta: weight of the KL term in the training objective.
        loglik: log p(x | mean), (N,) per sample (:data:`runner.kinds.likelihood.LIKELIHOODS`).
        spectra: weight λ of the spectral term (``training.likelihood.spectra``), subtracted
            from the objective as λ · :func:`~runner.kinds.likelihood.spectral_error`.

    Returns:
        (:class:`ELBO` of batch means, the objective loglik - beta * KL - spectra * error). The
        ELBO is loglik - KL whatever beta and spectra are: where they are not 1 and 0 the
        objective is not the ELBO, and a comparison of such runs must compare ELBOs (or spectra).
    """
    ll = loglik(x, out.x_mean).mean()
    kl = gaussian_kl(out.q_mean, out.q_logvar, out.p_mean, out.p_logvar).mean()
    objective = ll - beta * kl
    if spectra:
        objective = objective - spectra * spectral_error(x, out.x_mean)
    return ELBO(ll - kl, ll, kl), objective


def stack(terms: ELBO) -> Tensor:
    """(3,) tensor [elbo, loglik, kl], detached: for accumulating without syncing the device."""
    return torch.stack([t.detach() for t in terms])


def loss(
    model, x: Tensor, y: Tensor, beta: float, loglik=gaussian_loglik, spectra: float = 0.0
) -> tuple[Tensor, Tensor]:
    terms, objective = elbo(model(x, y), x, beta, loglik, spectra)
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
        options=spectral_options,
    )
)
