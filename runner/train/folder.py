"""The run folder: which checkpoint a run resumes, whether the data is the run's own, what the
folder holds when a run starts (lock, spec, environment, options, metrics), what it keeps.

:class:`RunFolder` never touches the model: it hands the recipe the checkpoint to start from and
takes back the files to write. Rank 0 decides (it alone reads and writes the folder's files) and
every process gets its verdict (:func:`agree`), so a refusal stops them all with one message.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch.distributed as dist

import archspec
from archspec.language.dump import spec_hash, to_data
from runner import checkpoint as ck
from runner.data.identity import store_identity
from runner.kinds.likelihood import CONSTANT_KEY, record_constant
from runner.runtime import RunError, disk_error_line, remove_stale_temporaries
from runner.train import runlog
from runner.train.options import RunOptions
from runner.train.resume import check_same_data, check_same_run, resume_hint
from runner.train.retention import prune


def agree(decide: Callable[[], Any], master: bool, world: int) -> Any:
    """Rank 0's ``decide()`` (a picklable result), given to every process; a refusal (RunError,
    DataError) stops them all with rank 0's message."""
    from runner.data.layout import DataError

    verdict: list = [None, None]  # [error, result]
    if master:
        try:
            verdict[1] = decide()
        except (RunError, DataError) as exc:
            verdict[0] = (type(exc), str(exc))
    if world > 1:
        dist.broadcast_object_list(verdict, src=0)
    if verdict[0] is not None:
        raise verdict[0][0](verdict[0][1])
    return verdict[1]


