"""The training loop: a small recipe (setup, train, evaluate, save_checkpoint, cleanup).

One process, on the CPU or a GPU::

    runner train specs/quickstart.yaml --out runs/quick
    runner train specs/paper_cvae.yaml --out runs/paper --device cuda

Several processes with DistributedDataParallel (torchrun sets RANK and WORLD_SIZE; gloo on CPUs,
NCCL on GPUs). Samples seen and the schedule are global: each process trains on its share of
every global batch, and a run resumes on any number of processes::

    torchrun --standalone --nproc_per_node 4 -m runner train specs/paper_cvae.yaml --out runs/paper

Every ``evaluation.every`` training samples the test ELBO of one batch of
``evaluation.batch_size`` test samples is measured in eval mode, with its own sampler and its
own latent noise (the training stream of random numbers does not depend on the evaluation
cadence). Train metrics are averaged over the samples since the previous record.
"""
from __future__ import annotations

import os
import random
import signal
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.distributed as dist

import archspec
from archspec.load import to_data
from runner import checkpoint as ck
from runner.data.open import open_data
from runner.data.samples import Sampler
from runner.data.transforms import transforms_config
from runner.kinds import KINDS
from runner.runtime import RunError, init_distributed, seeded
from runner.train import runlog
from runner.train.options import RunOptions, split_options
from runner.train.resume import check_same_run, resume_hint
from runner.train.schedule import Schedule, crossed, split_batch

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
    finally:
        recipe.cleanup()


