"""What a run is at a step boundary, and what its checkpoint holds: :class:`TrainState`.

The model, an optimizer per phase of the kind, the samplers' positions, the counters, the
learning-rate factor left by rollbacks and the sums of the metrics record being accumulated;
with the random state of every process (rank 0's under ``rng``, all of them under
``rng_ranks``), so that a run resumed on as many processes as it ran on draws the same latent
noise it would have drawn uninterrupted. Built fresh from the seed or from a checkpoint; never
reads or writes the run folder.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

import archspec
from archspec.language.dump import to_data
from runner import checkpoint as ck
from runner.data.samples import Sampler
from runner.runtime import RunError
from runner.train.step import Step, plain_optimizer_state


class TrainState:
    """Model, optimizers, samplers and counters of one process.

    Args:
        spec: the (checked) spec; kind: its :class:`runner.kinds.base.Kind`; fast: the fast path.
        device, rank, world: where this process trains, and among how many.
        sizes: the number of samples of the train and test splits (for the samplers).
        say: prints a warning of the step (rank 0 only).
    """

    def __init__(
        self,
        spec,
        kind,
        fast,
        device: torch.device,
        rank: int,
        world: int,
        sizes: tuple[int, int],
        say: Callable[[str], None],
    ):
        t = spec.training
        self.spec, self.device, self.rank, self.world = spec, device, rank, world
        self.samplers = {"train": Sampler(sizes[0], t.seed), "test": Sampler(sizes[1], t.seed + 1)}
        torch.manual_seed(t.seed)  # the weights: identical on every process
        np.random.seed(t.seed % 2**32)
        random.seed(t.seed)
        self.raw_model = fast.prepare(archspec.build(spec).to(device).train())
        self.compute = Step(kind, fast, device, say, t.likelihood.space, kind.options(t))
        self.optimizers = self.compute.optimizers(self.raw_model, t)
        self.seen, self.step, self.elapsed0 = 0, 0, 0.0
        self.lr_scale = 1.0  # lowered by each rollback after a non-finite loss
        # the kind's terms ([elbo, loglik, kl] for a cvae) summed over this process's samples since the
        # last record (acc_n of them), and the global samples since then (acc_total: known on the host)
        self.acc, self.acc_n, self.acc_total = torch.zeros(len(kind.terms), device=device), 0, 0
        self.model = self.raw_model
        if world > 1:  # DDP: gradients are averaged over processes in backward()
            ids = [device.index] if device.type == "cuda" else None
            # A phase that steps part of the model (a GAN's discriminator phase never reaches the
            # generator's weights) leaves parameters without gradients: DDP must not wait for them.
            partial = len(kind.phases) > 1
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.raw_model, device_ids=ids, find_unused_parameters=partial
            )

    @classmethod
    def fresh(cls, *args, **kwargs) -> TrainState:
        """A new run's state: the weights from the seed, each process its own latent noise."""
        state = cls(*args, **kwargs)
        if state.rank > 0:
            torch.manual_seed(state.spec.training.seed + 7919 * state.rank)
        return state

    @classmethod
    def from_checkpoint(cls, checkpoint: dict, *args, note: Callable[[str], None], **kwargs) -> TrainState:
        """The state a checkpoint holds, random streams included (:meth:`to_checkpoint`)."""
        state = cls(*args, **kwargs)
        state._restore(checkpoint, note)
        return state

    def batch(self, data, split: str, size: int, lo: int = 0, hi: int | None = None):
        """(x, y) on the device: samples ``lo:hi`` of the split's next ``size`` (the global batch,
        the same on every process). Indices stay on the device for data held there."""
        sampler = self.samplers[split]
        on_device = getattr(data, "device", None) == self.device
        indices = sampler.next_on(size, self.device) if on_device else sampler.next(size)
        x, y = data.batch(indices[lo:hi])
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    # --- a step's accounting --------------------------------------------------------------------

    def account(self, values: torch.Tensor, n: int, size: int) -> None:
        """A step of ``size`` global samples, ``n`` of them this process's, whose terms are ``values``."""
        self.acc.add_(values, alpha=n)  # no device sync: read at the next record
        self.acc_n += n
        self.acc_total += size
        self.seen += size
        self.step += 1

    def take_record(self) -> tuple[torch.Tensor, int]:
        """(the terms summed over every process, the global samples) since the last record; reset."""
        acc, n = self.acc.clone(), self.acc_total
        if self.world > 1:  # every process logs at the same step; enqueued, not awaited
            dist.all_reduce(acc)
        self.acc.zero_()
        self.acc_n = self.acc_total = 0
        return acc, n

    # --- checkpoints ------------------------------------------------------------------------------

    def to_checkpoint(self, elapsed: float, transforms: dict | None) -> dict[str, Any]:
        """Every process (collectives); the checkpoint's contents, complete on rank 0."""
        rng_ranks, log_acc = self._gather_rng(), self._global_log_acc()
        return {
            ck.KEY_FORMAT: ck.FORMAT,
            ck.KEY_FORMAT_VERSION: ck.FORMAT_VERSION,
            ck.KEY_MODEL: ck.unwrap(self.model).state_dict(),
            ck.KEY_OPTIMIZER: ck.optimizer_states(
                {name: plain_optimizer_state(opt.state_dict()) for name, opt in self.optimizers.items()}
            ),
            ck.KEY_SAMPLES: self.seen,
            ck.KEY_STEP: self.step,
            ck.KEY_SAMPLERS: {name: s.state_dict() for name, s in self.samplers.items()},
            ck.KEY_RNG: ck.rng_state(),
            ck.KEY_SPEC: to_data(self.spec),
            ck.KEY_SPEC_HASH: archspec.spec_hash(self.spec),
            ck.KEY_VERSIONS: ck.versions(),
            ck.KEY_ELAPSED: elapsed,
            ck.KEY_LOG_STATE: {
                "acc": (self.acc if log_acc is None else log_acc).cpu(),
                "n": self.acc_n,
                "total": self.acc_total,
            },
            ck.KEY_WORLD_SIZE: self.world,
            ck.KEY_LR_SCALE: self.lr_scale,
            **({ck.KEY_RNG_RANKS: rng_ranks} if rng_ranks is not None else {}),
            **({ck.KEY_TRANSFORMS: transforms} if transforms else {}),
        }

    def _gather_rng(self) -> list | None:
        """Every process's random state, in rank order, on rank 0 (None with one process)."""
        if self.world == 1:
            return None
        states = [None] * self.world if self.rank == 0 else None
        dist.gather_object(ck.rng_state(), states, dst=0)
        return states

    def _global_log_acc(self) -> torch.Tensor | None:
        """The sums of the record being accumulated, over every process (None with one): saved
        whole by rank 0, so that a resume on any number of processes logs the same record."""
        if self.world == 1:
            return None
        acc = self.acc.clone()
        dist.all_reduce(acc)
        return acc

    def _restore(self, state: dict, note: Callable[[str], None]) -> None:
        self.raw_model.load_state_dict(state[ck.KEY_MODEL])
        for name, optimizer in self.optimizers.items():
            self.compute.load_optimizer(optimizer, ck.optimizer_state(state, name, len(self.optimizers)))
        for name, split_sampler in self.samplers.items():
            try:
                split_sampler.load_state_dict(state[ck.KEY_SAMPLERS][name])
            except ValueError as exc:
                raise RunError(f"cannot resume: {exc}") from None
        self.seen, self.step = int(state[ck.KEY_SAMPLES]), int(state[ck.KEY_STEP])
        self.elapsed0 = float(state.get(ck.KEY_ELAPSED, 0.0))
        self.lr_scale = float(state.get(ck.KEY_LR_SCALE, 1.0))
        log = state.get(ck.KEY_LOG_STATE) or {}
        if "acc" in log:  # the global sums, held by rank 0 alone (the next record all-reduces them)
            acc = log["acc"].to(self.device)
            self.acc, self.acc_n = (acc if self.rank == 0 else torch.zeros_like(acc)), int(log["n"])
            self.acc_total = int(log.get("total", log["n"]))  # checkpoints before "total": one process's n
        self._restore_rng(state, note)

    def _restore_rng(self, state: dict, note: Callable[[str], None]) -> None:
        """Each process's random streams as they were: exact on as many processes as the run
        had; on another number, the other processes' streams are derived from the position."""
        ranks = state.get(ck.KEY_RNG_RANKS)
        if self.rank == 0:
            ck.set_rng_state(state[ck.KEY_RNG])
        elif ranks is not None and len(ranks) == self.world:
            ck.set_rng_state(ranks[self.rank])
        else:
            torch.manual_seed(self.spec.training.seed + 7919 * self.rank + self.seen)
        saved_world = int(state.get(ck.KEY_WORLD_SIZE, 1))
        if saved_world != self.world:
            note(
                f"runner: note: the run had {saved_world} process(es), this invocation has {self.world}: "
                f"it continues correctly but not bit for bit as it would have on {saved_world}"
            )
