"""The training loop: a recipe (setup, train, evaluate, save_checkpoint, cleanup) that reads top
to bottom, built from parts that never call back into it.

    TrainState   (state.py)     model, optimizers, samplers, counters; to and from a checkpoint
    RunFolder    (folder.py)    which checkpoint to resume, the lock, the files, what is kept
    StopControl  (recovery.py)  signals and faults -> continue, stop or roll back
    Step         (step.py)      how one step computes (the fast path: precision, compile, ...)

One process, on the CPU or a GPU, or several under DistributedDataParallel (torchrun sets RANK
and WORLD_SIZE; docs/distributed.md). Samples seen and the schedule are global: each process
trains on its share of every global batch, and a run resumes on any number of processes.

Two things are measured during a run, each under its own name: the **test loss**
(:meth:`Recipe.test_loss`: the kind's terms, the test ELBO for a cvae) of one batch of
``evaluation.batch_size`` test samples every ``evaluation.every`` samples, with its own sampler
and latent noise, so the training stream does not depend on the cadence; and the **science** of
each checkpoint (:mod:`runner.train.science`: spectra and figures into ``eval/<N>/``), which
the run option ``evaluate`` (``--no-eval``) switches off.
What a run survives (a SIGKILL anywhere, a non-finite loss, a full disk, a
changed store) is listed in README.md, each with its test.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from runner import checkpoint as ck
from runner.data.open import open_data
from runner.data.transforms import transforms_config
from runner.kinds import KINDS
from runner.runtime import RunError, init_distributed, is_disk_error, seeded
from runner.science.calibration import KEY as KEY_CALIBRATION
from runner.train import fastpath, runlog
from runner.train.folder import RunFolder, agree
from runner.train.guard import GRAD, Fault, FiniteWatch, gradient_norm
from runner.train.options import RunOptions
from runner.train.recovery import CONTINUE, STOP, Rollback, StopControl
from runner.train.schedule import Schedule, check_world_size, crossed, split_batch
from runner.train.science import CheckpointScience
from runner.train.state import TrainState

EXIT_OK, EXIT_INTERRUPTED = 0, 130
ROLLED_BACK = "rolled back"  # what save_checkpoint returns when the stretch it closed went non-finite


def train(
    spec,
    out: str | os.PathLike,
    *,
    options: RunOptions | None = None,
    max_samples: int | None = None,
    resume: bool = False,
    accept_data_change: bool = False,
    command: Sequence[str] | None = None,
    data: tuple | None = None,
    **run_options: Any,
) -> int:
    """Train ``spec`` into the run folder ``out``.

    Args:
        spec: a checked spec (:func:`archspec.load`).
        options: the run options; or give them one by one as keywords (``quiet=True``), not both.
        max_samples: stop this invocation at the first batch boundary at or after this many
            samples seen, with a checkpoint; the spec (and its end) are unchanged.
        resume: continue from the folder's last good checkpoint.
        accept_data_change: resume even on a data store other than the one the run recorded.
        command: the command line, for command.txt and the resume hint.
        data: (train, test) datasets with ``len()`` and ``batch(indices)``, instead of the spec's.

    Returns:
        0 when training finished or stopped at ``max_samples``; 130 (128 + signal) when it was
        interrupted, after a checkpoint. Raises :class:`RunError` (and the data's ``DataError``)
        for a run that cannot start, with a message for the user.
    """
    if options is not None and run_options:
        raise TypeError(f"train() takes options= or run options as keywords, not both: {sorted(run_options)}")
    recipe = Recipe(
        spec,
        Path(out),
        options or RunOptions(**run_options),
        max_samples=max_samples,
        resume=resume,
        accept_data_change=accept_data_change,
        command=command,
        data=data,
    )
    try:
        recipe.setup()
        return recipe.train()
    except OSError as exc:  # a full disk, a read-only folder: one line, and what is still good
        if not is_disk_error(exc):
            raise
        raise RunError(recipe.folder.disk_error_message(exc)) from None
    finally:
        recipe.cleanup()


class Recipe:
    """Training of one spec into one run folder; the arguments are :func:`train`'s."""

    def __init__(
        self,
        spec,
        out: Path,
        options: RunOptions,
        *,
        max_samples: int | None = None,
        resume: bool = False,
        accept_data_change: bool = False,
        command: Sequence[str] | None = None,
        data: tuple | None = None,
    ):
        self.spec, self.out, self.options, self.data = spec, out, options, data
        self.kind = KINDS.get(spec.model.kind)  # how this kind trains and paints
        self.label = options.label or spec.name  # in figure titles
        self.max_samples, self.master = max_samples, True  # master: until setup knows the process's rank
        self.folder = RunFolder(
            out,
            spec,
            options,
            resume=resume,
            accept_data_change=accept_data_change,
            command=None if command is None else list(command),
            master=True,
            world=1,
            say=self._say,
            note=self._note,
        )
        self.metrics: runlog.Metrics | None = None
        self.progress: runlog.Progress | None = None
        self.stop: StopControl | None = None
        self.science: CheckpointScience | None = None
        self._record_constant: dict = {}  # what each metrics record says of its log-likelihood constant

    # --- setup ------------------------------------------------------------------------------------

    def setup(self) -> None:
        o = self.options
        self.rank, self.world, self.device = init_distributed(o.device)
        self.master = self.rank == 0  # logs, evaluates and checkpoints
        self.folder.master, self.folder.world = self.master, self.world
        self.fast = fastpath.decide(o, self.device.type, self.world)
        self.fast.apply_globals()
        if self.master:
            self.science = CheckpointScience(
                self.spec,
                self.out,
                o,
                device=self.device,
                precision=self.fast.precision,
                label=self.label,
                say=self._say,
            )
        self.schedule = Schedule.from_training(self.spec.training)  # the batch sizes and the first phase's lr
        self.phase_schedules = {  # each phase's learning rate (training.phases may give one its own)
            p.optimizer: Schedule.from_training(self.spec.training, p.optimizer) for p in self.kind.phases
        }
        check_world_size(self.schedule, self.world)
        if self.max_samples is not None and self.max_samples < 1:
            raise RunError(f"max_samples must be at least 1, not {self.max_samples}")
        end = self.schedule.end()
        self.stop_at = end if self.max_samples is None else min(end, self.schedule.first_start(self.max_samples))
        checkpoint = self.folder.checkpoint_to_resume()  # before anything is written into the folder
        self.train_data, self.test_data = self.data or open_data(
            self.spec,
            self.device,
            on_device=o.data_on_device,
            master=self.master,
            distributed=self.world > 1,
            progress=self.master and not o.quiet and sys.stderr.isatty(),
        )
        resumed = checkpoint is not None
        identity = self.folder.data_identity(self.train_data, resuming=resumed)
        self._start_from(checkpoint)
        saved_calibration = checkpoint.get(KEY_CALIBRATION) if checkpoint else None
        del checkpoint  # its CPU copy of the model and optimizer is not kept for the run
        self.stop = StopControl(
            o,
            self.device,
            self.world,
            self.fast.sync_every,
            self._say,
            self.folder.last_good_name,
            self.folder.resume_hint,
        )
        if self.master and self.state.seen < end:  # a finished run's folder is left as it is
            self.metrics, self.progress, self._record_constant = self.folder.start(
                kind=self.kind,
                seen=self.state.seen,
                step=self.state.step,
                resumed=resumed,
                device=self.device,
                resolved=self.fast.describe(),
                data_identity=identity,
                stop_at=self.stop_at,
            )
            if resumed:
                self.science.measure_if_missing(
                    self.state.raw_model, self.test_data, self.state.seen, saved_calibration
                )
        self.stop.install_signals()

    def _start_from(self, checkpoint: dict | None) -> None:
        """The state fresh from the seed, or from ``checkpoint``; the finiteness watch restarted."""
        args = (
            self.spec,
            self.kind,
            self.fast,
            self.device,
            self.rank,
            self.world,
            (len(self.train_data), len(self.test_data)),
            self._say,
        )
        if checkpoint is None:
            self.state = TrainState.fresh(*args)
        else:
            self.state = TrainState.from_checkpoint(checkpoint, *args, note=self._note)
        self.watch = FiniteWatch((*self.kind.terms, GRAD), self.device)
        self.watch.restart(self.state.step, self.state.seen)
        self._saved_at = self.state.seen if checkpoint is not None else -1
        self.t0 = time.monotonic()

    # --- the loop ---------------------------------------------------------------------------------

    def train(self) -> int:
        end = self.schedule.end()
        if self.state.seen >= end:
            self._say(
                f"runner: {self.out} has trained {self.state.seen:,} samples, the spec asks for "
                f"{self.spec.training.samples:,}: nothing to do"
            )
            return EXIT_OK
        while True:
            while self.state.seen < self.stop_at:
                decision = self.stop.at_step(self.state.step)
                if isinstance(decision, Rollback):
                    self._roll_back(decision)
                    continue
                if decision == STOP:
                    break
                assert decision == CONTINUE
                before = self.state.seen
                self._train_step()
                self._after_step(before)
            if self.state.seen != self._saved_at and self.save_checkpoint() == ROLLED_BACK:
                continue  # the last stretch went non-finite: train it again
            return self._finish(end)

    def _train_step(self) -> None:
        st, t = self.state, self.spec.training
        self.batch_size = size = self.schedule.batch_size(st.seen)
        lrs = {name: schedule.lr(st.seen) * st.lr_scale for name, schedule in self.phase_schedules.items()}
        self.lr = next(iter(lrs.values()))  # the records' lr: the first phase's
        st.compute.set_lr(st.optimizers, lrs)
        lo, hi = split_batch(size, self.rank, self.world)  # this process's share of the global batch
        x, y = st.batch(self.train_data, "train", size, lo, hi)  # (n, 1, T, T), (n, 2, T, T)
        # Each process averages over its share; DDP averages over processes: weigh to the global mean.
        terms, norms = st.compute.train(
            st.model, st.optimizers, x, y, t.beta, (hi - lo) * self.world / size, before_update=self._gradient_norm
        )
        st.account(terms, hi - lo, size)
        self.watch.step(torch.cat([terms, sum(norms)]), st.seen)

    def _gradient_norm(self, phase) -> torch.Tensor:
        """A phase's gradient norm, between its backward and its update: for the finiteness watch."""
        return gradient_norm(phase.params(self.state.raw_model), self.device).reshape(1)

    def _after_step(self, before: int) -> None:
        t, seen = self.spec.training, self.state.seen
        if self.master and crossed(before, seen, t.evaluation.every):
            self._record("test", self.test_loss(), t.evaluation.batch_size)
        if crossed(before, seen, t.log_every):
            acc, n = self.state.take_record()
            if self.master and n:
                self._record("train", acc / n, n)
        if self.master:
            if self.progress.line_due(seen - before):  # a progress line shows the latest ELBOs:
                self._flush()  # read them back now (once a line, not per step)
            self.progress.update(seen - before)
        if crossed(before, seen, t.checkpoint.every):  # every process: each one's random state is saved
            self.save_checkpoint()

    def _record(self, split: str, terms: torch.Tensor, n: int) -> None:
        """Queue a metrics record at this step boundary; ``terms`` stays on the device until a flush."""
        record = {
            "sample": self.state.seen,
            "step": self.state.step,
            "split": split,
            "n": n,
            "lr": self.lr,
            "batch_size": self.batch_size,
            "time": round(self._elapsed(), 3),
            **self._record_constant,
        }
        flushed = self.metrics.add(record, terms)
        if flushed:
            self._after_flush(flushed)

    def _flush(self) -> None:
        """Write the queued metrics records (rank 0), and read the finiteness watch with them."""
        self._after_flush(self.metrics.flush())

    def _after_flush(self, records: list) -> None:
        self.progress.show(records)
        self.stop.fault = self.stop.fault or self.watch.read()  # the device was just synchronised: no extra stall

    def test_loss(self) -> torch.Tensor:
        """The kind's terms (the test ELBO's for a cvae) on the device, of one batch of test
        samples, in eval mode (BatchNorm's running statistics) on the raw model: only rank 0 measures."""
        t = self.spec.training
        with seeded(self.device, eval_seed(t.seed, self.state.seen)):  # its own latent noise
            x, y = self.state.batch(self.test_data, "test", t.evaluation.batch_size)
            return self.state.compute.evaluate(self.state.raw_model, x, y, t.beta)

    # --- checkpoints ------------------------------------------------------------------------------

    def save_checkpoint(self) -> Path | str | None:
        """At this step boundary, on every process: unless the run went non-finite since the last
        look, flush the metrics, write a checkpoint (rank 0) holding every process's random
        state, prune old ones, redraw the curves and measure the checkpoint's science. Metrics go
        first: a kill between the two keeps the records, and the resume drops those past its
        checkpoint. Returns the checkpoint's path on rank 0, None elsewhere, or ROLLED_BACK."""
        fault = agree(self._fault_since_last_checkpoint, self.master, self.world)
        if fault is not None:  # never a checkpoint of weights that saw a NaN or inf
            self._roll_back(self.stop.decide(fault))  # or NonFiniteError
            return ROLLED_BACK
        contents = self.state.to_checkpoint(self._elapsed(), transforms_config(self.train_data))  # collectives
        self._saved_at = self.state.seen
        if not self.master:
            self.watch.restart(self.state.step, self.state.seen)  # rank 0 reads its own watch; this one's is unused
            return None
        self.metrics.sync()  # flushed above; durable before the checkpoint that follows them
        calibration = self.science.calibrate(self.state.raw_model, self.train_data)
        if calibration is not None:
            contents[KEY_CALIBRATION] = calibration.to_state()
        path = ck.save(self.out, contents)
        self.science.wait()  # the last child may still read a checkpoint the pruning removes
        self.folder.prune(path)
        self.science.draw_curves(self.metrics.records, self.state.seen)
        if self.stop.signal is None:  # not while stopping on Ctrl-C
            summary = self.science.measure(self.state.raw_model, self.test_data, self.state.seen, calibration)
            self.metrics.log_evaluation(summary, self.state.seen)
        return path

    def _fault_since_last_checkpoint(self) -> Fault | None:
        """Rank 0: the watch's verdict (read with the metrics), then the weights themselves."""
        self._flush()
        if self.stop.fault is not None:
            return self.stop.fault
        bad = ck.nonfinite_entries(ck.unwrap(self.state.model).state_dict())
        seen = (max(self._saved_at, 0), self.state.seen)
        return Fault(step=self.state.step, samples=seen, values={}, weights=tuple(bad)) if bad else None

    def _roll_back(self, rollback: Rollback) -> None:
        """Every process: back to the last good checkpoint (or the start), learning rate lowered."""
        scale = self.state.lr_scale * rollback.lr_factor
        try:
            checkpoint, path = ck.read_latest(self.out, warn=self._say)
            last = path.name
        except ck.CheckpointError:  # nothing checkpointed yet: from the start
            checkpoint, last = None, None
        self._start_from(checkpoint)
        self.state.lr_scale = scale
        if self.master:
            self.metrics.rewind(self.state.seen)
            self.progress.rewind(self.state.seen)
            what = rollback.fault.describe() if rollback.fault is not None else "non-finite training loss"
            self._say(
                f"runner: {what}; rolling back to {last or 'the start'} ({self.state.seen:,} samples) with the "
                f"learning rate x {scale:g} (rollback {rollback.number} of {self.options.max_rollbacks})"
            )

    # --- ending -----------------------------------------------------------------------------------

    def _finish(self, end: int) -> int:
        signum = self.stop.signal
        if not self.master:
            return EXIT_INTERRUPTED if signum else EXIT_OK
        self.science.wait()  # the last checkpoint's science: the folder is complete when the run ends
        self.progress.close()
        st = self.state
        where = f"{st.seen:,} samples, {st.step:,} steps, {self._elapsed():.0f} s"
        if signum is not None:
            self._say(
                f"runner: interrupted at {where}; checkpoint written. Resume with:\n  {self.folder.resume_hint()}"
            )
            return 128 + signum
        if st.seen < end:
            self._say(
                f"runner: stopped at {where} (--max-samples); checkpoint written. Continue with:\n"
                f"  {self.folder.resume_hint()}"
            )
            return EXIT_OK
        tests = [r["elbo"] for r in self.metrics.records if r["split"] == "test" and r.get("elbo") is not None]
        change = (
            (
                f"; test ELBO {tests[0]:.4g} at first -> {statistics.median(tests[-10:]):.4g} "
                f"(median of the last {min(10, len(tests))})"
            )
            if tests
            else ""
        )
        self._say(f"runner: done: {where}{change}; {self.out}")
        return EXIT_OK

    def cleanup(self) -> None:
        if self.science is not None:
            self.science.wait()
        if self.stop is not None:
            self.stop.restore_signals()
        if self.progress is not None:
            self.progress.close()
        if self.metrics is not None:
            try:
                self.metrics.close()
            except OSError:  # the disk that refused a write refuses this one too; already reported
                pass
        self.folder.lock.release()
        if self.data is None:  # the store this run opened: closed, so that the file is free again
            for split in (getattr(self, "train_data", None), getattr(self, "test_data", None)):
                if hasattr(getattr(split, "store", None), "close"):
                    split.store.close()
        if dist.is_available() and dist.is_initialized():
            if sys.exc_info()[0] is None:  # every process reached the same end: leave together, so that
                dist.barrier()  # none tears down the group (or its store) under another still using it
            dist.destroy_process_group()

    # --- helpers ----------------------------------------------------------------------------------

    def _elapsed(self) -> float:
        return self.state.elapsed0 + time.monotonic() - self.t0

    def _note(self, text: str) -> None:
        if not self.options.quiet:
            self._say(text)

    def _say(self, text: str) -> None:
        if not self.master:
            return
        if self.progress is not None:
            self.progress.write(text)
        else:
            print(text, file=sys.stderr)


def eval_seed(seed: int, seen: int) -> int:
    """The seed of a test loss's latent noise: a function of the run's seed and the position only."""
    return (seed * 0x9E3779B97F4A7C15 + seen) % (1 << 63)
