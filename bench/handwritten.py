"""The paper's CVAE written by hand in PyTorch: what a user would write instead of a spec.

The tables of docs/paper.md (and specs/paper_cvae.yaml), row for row: convolutions without
bias, BatchNorm, ReLU; recognition parts A, B, C; the prior; generator part A of transposed
convolutions, part B with four residual blocks of 128 channels and the PReLU / Softplus rows.
``bench/overhead.py`` times a training step of this against ``archspec.build(paper spec)``;
a test checks that both have the same parameters, so the comparison is of equal work.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def row(c_in: int, c_out: int, k: int, s: int, transposed: bool = False, bn: bool = True, act: nn.Module | None = None):
    """Conv (or ConvTranspose) with padding (k - s) / 2, no bias, then BatchNorm, then ``act`` (ReLU by default)."""
    conv = (nn.ConvTranspose2d if transposed else nn.Conv2d)(c_in, c_out, k, s, (k - s) // 2, bias=False)
    layers = [conv] + ([nn.BatchNorm2d(c_out)] if bn else []) + [act if act is not None else nn.ReLU()]
    return layers


class ResBlock(nn.Module):
    """out = ReLU(x + BN(Conv3(ReLU(BN(Conv3(x))))))."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c),
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x + self.body(x))


def encoder(c_in: int, w: int) -> nn.Sequential:
    """512 -> 256 -> 64 -> 16: k4 s2, k8 s4, k8 s4."""
    return nn.Sequential(*row(c_in, w, 4, 2), *row(w, 2 * w, 8, 4), *row(2 * w, 4 * w, 8, 4))


class HandCVAE(nn.Module):
    """The paper's CVAE: widths 8, 16, 32 ... 128 channels, 512² maps, a 16² latent."""

    def __init__(self):
        super().__init__()
        w = 8
        self.rec_x, self.rec_y = encoder(1, w), encoder(2, w)
        self.rec_c = nn.Sequential(*row(8 * w, 2, 5, 1))  # mean and log-variance, BN + ReLU as trained
        self.prior = nn.Sequential(*encoder(2, w), *row(4 * w, 2, 5, 1))
        self.gen_a = nn.Sequential(*row(1, 1, 4, 2, True), *row(1, 1, 8, 4, True), *row(1, 1, 8, 4, True))
        c = 16 * w  # 128
        self.gen_b = nn.Sequential(
            *row(3, 2 * w, 5, 1),
            *row(2 * w, 4 * w, 4, 2),
            *row(4 * w, 8 * w, 4, 2),
            *row(8 * w, c, 4, 2),
            *[ResBlock(c) for _ in range(4)],
            *row(c, 8 * w, 4, 2, True),
            *row(8 * w, 4 * w, 4, 2, True),
            *row(4 * w, 2 * w, 4, 2, True),
            *row(2 * w, w, 7, 1, bn=False, act=nn.PReLU()),
            *row(w, 1, 5, 1, bn=False, act=nn.PReLU()),
            *row(1, 1, 3, 1, bn=False, act=nn.Softplus()),
        )

    def forward(self, x: Tensor, y: Tensor):
        q_mean, q_logvar = self.rec_c(torch.cat([self.rec_x(x), self.rec_y(y)], 1)).chunk(2, 1)  # (N, 1, 16, 16) each
        p_mean, p_logvar = self.prior(y).chunk(2, 1)
        z = q_mean + torch.randn_like(q_mean) * ((q_logvar / 2).exp() + 1e-7)
        x_mean = self.gen_b(torch.cat([self.gen_a(z), y], 1))  # (N, 1, 512, 512)
        return q_mean, q_logvar, p_mean, p_logvar, x_mean


def negative_elbo(out, x: Tensor) -> Tensor:
    """−(log N(x; x_mean, 1) − KL(q ‖ p)), batch mean, without the −½ log 2π per pixel."""
    q_mean, q_logvar, p_mean, p_logvar, x_mean = (t.float() for t in out)  # the loss in fp32
    loglik = -0.5 * (x - x_mean).square().flatten(1).sum(1)
    kl = 0.5 * (
        (q_logvar - p_logvar).exp() + (q_mean - p_mean).square() * (-p_logvar).exp() - 1 - (q_logvar - p_logvar)
    ).flatten(1).sum(1)
    return (kl - loglik).mean()
