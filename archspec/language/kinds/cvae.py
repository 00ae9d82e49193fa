"""``kind: cvae``: the conditional VAE of the paper (Tröster et al. 2019).

    recognition(x, y) -> mean, log-variance of z      q(z | x, y)
    prior(y)          -> mean, log-variance of z      p(z | y)
    generator(z, y)   -> mean of x                    p(x | y, z)

The two Gaussian networks give 2·C_z channels at z's size (mean, then log-variance). Forward
draws one z from q per input, z = μ + ε·(exp(logvar / 2) + 1e-7), as the original did.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from archspec.language.kinds.base import KINDS, Kind, Role


class CVAEOutput(NamedTuple):
    q_mean: Any  # recognition q(z|x,y): (N, C_z, H_z, W_z)
    q_logvar: Any
    p_mean: Any  # prior p(z|y)
    p_logvar: Any
    z: Any  # one sample of q per input
    x_mean: Any  # generator p(x|y,z): (N, C_x, H_x, W_x)


def sample_gaussian(mean, logvar):
    """z = mean + eps·(exp(logvar / 2) + 1e-7), eps ~ N(0, 1): the original's reparameterisation.
    (``empty_like(...).normal_()`` draws exactly what ``torch.randn_like`` draws.)"""
    return mean + mean.new_empty(mean.shape).normal_() * ((logvar / 2).exp() + 1e-7)


def forward(model, x, y) -> CVAEOutput:
    q_mean, q_logvar = model.recognition(x=x, y=y)
    p_mean, p_logvar = model.prior(y=y)
    z = sample_gaussian(q_mean, q_logvar)
    x_mean = model.generator(z=z, y=y)
    return CVAEOutput(q_mean, q_logvar, p_mean, p_logvar, z, x_mean)


def _latent(shapes) -> tuple:
    c, h, w = shapes["z"]
    return (2 * c, h, w)


def _latent_words(shapes) -> str:
    c, h, w = shapes["z"]
    size = f"{h}²" if h == w else f"{h}×{w}"
    return f"2·C_z = {2 * c} channels (mean and log-variance of z) at z's {size}"


KIND = KINDS.add(
    Kind(
        name="cvae",
        doc="recognition(x, y) and prior(y) give mean and log-variance of z (2*C_z channels at z's size); "
        "generator(z, y) gives the mean of x",
        tensors=("x", "y", "z"),
        roles=(
            Role("recognition", reads=("x", "y"), output=_latent, says=_latent_words, gaussian=True),
            Role("prior", reads=("y",), output=_latent, says=_latent_words, gaussian=True),
            Role("generator", reads=("z", "y"), output=lambda s: tuple(s["x"]), says="x's shape"),
        ),
        forward=forward,
    )
)
