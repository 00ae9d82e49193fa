"""Stopping and going on: the answer to Ctrl-C, SIGTERM and a non-finite loss, as a decision the
training loop carries out (:class:`StopControl`).

A signal stops every process at the same step boundary, with a checkpoint. A fault found by rank
0 (:mod:`runner.train.guard`, read where the metrics are read anyway) travels in the same
all-reduced stop flag; then the run stops without a checkpoint (:class:`NonFiniteError`: the
step, the samples and the term), or, with the run option ``on_nonfinite: rollback``, every
process goes back to the last good checkpoint and trains on with a lower learning rate.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from runner.runtime import RunError
from runner.train.guard import Fault
from runner.train.options import RunOptions

STOP_FAULT = 1 << 10  # in the all-reduced stop flag: rank 0 found a non-finite loss (signals are < 64)
CONTINUE, STOP = "continue", "stop"


class NonFiniteError(RunError):
    """The loss or the gradients went non-finite and the run stopped (the message says where)."""


@dataclass(frozen=True)
class Rollback:
    """Go back to the last good checkpoint with the learning rate multiplied by ``lr_factor``."""

    fault: Fault | None
    number: int  # 1 for the invocation's first rollback
    lr_factor: float


class StopControl:
    """Signals and faults of one process, turned into CONTINUE, STOP or a :class:`Rollback`.

    Args:
        options: the run options (on_nonfinite, rollback_lr_factor, max_rollbacks).
        device, world, sync_every: where the stop flag is all-reduced, and how often (DDP).
        say: prints a line (rank 0).
        last_good: the name of the checkpoint ``latest`` names, for the stop message.
        hint: the command that continues the run.
    """

    def __init__(
        self,
        options: RunOptions,
        device: torch.device,
        world: int,
        sync_every: int,
        say: Callable[[str], None],
        last_good: Callable[[], str | None],
        hint: Callable[[], str],
    ):
        self.options, self.device, self.world, self.sync_every = options, device, world, sync_every
        self._say, self._last_good, self._hint = say, last_good, hint
        self.signal: int | None = None
        self.fault: Fault | None = None  # found by rank 0 at a flush, acted on at the next step boundary
        self.rollbacks = 0
        self._old_handlers: dict[int, object] = {}

    # --- signals ----------------------------------------------------------------------------------

    def install_signals(self) -> None:
        """Ctrl-C (and SIGTERM, as schedulers send before a kill) stop at the next step boundary
        with a checkpoint; a second one stops at once."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._old_handlers[signum] = signal.signal(signum, self._on_signal)

    def restore_signals(self) -> None:
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        self._old_handlers.clear()

    def _on_signal(self, signum: int, frame) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        self._say("runner: stopping at the end of this step to write a checkpoint (press Ctrl-C again to stop at once)")

    # --- decisions --------------------------------------------------------------------------------

    def at_step(self, step: int) -> str | Rollback:
        """At a step boundary, on every process at once: CONTINUE; STOP (a signal: checkpoint
        and end); or a fault's :class:`Rollback` (raises :class:`NonFiniteError` when the run
        stops on it instead)."""
        if self.world == 1:
            if self.fault is not None:
                return self.decide(self.fault)
            return STOP if self.signal is not None else CONTINUE
        if step % self.sync_every:  # every process checks at the same steps
            return CONTINUE
        code = STOP_FAULT if self.fault is not None else (self.signal or 0)
        flag = torch.tensor([code], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # every process stops at the same step
        code = int(flag.item())  # one device sync per sync_every steps
        if code >= STOP_FAULT:
            return self.decide(self.fault)  # rank 0's fault; None on the other processes
        if code and self.signal is None:
            self.signal = code
        return STOP if code else CONTINUE

    def decide(self, fault: Fault | None) -> Rollback:
        """A fault every process knows of: a :class:`Rollback` while the run options allow one,
        else :class:`NonFiniteError` with where it happened and what is still good."""
        self.fault = None
        o = self.options
        if o.on_nonfinite == "rollback" and self.rollbacks < o.max_rollbacks:
            self.rollbacks += 1
            return Rollback(fault, self.rollbacks, o.rollback_lr_factor)
        last = self._last_good()
        kept = f"the last good checkpoint is {last} (nothing after it was saved)" if last else "no checkpoint was saved"
        tried = f"; {self.rollbacks} rollback(s) with a lower learning rate did not help" if self.rollbacks else ""
        what = fault.describe() if fault is not None else "rank 0 found a non-finite training loss"
        retry = (
            "" if self.rollbacks else f"; to retry with a lower learning rate: {self._hint()} --on-nonfinite rollback"
        )
        raise NonFiniteError(f"{what}; {kept}{tried}{retry}")
