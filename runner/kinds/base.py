"""What the runner needs to know of a model kind, and the registry of them.

A kind trains in *phases*, each one optimizer stepping its own parameters on its own loss; the
cvae and regression kinds have one phase ("model": every parameter, the negative ELBO or
log-likelihood). The conditional GAN (:mod:`runner.kinds.cgan`) has two, run in order at every
step::

    phases=(Phase("discriminator", params=lambda m: m.discriminator.parameters(), loss=d_loss),
            Phase("generator", params=lambda m: m.generator.parameters(), loss=g_loss))

where ``d_loss`` scores real x against the generator's output detached, and ``g_loss`` the
generator's output through the discriminator (whose stale gradients the next step's
discriminator ``zero_grad`` clears). A phase's name is its optimizer's, and the name
``training.phases`` uses (declared on archspec's kind too: a test keeps the two equal).
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
        terms: the scalars a record logs, the phases' terms in order. For a likelihood-based
            kind the first is ``elbo``: the evidence lower bound, or the log-likelihood itself
            for a kind without a latent, in nats per sample, so that such runs compare on one
            axis. A GAN has none: its runs compare with the others on the science's spectra.
        phases: the training step's phases, in order.
        paint: ``paint(model, y, latent) -> x``: the map painted from the condition y (N, C_y,
            H, W), with ``latent`` one of :data:`LATENTS` (ignored by kinds without one).
        options: ``options(training) -> dict``: keywords every phase's loss receives from the
            spec's ``training`` section (the cgan's perceptual weight), beside ``loglik``.
    """

    name: str
    terms: tuple[str, ...]
    phases: tuple[Phase, ...]
    paint: Callable[..., Any]
    options: Callable[[Any], dict] = lambda training: {}


KINDS: Registry[RunnerKind] = Registry("model kind")
