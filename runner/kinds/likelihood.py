"""Gaussian log-likelihoods and divergences, the terms every kind's objective is made of.

- log p(x | y, z): a Gaussian of unit variance around the generator's mean, summed over
  pixels, with the original's constant: −½ Σ (x − μ)² − C · ½ ln 2π for x of C channels. The
  original (``log_likelihood`` in its ``cvae.py``) subtracts ½ ln 2π *once per channel*, not
  once per pixel; we log the same number so that our ELBOs and the original's logged ones
  (−63.7 at 5k samples, docs/paper.md) are on one scale. It is not the density of x: that
  would subtract ½ ln 2π per pixel, 262,144 × 0.919 nats at 512², which makes curves
  unreadable and changes no comparison between runs. A constant never changes a gradient.
- log p(x | y, z) in pressure space (``training.likelihood.space: pressure``): the same
  Gaussian of unit variance on p/σ_z = e^{4t} − 1 instead of the stored t (the mean mapped the
  same way). The shift-log residual weighs a peak of 100 σ_z no more than a pixel of 2 σ_z;
  the power spectrum is made of those peaks. Unit variance in units of σ_z, the field's own
  standard deviation, keeps its size comparable to the shift-log term's at the start.
- KL: between the two diagonal Gaussians in closed form, summed over latent pixels.
- Both are averaged over the batch: the ELBO is in nats per sample.

Both are computed in fp32 whatever precision the model ran in (bf16 autocast gives bf16
outputs): a sum over 262,144 pixels in bf16 would keep about three significant digits.

The KL uses the log-variances as given; the 1e-7 that the model adds to σ when it draws z is
below float32's resolution of σ ≥ 1 (and negligible elsewhere).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)  # 0.9189 nats, subtracted once per channel of x
# Each metrics record says which constant its log-likelihood and ELBO carry (the key and its
# value): records written before 2026-11-29 carry none and read 0.919 nats per channel higher.
CONSTANT_KEY = "loglik_constant"


def loglik_constant(channels: int) -> float:
    """The constant in :func:`gaussian_loglik` for x of ``channels`` channels (nats, negative)."""
    return -channels * HALF_LOG_2PI


def record_constant(terms, shapes) -> dict:
    """What a metrics record says of its constant: {CONSTANT_KEY: nats} for a kind that logs a
    Gaussian log-likelihood of x, else nothing."""
    if "loglik" not in terms or "x" not in shapes:
        return {}
    return {CONSTANT_KEY: round(loglik_constant(int(shapes["x"][0])), 6)}


def at_least_fp32(t: Tensor) -> Tensor:
    """bf16 / fp16 -> fp32; fp32 and fp64 as they are."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def gaussian_loglik(x: Tensor, mean: Tensor) -> Tensor:
    """log N(x; mean, 1) as the original logged it, summed over all but the batch axis:
    −½ Σ (x − mean)² − C · ½ ln 2π (the constant once per channel, not per pixel).

    Args:
        x, mean: (N, C, H, W).

    Returns:
        (N,) log-likelihoods.
    """
    return (
        -0.5 * (at_least_fp32(x) - at_least_fp32(mean)).square().flatten(1).sum(1) - x.shape[1] * HALF_LOG_2PI
    )  # (N,)


# t beyond this is p > e^16 σ_z: nothing real is there, and the square must stay finite in fp32
_T_MAX = 4.0


def pressure_loglik(x: Tensor, mean: Tensor) -> Tensor:
    """log N(p(x); p(mean), 1) with p(t) = e^{4t} − 1 (pressure over σ_z), the constant as in
    :func:`gaussian_loglik`; (N,) log-likelihoods."""

    def p(t: Tensor) -> Tensor:
        return torch.expm1(4 * at_least_fp32(t).clamp(max=_T_MAX))

    return -0.5 * (p(x) - p(mean)).square().flatten(1).sum(1) - x.shape[1] * HALF_LOG_2PI  # (N,)


def sqrt_loglik(x: Tensor, mean: Tensor) -> Tensor:
    """log N(√p(x); √p(mean), 1), p(t) = e^{4t} − 1: between the shift-log (a logarithm) and
    pressure space (linear), a peak of 100 σ_z weighs 10x a pixel of 1 σ_z; (N,) log-likelihoods."""

    def root(t: Tensor) -> Tensor:
        return (torch.expm1(4 * at_least_fp32(t).clamp(max=_T_MAX)).clamp(min=0) + 1e-6).sqrt()

    return -0.5 * (root(x) - root(mean)).square().flatten(1).sum(1) - x.shape[1] * HALF_LOG_2PI  # (N,)


