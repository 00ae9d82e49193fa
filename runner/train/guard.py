"""Numerical faults: a NaN or inf in the loss or the gradients stops the run (or rolls it back).

Watching costs no host synchronisation per step: each step adds a few element-wise operations
on the device (is every term finite; if this is the first step that was not, keep its terms),
and the verdict is read back where the host synchronises anyway, when metrics are flushed and
before a checkpoint is written. A fault found then names the exact step and sample count where
it first happened, and which term went non-finite; a checkpoint is never written after it, so
``latest`` never names weights that saw a NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

GRAD = "grad_norm"  # the pseudo-term watched after the kind's terms: the gradients' global norm
NAMES = {
    "elbo": "ELBO",
    "loglik": "log-likelihood",
    "kl": "KL",
    "d_loss": "discriminator loss",
    "g_loss": "generator loss",
    "g_adversarial": "generator's adversarial term",
    "g_perceptual": "perceptual term",
    GRAD: "gradient norm",
}


@dataclass(frozen=True)
class Fault:
    """Where a run first went non-finite, and what."""

    step: int  # the optimizer step (1-based, as KEY_STEP counts) that produced it
    samples: tuple[int, int]  # (samples seen before that step, after it)
    values: dict[str, float]  # every watched term at that step
    weights: tuple[str, ...] = ()  # non-finite weights found though every watched term was finite

    @property
    def culprits(self) -> list[str]:
        """The terms to blame: the non-finite parts of the loss (the ELBO only when neither of
        its parts is), else the gradient (a finite loss whose backward overflowed)."""
        bad = [k for k, v in self.values.items() if not _finite(v)]
        parts = [k for k in bad if k not in ("elbo", GRAD)]
        return parts or [k for k in bad if k != GRAD] or bad

    def describe(self) -> str:
        if self.weights:
            lo, hi = self.samples
            return (
                f"non-finite weights ({', '.join(self.weights[:3])}) at step {self.step:,}, between {lo:,} and "
                f"{hi:,} samples, with a finite loss and gradients"
            )
        blamed = ", ".join(f"the {NAMES.get(k, k)} is {_fmt(self.values[k])}" for k in self.culprits)
        others = ", ".join(f"{NAMES.get(k, k)} {_fmt(v)}" for k, v in self.values.items() if k not in self.culprits)
        lo, hi = self.samples
        return f"non-finite training loss at step {self.step:,} (samples {lo:,} to {hi:,}): {blamed}" + (
            f" ({others})" if others else ""
        )


class FiniteWatch:
    """Finiteness of each step's terms, kept on the device between reads.

    Args:
        names: the watched terms, in the order :meth:`step` gets them.
        device: where the terms live.
    """

    def __init__(self, names: Sequence[str], device: torch.device):
        self.names = tuple(names)
        self.device = device
        self._reset(0, 0)

    def _reset(self, step: int, seen: int) -> None:
        self.clean = torch.zeros((), dtype=torch.int64, device=self.device)  # finite steps before the first bad one
        self.first = torch.zeros(len(self.names), device=self.device)  # the first bad step's terms
        self.start_step = step  # steps taken when this window began
        self.ends = [seen]  # samples seen at the window's start and after each watched step

    def restart(self, step: int, seen: int) -> None:
        """Forget what was watched (after a rollback): a new window from here."""
        self._reset(step, seen)

    def step(self, values: torch.Tensor, seen_after: int) -> None:
        """Watch one step's (k,) detached terms; no host synchronisation."""
        values = values.detach().float()
        still_clean = self.clean == len(self.ends) - 1  # no bad step yet in this window
        bad_now = still_clean & ~torch.isfinite(values).all()
        self.first = torch.where(bad_now, values, self.first)
        self.clean += still_clean & ~bad_now
        self.ends.append(seen_after)

    def read(self) -> Fault | None:
        """The window's first fault, or None (and a new window starts). One synchronisation."""
        watched = len(self.ends) - 1
        clean = int(self.clean.item())
        if clean == watched:
            self._reset(self.start_step + watched, self.ends[-1])
            return None
        values = dict(zip(self.names, self.first.cpu().tolist()))
        return Fault(step=self.start_step + clean + 1, samples=(self.ends[clean], self.ends[clean + 1]), values=values)


def gradient_norm(params, device: torch.device) -> torch.Tensor:
    """The global L2 norm of the gradients, on the device (inf or NaN when any gradient is)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros((), device=device)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def _finite(v: float) -> bool:
    return v == v and abs(v) != float("inf")


def _fmt(v: float) -> str:
    return f"{v:.4g}" if _finite(v) else str(v)
