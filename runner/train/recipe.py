"""The training loop: a small recipe (setup, train, evaluate, save_checkpoint, cleanup).

One process, on the CPU or a GPU::

    runner train specs/quickstart.yaml --out runs/quick
    runner train specs/paper_cvae.yaml --out runs/paper --device cuda

Several processes with DistributedDataParallel (torchrun sets RANK and WORLD_SIZE; gloo on CPUs,
NCCL on GPUs). Samples seen and the schedule are global: each process trains on its share of
every global batch, and a run resumes on any number of processes::

    torchrun --standalone --nproc_per_node 4 -m runner train specs/paper_cvae.yaml --out runs/paper

(several machines: docs/distributed.md). How a step computes -- precision, memory layout,
torch.compile, CUDA graphs, threads -- is the fast path of the run options
(:mod:`runner.train.fastpath`), carried out by :class:`runner.train.step.Step`; the loop never
waits for the device except where it reads values back: metrics at a flush, the stop flag every
``sync_every`` steps under DDP, checkpoints.

Every ``evaluation.every`` training samples the test ELBO of one batch of
``evaluation.batch_size`` test samples is measured in eval mode, with its own sampler and its
own latent noise (the training stream of random numbers does not depend on the evaluation
cadence). Train metrics are averaged over the samples since the previous record.

What a run survives (each tested): a SIGKILL at any moment, even inside a checkpoint write
(every file is written atomically; metrics are flushed before the checkpoint they lead up to,
and a resume drops those past its checkpoint; stale temporaries are removed at the next start);
a NaN or inf in the loss or gradients (:mod:`runner.train.guard`: the run stops naming the step
and term, or rolls back with a lower learning rate, and never checkpoints non-finite weights); a
full or read-only disk (one line, the previous checkpoint intact); a changed data store (the
resume is refused, naming both). Every process's random state is checkpointed, so a run resumed
on as many processes as it ran on continues exactly.
"""
from __future__ import annotations

import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.distributed as dist

import archspec
from runner import checkpoint as ck
from runner.data.open import open_data
from runner.data.samples import Sampler
from runner.kinds import KINDS
from runner.runtime import RunError, init_distributed, is_disk_error, seeded
from runner.train import fastpath, runlog
from runner.train.background import BackgroundEvaluation
from runner.train.folder import RunFolder
from runner.train.guard import GRAD, Fault, FiniteWatch, gradient_norm
from runner.train.options import RunOptions, split_options
from runner.train.recovery import Recovery
from runner.train.state import TrainingState
from runner.train.resume import resume_hint
from runner.train.schedule import Schedule, check_world_size, crossed, split_batch
from runner.train.step import Step

EXIT_OK, EXIT_INTERRUPTED = 0, 130


def train(spec, out: str | os.PathLike, **options: Any) -> int:
    """Train ``spec`` into the run folder ``out``; see :class:`Recipe` for the options.

    Returns:
        0 when training finished or stopped at ``max_samples``; 130 (128 + signal) when it was
        interrupted, after a checkpoint. Raises :class:`RunError` (and the data's ``DataError``)
        for a run that cannot start, with a message for the user.
    """
    if "options" not in options:  # train(spec, out, quiet=True, ...): run options as keywords
        run_options, options = split_options(options)
        options["options"] = run_options
    recipe = Recipe(spec, Path(out), **options)
    try:
        recipe.setup()
        return recipe.train()
    except OSError as exc:  # a full disk, a read-only folder: one line, and what is still good
        if not is_disk_error(exc):
            raise
        raise RunError(recipe.disk_error_message(exc)) from None
    finally:
        recipe.cleanup()


