"""Stopping and going on: a :class:`~runner.train.recipe.Recipe`'s answer to Ctrl-C, SIGTERM and
a non-finite loss.

A signal stops every process at the same step boundary, with a checkpoint. A fault found by rank
0 (:mod:`runner.train.guard`, read where the metrics are read anyway) travels in the same
all-reduced stop flag; then the run stops without a checkpoint (:class:`NonFiniteError`: the
step, the samples and the term), or, with the run option ``on_nonfinite: rollback``, every
process goes back to the last good checkpoint and trains on with a lower learning rate.
"""
from __future__ import annotations

import signal
import threading
import time

import torch
import torch.distributed as dist

from runner import checkpoint as ck
from runner.runtime import RunError
from runner.train.guard import Fault
from runner.train.resume import resume_hint

STOP_FAULT = 1 << 10  # in the all-reduced stop flag: rank 0 found a non-finite loss (signals are < 64)


class NonFiniteError(RunError):
    """The loss or the gradients went non-finite and the run stopped (the message says where)."""


class Recovery:
    """Mixed into :class:`~runner.train.recipe.Recipe`."""

    def _install_signals(self) -> None:
        """Ctrl-C (and SIGTERM, as schedulers send before a kill) stop at the next step boundary
        with a checkpoint; a second one stops at once."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._old_handlers[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame) -> None:
        if self._signal is not None:
            raise KeyboardInterrupt
        self._signal = signum
        self._say("runner: stopping at the end of this step to write a checkpoint (press Ctrl-C again to stop at once)")

    def _stop_requested(self) -> bool:
        """A signal (stop with a checkpoint) or rank 0's fault (stop or roll back), on every process at once."""
        if self.world == 1:
            self._faulted = self._fault is not None
            return self._signal is not None or self._faulted
        if self.step % self.fast.sync_every:  # every process checks at the same steps
            return False
        code = STOP_FAULT if self._fault is not None else (self._signal or 0)
        flag = torch.tensor([code], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # every process stops at the same step
        code = int(flag.item())  # one device sync per sync_every steps
        self._faulted = code >= STOP_FAULT
        if code and not self._faulted and self._signal is None:
            self._signal = code
        return bool(code)

    def _fault_stop(self) -> bool:
        """After a stop request: True when it was a fault and the run rolled back (it raises
        when the run stops on it); False for a signal."""
        if not self._faulted:
            return False
        self._on_fault()
        return True

    def _fault_before_saving(self) -> bool:
        """Every process, before a checkpoint: True after handling a fault (stop: raises; or a
        rollback), so that ``latest`` never names weights that saw a NaN or inf."""
        fault = self._agree(self._look_for_fault)
        if fault is None:
            return False
        self._fault = fault
        self._on_fault()
        return True

    def _look_for_fault(self) -> Fault | None:
        """Rank 0: the watch's verdict (read with the metrics), then the weights themselves."""
        self._flush()
        if self._fault is not None:
            return self._fault
        bad = ck.nonfinite_entries(ck.unwrap(self.model).state_dict())
        return Fault(step=self.step, samples=(max(self._saved_at, 0), self.seen), values={}, weights=tuple(bad)) if bad else None

    def _on_fault(self) -> None:
        """Stop with the fault's message (:class:`NonFiniteError`), or roll back when the run
        options ask for it and rollbacks are left."""
        fault, self._fault, self._faulted = self._fault, None, False
        o = self.options
        if o.on_nonfinite == "rollback" and self.rollbacks < o.max_rollbacks:
            self._rollback(fault)
            return
        last = self._last_good_name()
        kept = f"the last good checkpoint is {last} (nothing after it was saved)" if last else "no checkpoint was saved"
        tried = f"; {self.rollbacks} rollback(s) with a lower learning rate did not help" if self.rollbacks else ""
        what = fault.describe() if fault is not None else "rank 0 found a non-finite training loss"
        retry = "" if self.rollbacks else f"; to retry with a lower learning rate: {resume_hint(self.command, self.out)} --on-nonfinite rollback"
        raise NonFiniteError(f"{what}; {kept}{tried}{retry}")

    def _rollback(self, fault: Fault | None) -> None:
        """Every process: back to the last good checkpoint (or the start), learning rate lowered."""
        scale = self.lr_scale * self.options.rollback_lr_factor
        self.rollbacks += 1
        try:
            state, path = ck.read_latest(self.out, warn=self._say)
            last = path.name
        except ck.CheckpointError:  # nothing checkpointed yet: from the start
            state, last = None, None
        self._start_from(state)
        self.lr_scale, self.t0 = scale, time.monotonic()
        if self.master:
            self.metrics.rewind(self.seen)
            self.progress.rewind(self.seen)
            what = fault.describe() if fault is not None else "non-finite training loss"
            self._say(f"runner: {what}; rolling back to {last or 'the start'} ({self.seen:,} samples) with the "
                      f"learning rate x {scale:g} (rollback {self.rollbacks} of {self.options.max_rollbacks})")
