"""Training and painting of ``kind: cgan``: two phases, the discriminator's then the generator's.

With D(x, y) ∈ (0, 1) the discriminator's score map (one score per patch, averaged over
patches and the batch) and G(y) the painting, each training step runs, in order:

    discriminator:  L_D = −⟨ln D(x, y)⟩ − ⟨ln(1 − D(G(y), y))⟩         (G(y) detached)
    generator:      L_G = −⟨ln D(G(y), y)⟩ + λ · Σ_l ⟨(F_l(x, y) − F_l(G(y), y))²⟩

the standard conditional GAN with the non-saturating generator loss (Goodfellow et al. 2014;
Isola et al. 2017), and a perceptual term weighted λ = ``training.gan.perceptual`` (the paper's
2.5). The paper's perceptual loss (after Johnson, Alahi & Fei-Fei 2016) compared the features of a
pretrained VGG-16, whose weights cannot be fetched here; F_l are instead the outputs of the
discriminator's rows but the last, on the true map and on the painting (feature matching,
Salimans et al. 2016), each mean over its elements (docs/cgan.md says why).

The logarithms are taken in fp32 with the score clamped into [1e-7, 1 − 1e-7]: a spec's Sigmoid
saturates, and ln 0 would make one saturated patch a non-finite loss.

A GAN has no ELBO: the run logs the six terms below, and ``runner compare`` compares GAN and CVAE
runs on what both have, the spectra of the science evaluation. Painting is the generator's
output; a cgan has no latent (``--latent`` is accepted and changes nothing).
"""

from __future__ import annotations

import torch
from torch import Tensor

from runner.kinds.base import KINDS, Phase, RunnerKind
from runner.kinds.likelihood import at_least_fp32

_EPS = 1e-7


def _log(p: Tensor) -> Tensor:
    return at_least_fp32(p).clamp(_EPS, 1 - _EPS).log()


def _log1m(p: Tensor) -> Tensor:
    return (1 - at_least_fp32(p).clamp(_EPS, 1 - _EPS)).log()


def discriminator_loss(model, x: Tensor, y: Tensor, beta: float, **_) -> tuple[Tensor, Tensor]:
    """L_D, and the terms [d_loss, d_real, d_fake] (the mean scores of true and painted maps)."""
    real, fake = model(x=x, y=y, phase="discriminator")
    loss = -(_log(real).mean() + _log1m(fake).mean())
    terms = [loss, at_least_fp32(real).mean(), at_least_fp32(fake).mean()]
    return loss, torch.stack([t.detach() for t in terms])


def generator_loss(model, x: Tensor, y: Tensor, beta: float, perceptual: float = 0.0, **_) -> tuple[Tensor, Tensor]:
    """L_G, and the terms [g_loss, g_adversarial, g_perceptual]."""
    real, fake = model(x=x, y=y, phase="generator")
    adversarial = -_log(fake[-1]).mean()
    matched = [(at_least_fp32(f) - at_least_fp32(r).detach()).square().mean() for r, f in zip(real[:-1], fake[:-1])]
    feature = torch.stack(matched).sum() if matched else adversarial.new_zeros(())
    loss = adversarial + perceptual * feature
    return loss, torch.stack([t.detach() for t in (loss, adversarial, feature)])


def paint(model, y: Tensor, latent: str = "sample") -> Tensor:
    return model.generator(y=y)


KIND = KINDS.add(
    RunnerKind(
        name="cgan",
        terms=("d_loss", "d_real", "d_fake", "g_loss", "g_adversarial", "g_perceptual"),
        phases=(
            Phase("discriminator", params=lambda model: model.discriminator.parameters(), loss=discriminator_loss),
            Phase("generator", params=lambda model: model.generator.parameters(), loss=generator_loss),
        ),
        paint=paint,
        options=lambda training: {"perceptual": training.gan.perceptual},
    )
)