class Recipe(RunFolder, Recovery, TrainingState):
    """Training of one spec into one run folder.

    Args:
        spec: a validated spec.
        out: the run folder.
        options: the run options (device, data on device, evaluation, quiet): how the run goes,
            never what it trains (:mod:`runner.train.options`).
        max_samples: stop this invocation at the first batch boundary at or after this many
            samples seen, with a checkpoint; the spec (and its end) are unchanged.
        resume: continue from the folder's last good checkpoint.
        accept_data_change: resume even on a data store other than the one the run recorded.
        command: the command line, for command.txt and the resume hint.
        data: (train, test) datasets with ``len()`` and ``batch(indices)``, instead of the spec's.
    """

    def __init__(self, spec, out: Path, *, options: RunOptions = RunOptions(), max_samples: int | None = None,
                 resume: bool = False, accept_data_change: bool = False, command: Sequence[str] | None = None,
                 data: tuple | None = None):
        self.spec, self.out, self.options = spec, out, options
        self.kind = KINDS.get(spec.model.kind)  # how this kind trains and paints
        self.label = options.label or spec.name  # in figure titles
        self.max_samples, self.resume, self.quiet = max_samples, resume, options.quiet
        self.accept_data_change = accept_data_change
        self.command = list(command) if command is not None else None
        self.data = data
        self.lock = runlog.RunLock(out)
        self.lr_scale = 1.0  # lowered by each rollback after a non-finite loss (options.on_nonfinite)
        self.rollbacks = 0
        self._fault: Fault | None = None  # found by rank 0 at a flush, acted on at the next step boundary
        self._faulted = False  # every process: a fault is being acted on
        self.metrics: runlog.Metrics | None = None
        self.progress: runlog.Progress | None = None
        self._record_constant: dict = {}  # what each metrics record says of its log-likelihood constant (folder.py)
        self._signal: int | None = None
        self._old_handlers: dict[int, Any] = {}
        self._saved_at = -1
        self.master = True  # until setup knows the process's rank
        self.background: BackgroundEvaluation | None = None  # checkpoint evaluations in a child process

    # --- setup --------------------------------------------------------------------------------

    def setup(self) -> None:
        t = self.spec.training
        self.rank, self.world, self.device = init_distributed(self.options.device)
        self.master = self.rank == 0  # logs, evaluates and checkpoints
        self.fast = fastpath.decide(self.options, self.device.type, self.world)
        self.fast.apply_globals()
        in_background = self.options.eval_in_background
        if self.master and (in_background if in_background is not None else self.device.type == "cuda"):
            self.background = BackgroundEvaluation(self._say)
        self.schedule = Schedule.from_training(t)
        check_world_size(self.schedule, self.world)
        if self.max_samples is not None and self.max_samples < 1:
            raise RunError(f"max_samples must be at least 1, not {self.max_samples}")
        self.stop_at = self._stop_at()  # before anything is written into the folder
        state = self._checked_folder()
        progress = self.master and not self.quiet and sys.stderr.isatty()
        self.train_data, self.test_data = self.data or open_data(
            self.spec, self.device, on_device=self.options.data_on_device, master=self.master, distributed=self.world > 1,
            progress=progress)
        resumed = state is not None
        self.data_identity = self._agree(lambda: self._checked_data(resuming=resumed))
        self._start_from(state)
        del state  # its CPU copy of the model and optimizer is not kept for the run
        self.t0 = time.monotonic()
        if self.master and self.seen < self.schedule.end():  # a finished run's folder is left as it is
            self._start_folder(resumed=resumed)
        self._install_signals()

    def _start_from(self, state: dict | None) -> None:
        """Model, optimizers, samplers and counters: fresh from the seed, or from ``state``."""
        t = self.spec.training
        self.samplers = {"train": Sampler(len(self.train_data), t.seed), "test": Sampler(len(self.test_data), t.seed + 1)}
        self._build()
        self.seen, self.step, self.elapsed0 = 0, 0, 0.0
        # the kind's terms ([elbo, loglik, kl] for a cvae) summed over this process's samples since the
        # last record (acc_n of them), and the global samples since then (acc_total: known on the host)
        self.acc, self.acc_n, self.acc_total = torch.zeros(len(self.kind.terms), device=self.device), 0, 0
        if state is not None:
            self._restore(state)
        elif self.rank > 0:
            torch.manual_seed(t.seed + 7919 * self.rank)  # each process draws its own latent noise
        self.watch = FiniteWatch((*self.kind.terms, GRAD), self.device)
        self.watch.restart(self.step, self.seen)
        self._saved_at = self.seen if state is not None else -1
        self.model = self.raw_model
        if self.world > 1:  # DDP: gradients are averaged over processes in backward()
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(self.raw_model, device_ids=device_ids)

    def _build(self) -> None:
        """The model (weights from the seed, identical on every process) and an optimizer per
        phase of its kind (one, "model", for a cvae or a regression)."""
        t = self.spec.training
        torch.manual_seed(t.seed)
        np.random.seed(t.seed % 2**32)
        random.seed(t.seed)
        self.raw_model = self.fast.prepare(archspec.build(self.spec).to(self.device).train())
        self.compute = Step(self.kind, self.fast, self.device, self._say, t.likelihood.space)
        self.optimizers = self.compute.optimizers(self.raw_model, t)

    # --- the loop -------------------------------------------------------------------------------

    def train(self) -> int:
        stop_at, end = self.stop_at, self.schedule.end()
        if self.seen >= end:
            self._say(f"runner: {self.out} has trained {self.seen:,} samples, the spec asks for "
                      f"{self.spec.training.samples:,}: nothing to do")
            return EXIT_OK
        while True:
            while self.seen < stop_at:
                if self._stop_requested():
                    if self._fault_stop():
                        continue  # rolled back: train on from the last good checkpoint
                    break
                before = self.seen
                self._train_step()
                self._after_step(before)
            rollbacks = self.rollbacks
            if self.seen != self._saved_at:
                self.save_checkpoint()
            if self.rollbacks == rollbacks:  # else the last stretch went non-finite: train it again
                return self._finish(end)

    def _train_step(self) -> None:
        self.batch_size = size = self.schedule.batch_size(self.seen)
        self.lr = self.schedule.lr(self.seen) * self.lr_scale
        self.compute.set_lr(self.optimizers, self.lr)
        indices = self._indices(self.train_data, "train", size)  # the global batch: the same on every process
        lo, hi = split_batch(size, self.rank, self.world)  # this process's share of it
        x, y = self._batch(self.train_data, indices[lo:hi])  # (n, 1, T, T), (n, 2, T, T)
        # Each process averages over its share; DDP averages over processes: weigh to the global mean.
        terms, norms = self.compute.train(self.model, self.optimizers, x, y, self.spec.training.beta,
                                          (hi - lo) * self.world / size, before_update=self._gradient_norm)
        self._account([terms], sum(norms), hi - lo, size)

    def _gradient_norm(self, phase) -> torch.Tensor:
        """A phase's gradient norm, between its backward and its update: for the finiteness watch."""
        return gradient_norm(phase.params(self.raw_model), self.device).reshape(1)

    def _account(self, terms: list[torch.Tensor], grad_norm: torch.Tensor, n: int, size: int) -> None:
        """Add a step's terms to the record being accumulated and to the finiteness watch."""
        values = torch.cat(terms)
        self.acc.add_(values, alpha=n)  # no device sync: read at the next record
        self.acc_n += n
        self.acc_total += size
        self.seen += size
        self.step += 1
        self.watch.step(torch.cat([values, grad_norm]), self.seen)

    def _after_step(self, before: int) -> None:
        t = self.spec.training
        if self.master and crossed(before, self.seen, t.evaluation.every):
            self._record("test", self.evaluate(), t.evaluation.batch_size)
        if crossed(before, self.seen, t.log_every):
            self._log_train()
        if self.master:
            if self.progress.line_due(self.seen - before):  # a progress line shows the latest ELBOs:
                self._flush()  # read them back now (once a line, not per step)
            self.progress.update(self.seen - before)
        if crossed(before, self.seen, t.checkpoint.every):  # every process: each one's random state is saved
            self.save_checkpoint()

    def _log_train(self) -> None:
        acc, n = self.acc.clone(), self.acc_total
        if self.world > 1:  # sum over processes (every process logs at the same step); enqueued, not awaited
            dist.all_reduce(acc)
        if self.master and n:
            self._record("train", acc / n, n)
        self.acc.zero_()
        self.acc_n = self.acc_total = 0

    def _record(self, split: str, terms: torch.Tensor, n: int) -> None:
        """Queue a metrics record at this step boundary; ``terms`` stays on the device until a flush."""
        record = {"sample": self.seen, "step": self.step, "split": split, "n": n, "lr": self.lr,
                  "batch_size": self.batch_size, "time": round(self._elapsed(), 3), **self._record_constant}
        flushed = self.metrics.add(record, terms)
        if flushed:
            self._after_flush(flushed)

    def _flush(self) -> None:
        """Write the queued metrics records (rank 0), and read the finiteness watch with them."""
        self._after_flush(self.metrics.flush())

    def _after_flush(self, records: list) -> None:
        self.progress.show(records)
        self._fault = self._fault or self.watch.read()  # the device was just synchronised: no extra stall

    def evaluate(self) -> torch.Tensor:
        """The kind's terms (the test ELBO's for a cvae) on the device, of one batch of test
        samples, in eval mode."""
        t = self.spec.training
        with seeded(self.device, eval_seed(t.seed, self.seen)):  # its own latent noise
            x, y = self._batch(self.test_data, self._indices(self.test_data, "test", t.evaluation.batch_size))
            # eval mode (BatchNorm's running statistics), inference mode; the raw model: only rank 0 evaluates
            return self.compute.evaluate(self.raw_model, x, y, t.beta)

    # --- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(self) -> Path | None:
        """At this step boundary, on every process: unless the run went non-finite since the
        last look, flush the metrics, then write a checkpoint (rank 0) holding every process's
        random state, prune old ones, redraw the curves and evaluate. Metrics go first: a kill
        between the two keeps the records, and the resume drops those past its checkpoint.
        Returns the checkpoint's path on rank 0 (None elsewhere, or after a fault)."""
        if self._fault_before_saving():
            return None
        rng_ranks, log_acc = self._gather_rng(), self._global_log_acc()  # collectives: every process
        self._saved_at = self.seen
        if not self.master:
            self.watch.restart(self.step, self.seen)  # rank 0 reads its own watch; this one's is not needed
            return None
        self.metrics.sync()  # flushed by _fault_before_saving; durable before the checkpoint that follows them
        path = ck.save(self.out, self._state_dict(rng_ranks, log_acc))
        if self.background is not None:
            self.background.wait()  # the last evaluation may still read a checkpoint the pruning removes
        self._prune(path)
        self._plot()
        if self._signal is None:  # not while stopping on Ctrl-C
            self._evaluate_checkpoint()
        return path

    def _evaluate_checkpoint(self) -> None:
        """The science of this checkpoint, not only the loss: here, or in a process of its own
        while training goes on (:mod:`runner.train.background`)."""
        if not self.options.evaluate:
            return
        from runner.science.evaluate import eval_dir, evaluate_in_run

        seed = self.spec.training.seed
        if self.background is not None:
            path = self.out / ck.checkpoint_name(self.seen)
            self.background.start(path, eval_dir(self.out, self.seen), seed, self.device.type)
        else:
            evaluate_in_run(self.raw_model, self.spec, self.test_data, self.out, self.seen,
                            device=self.device, seed=seed, warn=self._say, label=self.label,
                            precision=self.fast.precision)

    def _plot(self) -> None:
        from runner.science.figures import plot_curves

        try:
            plot_curves(self.out / runlog.CURVES, self.metrics.records, title=f"{self.label}: {self.seen:,} samples")
        except Exception as exc:  # a figure must never stop a run
            self._say(f"runner: warning: could not draw {runlog.CURVES}: {exc}")

    # --- ending ---------------------------------------------------------------------------------

    def _finish(self, end: int) -> int:
        if not self.master:
            return EXIT_INTERRUPTED if self._signal else EXIT_OK
        if self.background is not None:
            self.background.wait()  # the last checkpoint's evaluation: the folder is complete when the run ends
        self.progress.close()
        where = f"{self.seen:,} samples, {self.step:,} steps, {self._elapsed():.0f} s"
        if self._signal is not None:
            self._say(f"runner: interrupted at {where}; checkpoint written. Resume with:\n  {resume_hint(self.command, self.out)}")
            return 128 + self._signal
        if self.seen < end:
            self._say(f"runner: stopped at {where} (--max-samples); checkpoint written. Continue with:\n  {resume_hint(self.command, self.out)}")
            return EXIT_OK
        tests = [r["elbo"] for r in self.metrics.records if r["split"] == "test" and r.get("elbo") is not None]
        change = f"; test ELBO {tests[0]:.4g} at first -> {statistics.median(tests[-10:]):.4g} (median of the last {min(10, len(tests))})" if tests else ""
        self._say(f"runner: done: {where}{change}; {self.out}")
        return EXIT_OK

    def cleanup(self) -> None:
        if self.background is not None:
            self.background.wait()
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        self._old_handlers.clear()
        if self.progress is not None:
            self.progress.close()
        if self.metrics is not None:
            try:
                self.metrics.close()
            except OSError:  # the disk that refused a write refuses this one too; already reported
                pass
        self.lock.release()
        if self.data is None:  # the store this run opened: closed, so that the file is free again
            for split in (getattr(self, "train_data", None), getattr(self, "test_data", None)):
                if hasattr(getattr(split, "store", None), "close"):
                    split.store.close()
        if dist.is_available() and dist.is_initialized():
            if sys.exc_info()[0] is None:  # every process reached the same end: leave together, so that
                dist.barrier()  # none tears down the group (or its store) under another still using it
            dist.destroy_process_group()

    # --- helpers --------------------------------------------------------------------------------

    def _indices(self, data, split: str, size: int):
        """The split's next ``size`` sample indices: a device tensor for data held on the device
        (no copy per batch), numpy for data read on the host."""
        sampler = self.samplers[split]
        return sampler.next_on(size, self.device) if getattr(data, "device", None) == self.device else sampler.next(size)

    def _batch(self, data, indices) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = data.batch(indices)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def _stop_at(self) -> int:
        end = self.schedule.end()
        return end if self.max_samples is None else min(end, self.schedule.first_start(self.max_samples))

    def _elapsed(self) -> float:
        return self.elapsed0 + time.monotonic() - self.t0

    def _note(self, text: str) -> None:
        if not self.quiet:
            self._say(text)

    def _say(self, text: str) -> None:
        if not self.master:
            return
        if self.progress is not None:
            self.progress.write(text)
        else:
            print(text, file=sys.stderr)


def eval_seed(seed: int, seen: int) -> int:
    """The seed of an evaluation's latent noise: a function of the run's seed and the position only."""
    return (seed * 0x9E3779B97F4A7C15 + seen) % (1 << 63)