class RunFolder:
    """One run's folder, as one process sees it (only rank 0, ``master``, writes into it).

    Args:
        out: the folder; spec: the run's (checked) spec; options: the run options.
        resume, accept_data_change: the invocation's choices (``runner train --resume ...``).
        command: the command line, for command.txt and the resume hint.
        say, note: print a line (a warning; a note that --quiet silences).
    """

    def __init__(
        self,
        out: Path,
        spec,
        options: RunOptions,
        *,
        resume: bool,
        accept_data_change: bool,
        command: Sequence[str] | None,
        master: bool,
        world: int,
        say: Callable[[str], None],
        note: Callable[[str], None],
    ):
        self.out, self.spec, self.options = out, spec, options
        self.resume, self.accept_data_change, self.command = resume, accept_data_change, command
        self.master, self.world, self._say, self._note = master, world, say, note
        self.lock = runlog.RunLock(out)
        self._start_over = False  # a folder whose run never checkpointed: cleared once the lock is held

    def checkpoint_to_resume(self) -> dict | None:
        """The checkpoint to resume from on this process (None: a new run), after the checks."""
        state = None  # rank 0's checkpoint, read once; a local, so it is freed when setup ends

        def choose():
            nonlocal state
            path, state = self._choose_checkpoint()
            return path

        path = agree(choose, self.master, self.world)
        if path is None:
            return None
        return state if self.master else ck.read(Path(path))

    def data_identity(self, train_data, resuming: bool) -> dict | None:
        """The identity of the store the run trains on, on every process; checked by rank 0
        against the one the folder recorded when resuming (:func:`runner.train.resume.check_same_data`)."""

        def identify() -> dict | None:
            store = getattr(train_data, "store", None)
            if getattr(store, "path", None) is None:
                return None  # data given in memory
            identity = store_identity(store.path)
            if resuming:
                for line in check_same_data(runlog.read_data_identity(self.out), identity, self.accept_data_change):
                    (self._say if "warning" in line else self._note)(line)
            return identity

        return agree(identify, self.master, self.world)

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
                raise RunError(
                    f"{out} holds a run of another spec (spec_hash {saved}, this one {spec_hash(self.spec)}) "
                    f"that never wrote a checkpoint; remove {out} or choose another --out"
                )
            self._start_over = True  # said and done once the lock is held (a live run is refused first)
            return None, None
        try:
            state, path = ck.read_latest(out, warn=lambda m: print(m, file=sys.stderr))
        except ck.CheckpointError as exc:
            raise RunError(f"cannot resume: {exc}; remove {out} or choose another --out to start anew") from None
        if ck.KEY_IMPORTED in state:  # no optimizer, sampler or RNG state to continue from
            raise RunError(
                f"cannot resume {path}: it holds a model imported from {state[ck.KEY_IMPORTED].get('source')} "
                f"(runner import-original), which paints and evaluates but has no training state; "
                f"choose another --out to train"
            )
        try:  # the run's spec under today's schema: a field added since takes its default on both sides
            saved, notes = archspec.load_saved(state[ck.KEY_SPEC], label=str(path))
        except archspec.SpecError as exc:
            raise RunError(
                f"cannot resume {path}: its spec is not valid with this archspec ({exc.problems[0].format()})"
            ) from None
        for line in [f"runner: {n}" for n in notes] + check_same_run(
            to_data(saved), to_data(self.spec), path, self.out / runlog.SPEC, data_change_ok=self.accept_data_change
        ):
            self._note(line)
        return str(path), state

    def start(
        self,
        *,
        kind,
        seen: int,
        step: int,
        resumed: bool,
        device,
        resolved: dict,
        data_identity: dict | None,
        stop_at: int,
    ) -> tuple[runlog.Metrics, runlog.Progress, dict]:
        """Rank 0, as training starts: lock the folder, clear what a dead run left, record the
        spec, environment, command, options and data. Returns the metrics log, the progress
        display and what each metrics record says of its log-likelihood constant."""
        self.out.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()  # before anything is removed: a live run in the folder is refused here
        if self._start_over:
            self._say(f"runner: {self.out} holds a run that never wrote a checkpoint: starting it over")
            runlog.clear_attempt(self.out)
        for path in remove_stale_temporaries(self.out, depth=2):  # the run folder and eval/<N>/
            self._note(f"runner: removed {path.relative_to(self.out)}, left by a write that was killed")
        runlog.write_spec(self.out, self.spec)
        runlog.write_env(self.out, device, self.world)
        runlog.append_command(self.out, self.command)
        self.options.write(self.out, resolved=resolved)
        if data_identity is not None:
            runlog.write_data_identity(self.out, data_identity)
        metrics = runlog.Metrics(self.out, kind.terms, resume_at=seen if resumed else None)
        constant = record_constant(kind.terms, self.spec.model.shapes)
        if resumed and constant and metrics.records and CONSTANT_KEY not in metrics.records[-1]:
            self._say(
                f"runner: warning: the metrics up to {seen:,} samples were logged without the original's "
                f"constant in the log-likelihood; from here on the ELBO includes it "
                f"({constant[CONSTANT_KEY]:.3f} nats), so the curve steps down by that much"
            )
        seconds, samples = self.options.progress_interval()
        progress = runlog.Progress(
            total=stop_at,
            initial=seen,
            enabled=not self.options.quiet,
            every_seconds=seconds,
            every_samples=samples,
            name=self.options.label or self.spec.name,
        )
        if resumed:
            self._note(f"runner: resuming {self.out} at {seen:,} samples (step {step:,})")
        return metrics, progress, constant

    def prune(self, newest: Path) -> None:
        """Retention (run options keep_last, keep_every): old checkpoints and eval/<N>/ folders."""
        o = self.options
        for gone in prune(
            self.out, o.keep_last, o.keep_every * self.spec.training.checkpoint.every, protect=newest.name
        ):
            self._note(
                f"runner: removed {gone.relative_to(self.out)} (--keep-last {o.keep_last}, --keep-every {o.keep_every})"
            )

    def last_good_name(self) -> str | None:
        """The checkpoint ``latest`` names (every one written is finite), if any."""
        found = ck.candidates(self.out) if self.out.is_dir() else []
        return found[0].name if found else None

    def resume_hint(self) -> str:
        return resume_hint(self.command, self.out)

    def disk_error_message(self, exc: OSError) -> str:
        """One line for a write the disk refused: what, why, what is still good, how to go on."""
        last = self.last_good_name()
        kept = f"the last checkpoint, {last}, is intact" if last else "no checkpoint was written"
        return f"{disk_error_line(exc, where=self.out)}; {kept}; once fixed, continue with: {self.resume_hint()}"
