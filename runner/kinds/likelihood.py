"""Gaussian log-likelihoods and divergences, the terms every kind's objective is made of.

- log p(x | y, z): a Gaussian of unit variance around the generator's mean, summed over
  pixels: −½ Σ (x − μ)². The constant −½ log 2π per pixel is left out, as the original left
  it out (its logged ELBO of −63.7 at 5k samples on 512² tiles is only possible without the
  262,144 × 0.919 nats the constant would add). It shifts the ELBO, never its gradient.
- KL: between the two diagonal Gaussians in closed form, summed over latent pixels.
- Both are averaged over the batch: the ELBO is in nats per sample.

Both are computed in fp32 whatever precision the model ran in (bf16 autocast gives bf16
outputs): a sum over 262,144 pixels in bf16 would keep about three significant digits.

The KL uses the log-variances as given; the 1e-7 that the model adds to σ when it draws z is
below float32's resolution of σ ≥ 1 (and negligible elsewhere).
"""
from __future__ import annotations

import torch
from torch import Tensor


def at_least_fp32(t: Tensor) -> Tensor:
    """bf16 / fp16 -> fp32; fp32 and fp64 as they are."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def gaussian_loglik(x: Tensor, mean: Tensor) -> Tensor:
    """log N(x; mean, 1) without the −½ log 2π per pixel, summed over all but the batch axis.

    Args:
        x, mean: (N, C, H, W).

    Returns:
        (N,) log-likelihoods.
    """
    return -0.5 * (at_least_fp32(x) - at_least_fp32(mean)).square().flatten(1).sum(1)  # (N,)


def gaussian_kl(q_mean: Tensor, q_logvar: Tensor, p_mean: Tensor, p_logvar: Tensor) -> Tensor:
    """KL(N(q_mean, e^q_logvar) ‖ N(p_mean, e^p_logvar)), diagonal, summed over all but the batch axis.

    Per component: ½ [(σ_q² + (μ_q − μ_p)²) / σ_p² − 1 + log σ_p² − log σ_q²].

    Args:
        q_mean, q_logvar, p_mean, p_logvar: (N, C, H, W) latent means and log-variances.

    Returns:
        (N,) divergences, ≥ 0.
    """
    q_mean, q_logvar, p_mean, p_logvar = (at_least_fp32(t) for t in (q_mean, q_logvar, p_mean, p_logvar))
    var_ratio = (q_logvar - p_logvar).exp()  # σ_q² / σ_p²
    mahalanobis = (q_mean - p_mean).square() * (-p_logvar).exp()  # (μ_q − μ_p)² / σ_p²
    return 0.5 * (var_ratio + mahalanobis - 1 - (q_logvar - p_logvar)).flatten(1).sum(1)  # (N,)
