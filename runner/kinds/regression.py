"""Training and painting of ``kind: regression``: the Gaussian log-likelihood of ``painter(y)``.

    log p(x | y) = −½ Σ (x − painter(y))² − ½ ln 2π   (unit variance, summed over pixels, the constant
                                                     once per channel as the original; nats per sample)

the same likelihood as the CVAE's reconstruction term (:mod:`runner.kinds.likelihood`), so a
regression's log-likelihood and a CVAE's ELBO (a lower bound on its log-likelihood) compare on
one axis: both are logged as ``elbo``. There is no latent: painting is the network's output.
``training.likelihood.spectra`` adds its spectral term to the loss as for the CVAE.
"""

from __future__ import annotations

import torch
from torch import Tensor

from runner.kinds.base import KINDS, Phase, RunnerKind
from runner.kinds.likelihood import gaussian_loglik, spectral_error, spectral_options


def loss(
    model, x: Tensor, y: Tensor, beta: float, loglik=gaussian_loglik, spectra: float = 0.0
) -> tuple[Tensor, Tensor]:
    """−log-likelihood, plus λ times the spectral error where ``training.likelihood.spectra``
    is λ > 0 (not logged: the logged terms stay the log-likelihood)."""
    painted = model(y=y)
    ll = loglik(x, painted).mean()
    objective = -ll + spectra * spectral_error(x, painted) if spectra else -ll
    return objective, torch.stack([ll.detach(), ll.detach()])


def paint(model, y: Tensor, latent: str = "sample") -> Tensor:
    return model(y=y)


KIND = KINDS.add(
    RunnerKind(
        name="regression",
        terms=("elbo", "loglik"),  # equal: without a latent the ELBO is the log-likelihood
        phases=(Phase("model", params=lambda model: model.parameters(), loss=loss),),
        paint=paint,
        options=spectral_options,
    )
)
