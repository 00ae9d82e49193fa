"""The run folder's side of a :class:`~runner.train.recipe.Recipe`: which checkpoint to resume,
whether the data is the run's own, what the folder holds when a run starts, what it keeps.

Rank 0 decides (it alone reads the folder's files and writes them) and every process gets its
verdict (:meth:`RunFolder._agree`), so a refusal stops them all with one message.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch.distributed as dist

import archspec
from archspec.dump import spec_hash, to_data
from runner import checkpoint as ck
from runner.data.identity import store_identity
from runner.kinds.likelihood import CONSTANT_KEY, record_constant
from runner.runtime import RunError, disk_error_line, remove_stale_temporaries
from runner.train import runlog
from runner.train.resume import check_same_data, check_same_run, resume_hint
from runner.train.retention import prune


class RunFolder:
    """Mixed into :class:`~runner.train.recipe.Recipe` (it uses the recipe's out, options,
    spec, master, world, seen and the like)."""

    def _agree(self, decide) -> Any:
        """Rank 0's ``decide()`` (a picklable result), given to every process; a refusal
        (RunError, DataError) stops them all with rank 0's message."""
        from runner.data.layout import DataError

        verdict: list = [None, None]  # [error, result]
        if self.master:
            try:
                verdict[1] = decide()
            except (RunError, DataError) as exc:
                verdict[0] = (type(exc), str(exc))
        if self.world > 1:
            dist.broadcast_object_list(verdict, src=0)
        if verdict[0] is not None:
            raise verdict[0][0](verdict[0][1])
        return verdict[1]

    def _checked_folder(self) -> dict | None:
        """The checkpoint to resume from (None: a new run), after the checks."""
        state = None  # rank 0's checkpoint, read once; a local, so it is freed when setup ends

        def choose():
            nonlocal state
            path, state = self._choose_checkpoint()
            return path

        path = self._agree(choose)
        if path is None:
            return None
        return state if self.master else ck.read(Path(path))

    def _checked_data(self, resuming: bool) -> dict | None:
        """Rank 0: the identity of the store the run trains on, checked against the one the run
        folder recorded when resuming (:func:`runner.train.resume.check_same_data`)."""
        store = getattr(self.train_data, "store", None)
        if getattr(store, "path", None) is None:
            return None  # data given in memory
        identity = store_identity(store.path)
        if resuming:
            for note in check_same_data(runlog.read_data_identity(self.out), identity, self.accept_data_change):
                (self._say if "warning" in note else self._note)(note)
        return identity

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
        if runlog.never_checkpointed(out):
            saved = runlog.saved_spec_hash(out)
            if saved is not None and saved != spec_hash(self.spec):
                raise RunError(f"{out} holds a run of another spec (spec_hash {saved}, this one {spec_hash(self.spec)}) "
                               f"that never wrote a checkpoint; remove {out} or choose another --out")
            self._start_over = True  # said and done once the lock is held (a live run is refused first)
            return None, None
        try:
            state, path = ck.read_latest(out, warn=lambda m: print(m, file=sys.stderr))
        except ck.CheckpointError as exc:
            raise RunError(f"cannot resume: {exc}; remove {out} or choose another --out to start anew") from None
        if ck.KEY_IMPORTED in state:  # no optimizer, sampler or RNG state to continue from
            raise RunError(f"cannot resume {path}: it holds a model imported from {state[ck.KEY_IMPORTED].get('source')} "
                           f"(runner import-original), which paints and evaluates but has no training state; "
                           f"choose another --out to train")
        try:  # the run's spec under today's schema: a field added since takes its default on both sides
            saved, notes = archspec.load_saved(state[ck.KEY_SPEC], label=str(path))
        except archspec.SpecError as exc:
            raise RunError(f"cannot resume {path}: its spec is not valid with this archspec ({exc.problems[0].format()})") from None
        for note in [f"runner: {n}" for n in notes] + check_same_run(to_data(saved), to_data(self.spec), path, self.out / runlog.SPEC,
                                                                        data_change_ok=self.accept_data_change):
            self._note(note)
        return str(path), state

    def _start_folder(self, resumed: bool) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()  # before anything is removed: a live run in the folder is refused here
        if getattr(self, "_start_over", False):
            self._say(f"runner: {self.out} holds a run that never wrote a checkpoint: starting it over")
            runlog.clear_attempt(self.out)
        for path in remove_stale_temporaries(self.out, depth=2):  # the run folder and eval/<N>/
            self._note(f"runner: removed {path.relative_to(self.out)}, left by a write that was killed")
        runlog.write_spec(self.out, self.spec)
        runlog.write_env(self.out, self.device, self.world)
        runlog.append_command(self.out, self.command)
        self.options.write(self.out, resolved=self.fast.describe())
        if self.data_identity is not None:
            runlog.write_data_identity(self.out, self.data_identity)
        self.metrics = runlog.Metrics(self.out, self.kind.terms, resume_at=self.seen if resumed else None)
        self._record_constant = record_constant(self.kind.terms, self.spec.model.shapes)
        if resumed and self._record_constant and self.metrics.records and CONSTANT_KEY not in self.metrics.records[-1]:
            self._say(f"runner: warning: the metrics up to {self.seen:,} samples were logged without the original's "
                      f"constant in the log-likelihood; from here on the ELBO includes it "
                      f"({self._record_constant[CONSTANT_KEY]:.3f} nats), so the curve steps down by that much")
        seconds, samples = self.options.progress_interval()
        self.progress = runlog.Progress(total=self.stop_at, initial=self.seen, enabled=not self.quiet,
                                        every_seconds=seconds, every_samples=samples)
        if resumed:
            self._note(f"runner: resuming {self.out} at {self.seen:,} samples (step {self.step:,})")
            self._evaluate_if_missing()

    def _evaluate_if_missing(self) -> None:
        """The evaluation of the checkpoint resumed from, when a kill cut it short."""
        from runner.science.evaluate import eval_dir

        if self.options.evaluate and not (eval_dir(self.out, self.seen) / "summary.json").is_file():
            self._evaluate_checkpoint()

    def _prune(self, newest: Path) -> None:
        """Retention (run options keep_last, keep_every): old checkpoints and eval/<N>/ folders."""
        o = self.options
        for gone in prune(self.out, o.keep_last, o.keep_every * self.spec.training.checkpoint.every, protect=newest.name):
            self._note(f"runner: removed {gone.relative_to(self.out)} (--keep-last {o.keep_last}, --keep-every {o.keep_every})")

    def _last_good_name(self) -> str | None:
        """The checkpoint ``latest`` names (every one written is finite), if any."""
        found = ck.candidates(self.out) if self.out.is_dir() else []
        return found[0].name if found else None

    def disk_error_message(self, exc: OSError) -> str:
        """One line for a write the disk refused: what, why, what is still good, how to go on."""
        last = self._last_good_name()
        kept = f"the last checkpoint, {last}, is intact" if last else "no checkpoint was written"
        return f"{disk_error_line(exc, where=self.out)}; {kept}; once fixed, continue with: {resume_hint(self.command, self.out)}"
