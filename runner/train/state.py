"""What a checkpoint of a run holds, and putting it back: the part of a
:class:`~runner.train.recipe.Recipe` that makes a resumed run continue exactly.

A checkpoint holds the model, each optimizer, the samplers' positions, the metrics accumulated
since the last record, the learning-rate factor of any rollback, and the random state of every
process (rank 0's under ``rng``, all of them under ``rng_ranks``), so that a run resumed on as
many processes as it ran on draws the same latent noise it would have drawn uninterrupted.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

import archspec
from archspec.dump import to_data
from runner import checkpoint as ck
from runner.data.transforms import transforms_config
from runner.runtime import RunError
from runner.train.step import plain_optimizer_state


class TrainingState:
    """Mixed into :class:`~runner.train.recipe.Recipe`."""

    def _state_dict(self, rng_ranks: list | None = None, log_acc: torch.Tensor | None = None) -> dict[str, Any]:
        return {
            ck.KEY_FORMAT: ck.FORMAT,
            ck.KEY_FORMAT_VERSION: ck.FORMAT_VERSION,
            ck.KEY_MODEL: ck.unwrap(self.model).state_dict(),
            ck.KEY_OPTIMIZER: ck.optimizer_states({name: plain_optimizer_state(opt.state_dict())
                                                   for name, opt in self.optimizers.items()}),
            ck.KEY_SAMPLES: self.seen,
            ck.KEY_STEP: self.step,
            ck.KEY_SAMPLERS: {name: s.state_dict() for name, s in self.samplers.items()},
            ck.KEY_RNG: ck.rng_state(),
            ck.KEY_SPEC: to_data(self.spec),
            ck.KEY_SPEC_HASH: archspec.spec_hash(self.spec),
            ck.KEY_VERSIONS: ck.versions(),
            ck.KEY_ELAPSED: self._elapsed(),
            ck.KEY_LOG_STATE: {"acc": (self.acc if log_acc is None else log_acc).cpu(), "n": self.acc_n, "total": self.acc_total},
            ck.KEY_WORLD_SIZE: self.world,
            ck.KEY_LR_SCALE: self.lr_scale,
            **({ck.KEY_RNG_RANKS: rng_ranks} if rng_ranks is not None else {}),
            **({ck.KEY_TRANSFORMS: transforms} if (transforms := transforms_config(self.train_data)) else {}),
        }

    def _gather_rng(self) -> list | None:
        """Every process's random state, in rank order, on rank 0 (None with one process)."""
        if self.world == 1:
            return None
        states = [None] * self.world if self.master else None
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

    def _restore(self, state: dict) -> None:
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
        self._restore_rng(state)

    def _restore_rng(self, state: dict) -> None:
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
            self._note(f"runner: note: the run had {saved_world} process(es), this invocation has {self.world}: "
                       f"it continues correctly but not bit for bit as it would have on {saved_world}")
