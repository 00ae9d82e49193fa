"""What the runner needs to know of a model kind, and the registry of them.

A kind trains in *phases*, each one optimizer stepping its own parameters on its own loss; the
cvae and regression kinds have one phase ("model": every parameter, the negative ELBO or
log-likelihood). A conditional GAN would have two, run in order at every step::

    phases=(Phase("discriminator", params=lambda m: m.discriminator.parameters(), loss=d_loss),
            Phase("generator", params=lambda m: m.generator.parameters(), loss=g_loss))

where ``d_loss`` scores real x against the generator's output detached, and ``g_loss`` the
generator's output through the discriminator (whose stale gradients the next phase's
``zero_grad`` clears). Its terms would be the two losses; its ``paint`` the generator's output
for a prior draw of z.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from archspec.language.registry import Registry

LATENTS = ("sample", "mean")  # how painting chooses z: a draw from the prior (the original), or its mean


@dataclass(frozen=True)
class Phase:
    """One optimizer's part of a training step.

    Attributes:
        optimizer: the optimizer's name (a key of the checkpoint's optimizer states).
        params: the parameters it steps, from the (unwrapped) model.
        loss: ``loss(model, x, y, beta, loglik=...) -> (objective, terms)``: the scalar to
            minimise, and the (k,) detached tensor of this phase's logged terms (see
            :attr:`RunnerKind.terms`); ``loglik`` is the spec's ``training.likelihood``.
    """

    optimizer: str
    params: Callable[[Any], Iterable]
    loss: Callable[..., tuple]


@dataclass(frozen=True)
class RunnerKind:
    """How the runner trains, evaluates and paints one model kind.

    Attributes:
        name: the kind's name, as in :data:`archspec.language.kinds.KINDS`.
        terms: the scalars a record logs, the phases' terms in order. The first is ``elbo``:
            the evidence lower bound, or the log-likelihood itself for a kind without a latent,
            in nats per sample, so that runs of different kinds compare on one axis.
        phases: the training step's phases, in order.
        paint: ``paint(model, y, latent) -> x``: the map painted from the condition y (N, C_y,
            H, W), with ``latent`` one of :data:`LATENTS` (ignored by kinds without one).
    """

    name: str
    terms: tuple[str, ...]
    phases: tuple[Phase, ...]
    paint: Callable[..., Any]


KINDS: Registry[RunnerKind] = Registry("model kind")