# Shell edges of the spectral term, in units of the tile's fundamental mode (|k| / k_f), about two
# shells an octave: on the quickstart's 64² tiles of 12.5 Mpc/h (k_f = 0.50 h/Mpc) from 0.5 to
# 5.5 h/Mpc, the scores' range (the first three shells are k < 2 h/Mpc). Beyond them the painting
# is not held to the truth (bench/README.md, "A loss on the spectra"). A smaller tile keeps the
# edges below its Nyquist.
SPECTRAL_EDGES = (1, 2, 3, 4, 6, 8, 11)


@functools.lru_cache(maxsize=8)
def _shells(h: int, w: int, device: torch.device) -> tuple[Tensor, Tensor, int]:
    """Which rfft2 modes of an (h, w) tile lie in a shell (a (h, w // 2 + 1) mask), the shell of
    each of those, and the number of shells. Made once per tile size and device, not every step,
    and made as ordinary tensors even when the first call is an evaluation's (inference mode):
    training saves them for its backward."""
    with torch.inference_mode(False):
        return _shells_of(h, w, device)


def _shells_of(h: int, w: int, device: torch.device) -> tuple[Tensor, Tensor, int]:
    ky = torch.fft.fftfreq(h, d=1.0 / h, device=device)
    kx = torch.fft.rfftfreq(w, d=1.0 / w, device=device)
    k = (ky[:, None].square() + kx[None, :].square()).sqrt()
    edges = [e for e in SPECTRAL_EDGES if e <= min(h, w) // 2]
    if len(edges) < 2:  # a tile of a few pixels: one shell of what it has
        edges = [1, min(h, w) // 2 + 1]
    index = torch.bucketize(k, torch.tensor(edges, dtype=k.dtype, device=device), right=True) - 1
    keep = (k >= edges[0]) & (k < edges[-1])
    return keep, index[keep], len(edges) - 1


def spectral_options(training) -> dict:
    """The loss keywords of a kind trained on a likelihood: ``spectra`` where the spec sets it."""
    return {"spectra": training.likelihood.spectra} if training.likelihood.spectra else {}


def spectral_error(x: Tensor, mean: Tensor) -> Tensor:
    """The squared error of pressure in Fourier space, whitened shell by shell: the mean over
    shells of |k| (``SPECTRAL_EDGES``) of Σ |F_painted − F_true|² / Σ |F_true|², F the rfft2 of
    pressure over σ_z (p/σ_z = e^{4t} − 1), the sums over the batch's modes in the shell.

    Why: a Gaussian of unit variance in t is fitted by the conditional mean of t, a logarithm,
    which paints the peaks that carry the power spectrum too faint and too smooth; in pressure
    itself the residuals of a bright cluster are hundreds of σ_z and swamp every step (docs/
    variants.md). Here pressure's error counts, but each shell's in units of the shell's true
    power, so every scale weighs the same and no cluster outweighs the batch. Were each shell's
    weight fixed, its minimum over paintings of y would be the conditional mean E[p | y], whose
    cross spectrum with the truth is the truth's; the weights come from the batch's own truth, so
    it is that only roughly. 0 for a painting equal to the truth, 1 for a painting of zeros. A
    scalar (the batch's, not per sample), ≥ 0.
    """
    p_true = torch.expm1(4 * at_least_fp32(x).clamp(max=_T_MAX))
    p_paint = torch.expm1(4 * at_least_fp32(mean).clamp(max=_T_MAX))
    keep, shells, n = _shells(x.shape[-2], x.shape[-1], x.device)
    f_true, f_paint = torch.fft.rfft2(p_true), torch.fft.rfft2(p_paint)

    def per_shell(modes: Tensor) -> Tensor:  # (n,) the batch's and the channels' sum in each shell
        summed = modes.sum(dim=(0, 1))[keep]
        return torch.zeros(n, dtype=summed.dtype, device=summed.device).index_add_(0, shells, summed)

    tiny = torch.finfo(torch.float32).tiny
    return (per_shell((f_paint - f_true).abs().square()) / per_shell(f_true.abs().square()).clamp(min=tiny)).mean()


# training.likelihood.space -> log p(x | mean)
LIKELIHOODS = {"shift_log": gaussian_loglik, "pressure": pressure_loglik, "sqrt": sqrt_loglik}


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