class Recipe:
    """Training of one spec into one run folder.

    Args:
        spec: a validated spec.
        out: the run folder.
        options: the run options (device, data on device, evaluation, quiet): how the run goes,
            never what it trains (:mod:`runner.train.options`).
        max_samples: stop this invocation at the first batch boundary at or after this many
            samples seen, with a checkpoint; the spec (and its end) are unchanged.
        resume: continue from the folder's last good checkpoint.
        command: the command line, for command.txt and the resume hint.
        data: (train, test) datasets with ``len()`` and ``batch(indices)``, instead of the spec's.
    """

    def __init__(self, spec, out: Path, *, options: RunOptions = RunOptions(), max_samples: int | None = None,
                 resume: bool = False, command: Sequence[str] | None = None, data: tuple | None = None):
        self.spec, self.out, self.options = spec, out, options
        self.kind = KINDS.get(spec.model.kind)  # how this kind trains and paints
        self.label = options.label or spec.name  # in figure titles
        self.max_samples, self.resume, self.quiet = max_samples, resume, options.quiet
        self.command = list(command) if command is not None else None
        self.data = data
        self.metrics: runlog.Metrics | None = None
        self.progress: runlog.Progress | None = None
        self._signal: int | None = None
        self._old_handlers: dict[int, Any] = {}
        self._saved_at = -1
        self.master = True  # until setup knows the process's rank

    # --- setup --------------------------------------------------------------------------------

    def setup(self) -> None:
        t = self.spec.training
        self.rank, self.world, self.device = init_distributed(self.options.device)
        self.master = self.rank == 0  # logs, evaluates and checkpoints
        self.schedule = Schedule.from_training(t)
        smallest = min(size for _, size in self.schedule.batch_steps)
        if smallest < self.world:
            raise RunError(f"every process needs a sample of every batch: the smallest batch size is {smallest}, "
                           f"with {self.world} processes")
        if self.max_samples is not None and self.max_samples < 1:
            raise RunError(f"max_samples must be at least 1, not {self.max_samples}")
        self.stop_at = self._stop_at()  # before anything is written into the folder
        state = self._checked_folder()
        progress = self.master and not self.quiet and sys.stderr.isatty()
        self.train_data, self.test_data = self.data or open_data(
            self.spec, self.device, on_device=self.options.data_on_device, master=self.master, distributed=self.world > 1,
            progress=progress)
        self.samplers = {"train": Sampler(len(self.train_data), t.seed), "test": Sampler(len(self.test_data), t.seed + 1)}
        self._build()
        self.seen, self.step, self.elapsed0 = 0, 0, 0.0
        # the kind's terms ([elbo, loglik, kl] for a cvae) summed over the samples since the last record
        self.acc, self.acc_n = torch.zeros(len(self.kind.terms), device=self.device), 0
        if state is not None:
            self._restore(state)
        elif self.rank > 0:
            torch.manual_seed(t.seed + 7919 * self.rank)  # each process draws its own latent noise
        resumed = state is not None
        del state  # its CPU copy of the model and optimizer is not kept for the run
        self.model = self.raw_model
        if self.world > 1:  # DDP: gradients are averaged over processes in backward()
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(self.raw_model, device_ids=device_ids)
        self.t0 = time.monotonic()
        if self.master and self.seen < self.schedule.end():  # a finished run's folder is left as it is
            self._start_folder(resumed=resumed)
        self._install_signals()

    def _build(self) -> None:
        """The model (weights from the seed, identical on every process) and an optimizer per
        phase of its kind (one, "model", for a cvae or a regression)."""
        t = self.spec.training
        torch.manual_seed(t.seed)
        np.random.seed(t.seed % 2**32)
        random.seed(t.seed)
        self.raw_model = archspec.build(self.spec).to(self.device).train()
        optimizer = torch.optim.AdamW if t.optimizer.name == "AdamW" else torch.optim.Adam
        self.optimizers = {phase.optimizer: optimizer(phase.params(self.raw_model), lr=t.lr.start, betas=tuple(t.optimizer.betas),
                                                      weight_decay=t.optimizer.weight_decay)
                           for phase in self.kind.phases}

    def _checked_folder(self) -> dict | None:
        """The checkpoint to resume from (None: a new run), after the checks; every process
        gets rank 0's verdict, so a refusal stops them all with the same message."""
        verdict: list = [None, None]  # [error, checkpoint path]
        state = None  # rank 0's checkpoint, read once; a local, so it is freed when setup ends
        if self.master:
            try:
                verdict[1], state = self._choose_checkpoint()
            except RunError as exc:
                verdict[0] = str(exc)
        if self.world > 1:
            dist.broadcast_object_list(verdict, src=0)
        if verdict[0] is not None:
            raise RunError(verdict[0])
        if verdict[1] is None:
            return None
        return state if self.master else ck.read(Path(verdict[1]))

    def _choose_checkpoint(self) -> tuple[str | None, dict | None]:
        """Rank 0: (the path of the checkpoint to resume, its state), or (None, None) for a new run."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise RunError(f"{out} is a file, not a run folder; choose another --out")
        if not self.resume:
            if not runlog.is_empty(out):
                raise RunError(f"{out} already holds a run; continue it with --resume, or choose another --out")
            return None, None
        if runlog.is_empty(out):
            self._note(f"runner: nothing to resume in {out}: starting a new run")
            return None, None
        try:
            state, path = ck.read_latest(out, warn=lambda m: print(m, file=sys.stderr))
        except ck.CheckpointError as exc:
            raise RunError(f"cannot resume: {exc}; remove {out} or choose another --out to start anew") from None
        try:  # the run's spec under today's schema: a field added since takes its default on both sides
            saved, notes = archspec.load_saved(state[ck.KEY_SPEC], label=str(path))
        except archspec.SpecError as exc:
            raise RunError(f"cannot resume {path}: its spec is not valid with this archspec ({exc.problems[0].format()})") from None
        for note in [f"runner: {n}" for n in notes] + check_same_run(to_data(saved), to_data(self.spec), path, self.out / runlog.SPEC):
            self._note(note)
        return str(path), state

    def _restore(self, state: dict) -> None:
        self.raw_model.load_state_dict(state[ck.KEY_MODEL])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(ck.optimizer_state(state, name, len(self.optimizers)))
        for name, split_sampler in self.samplers.items():
            try:
                split_sampler.load_state_dict(state[ck.KEY_SAMPLERS][name])
            except ValueError as exc:
                raise RunError(f"cannot resume: {exc}") from None
        self.seen, self.step = int(state[ck.KEY_SAMPLES]), int(state[ck.KEY_STEP])
        self.elapsed0 = float(state.get(ck.KEY_ELAPSED, 0.0))
        log = state.get(ck.KEY_LOG_STATE) or {}
        if "acc" in log:
            self.acc, self.acc_n = log["acc"].to(self.device), int(log["n"])
        if self.rank == 0:
            ck.set_rng_state(state[ck.KEY_RNG])
        else:  # other processes' streams are not saved: derive them from where the run is
            torch.manual_seed(self.spec.training.seed + 7919 * self.rank + self.seen)

    def _start_folder(self, resumed: bool) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        runlog.write_spec(self.out, self.spec)
        runlog.write_env(self.out, self.device, self.world)
        runlog.append_command(self.out, self.command)
        self.options.write(self.out)
        self.metrics = runlog.Metrics(self.out, self.kind.terms, resume_at=self.seen if resumed else None)
        self.progress = runlog.Progress(total=self.stop_at, initial=self.seen, enabled=not self.quiet)
        if resumed:
            self._note(f"runner: resuming {self.out} at {self.seen:,} samples (step {self.step:,})")

    # --- the loop -------------------------------------------------------------------------------

    def train(self) -> int:
        stop_at, end = self.stop_at, self.schedule.end()
        if self.seen >= end:
            self._say(f"runner: {self.out} has trained {self.seen:,} samples, the spec asks for "
                      f"{self.spec.training.samples:,}: nothing to do")
            return EXIT_OK
        while self.seen < stop_at and not self._stop_requested():
            before = self.seen
            self._train_step()
            self._after_step(before)
        if self.seen != self._saved_at:
            self.save_checkpoint()
        return self._finish(end)

    def _train_step(self) -> None:
        self.batch_size = size = self.schedule.batch_size(self.seen)
        self.lr = lr = self.schedule.lr(self.seen)
        indices = self.samplers["train"].next(size)  # the global batch: the same on every process
        lo, hi = split_batch(size, self.rank, self.world)  # this process's share of it
        x, y = self._batch(self.train_data, indices[lo:hi])  # (n, 1, T, T), (n, 2, T, T)
        terms = []
        for phase in self.kind.phases:  # one for a cvae: the negative ELBO, every parameter
            optimizer = self.optimizers[phase.optimizer]
            for group in optimizer.param_groups:
                group["lr"] = lr
            objective, phase_terms = phase.loss(self.model, x, y, self.spec.training.beta)
            # Each process averages over its share; DDP averages over processes: weigh to the global mean.
            optimizer.zero_grad(set_to_none=True)
            (objective * ((hi - lo) * self.world / size)).backward()
            optimizer.step()
            terms.append(phase_terms)
        self.acc.add_(torch.cat(terms), alpha=hi - lo)  # no device sync: read at the next record
        self.acc_n += hi - lo
        self.seen += size
        self.step += 1

    def _after_step(self, before: int) -> None:
        t = self.spec.training
        if self.master:
            self.progress.update(self.seen - before)
            if crossed(before, self.seen, t.evaluation.every):
                self._record("test", self.evaluate(), t.evaluation.batch_size)
        if crossed(before, self.seen, t.log_every):
            self._log_train()
        if self.master and crossed(before, self.seen, t.checkpoint.every):
            self.save_checkpoint()

    def _log_train(self) -> None:
        acc = self.acc.clone()
        n = self.acc_n
        if self.world > 1:  # sum over processes (every process logs at the same step)
            packed = torch.cat([acc, torch.tensor([float(n)], device=self.device)])
            dist.all_reduce(packed)
            acc, n = packed[:-1], int(packed[-1].item())
        if self.master and n:
            self._record("train", acc / n, n)
        self.acc.zero_()
        self.acc_n = 0

    def _record(self, split: str, terms: torch.Tensor, n: int) -> None:
        """Queue a metrics record at this step boundary; ``terms`` stays on the device until a flush."""
        record = {"sample": self.seen, "step": self.step, "split": split, "n": n, "lr": self.lr,
                  "batch_size": self.batch_size, "time": round(self._elapsed(), 3)}
        self.progress.show(self.metrics.add(record, terms))

    def evaluate(self) -> torch.Tensor:
        """The kind's terms (the test ELBO's for a cvae) on the device, of one batch of test
        samples, in eval mode."""
        t = self.spec.training
        model = self.raw_model  # not the DDP wrapper: only rank 0 evaluates
        model.train(False)  # eval mode: BatchNorm uses its running statistics, not the test batch
        with torch.inference_mode(), seeded(self.device, eval_seed(t.seed, self.seen)):  # its own latent noise
            x, y = self._batch(self.test_data, self.samplers["test"].next(t.evaluation.batch_size))
            terms = torch.cat([phase.loss(model, x, y, t.beta)[1] for phase in self.kind.phases])
        model.train()
        return terms

    # --- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        """Write a checkpoint at this step boundary (rank 0), flush the metrics, redraw the curves."""
        if not self.master:
            return self.out
        path = ck.save(self.out, self._state_dict())
        self._saved_at = self.seen
        self.progress.show(self.metrics.flush())
        self._plot()
        if self.options.evaluate and self._signal is None:  # not while stopping on Ctrl-C
            from runner.science.evaluate import evaluate_in_run  # the science of this checkpoint, not only the loss

            evaluate_in_run(self.raw_model, self.spec, self.test_data, self.out, self.seen,
                            device=self.device, seed=self.spec.training.seed, warn=self._say, label=self.label)
        return path

    def _state_dict(self) -> dict[str, Any]:
        return {
            ck.KEY_FORMAT: ck.FORMAT,
            ck.KEY_FORMAT_VERSION: ck.FORMAT_VERSION,
            ck.KEY_MODEL: ck.unwrap(self.model).state_dict(),
            ck.KEY_OPTIMIZER: ck.optimizer_states({name: opt.state_dict() for name, opt in self.optimizers.items()}),
            ck.KEY_SAMPLES: self.seen,
            ck.KEY_STEP: self.step,
            ck.KEY_SAMPLERS: {name: s.state_dict() for name, s in self.samplers.items()},
            ck.KEY_RNG: ck.rng_state(),
            ck.KEY_SPEC: to_data(self.spec),
            ck.KEY_SPEC_HASH: archspec.spec_hash(self.spec),
            ck.KEY_VERSIONS: ck.versions(),
            ck.KEY_ELAPSED: self._elapsed(),
            ck.KEY_LOG_STATE: {"acc": self.acc.cpu(), "n": self.acc_n},
            ck.KEY_WORLD_SIZE: self.world,
            **({ck.KEY_TRANSFORMS: transforms} if (transforms := transforms_config(self.train_data)) else {}),
        }

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
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        self._old_handlers.clear()
        if self.progress is not None:
            self.progress.close()
        if self.metrics is not None:
            self.metrics.close()
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()

    # --- helpers --------------------------------------------------------------------------------

    def _batch(self, data, indices) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = data.batch(indices)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def _stop_at(self) -> int:
        end = self.schedule.end()
        return end if self.max_samples is None else min(end, self.schedule.first_start(self.max_samples))

    def _elapsed(self) -> float:
        return self.elapsed0 + time.monotonic() - self.t0

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
        if self.world == 1:
            return self._signal is not None
        flag = torch.tensor([0 if self._signal is None else self._signal], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # every process stops at the same step
        signum = int(flag.item())  # one device sync per step
        if signum and self._signal is None:
            self._signal = signum
        return bool(signum)

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
