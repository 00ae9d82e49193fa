"""The science of each checkpoint: spectra and figures into ``<run>/eval/<N>/`` (run option
``evaluate``, ``--no-eval`` to skip), measured in the training process or, with
``eval_in_background`` (the default on CUDA), by a ``runner evaluate`` child while training goes
on (:mod:`runner.train.background`); and the loss curves redrawn at each checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runner import checkpoint as ck
from runner.train import runlog
from runner.train.background import BackgroundEvaluation
from runner.train.options import RunOptions


class CheckpointScience:
    """What a run measures of its checkpoints beyond the loss (rank 0 only)."""

    def __init__(
        self, spec, out: Path, options: RunOptions, *, device, precision: str, label: str, say: Callable[[str], None]
    ):
        self.spec, self.out, self.options, self.device, self.precision = spec, out, options, device, precision
        self.label, self._say = label, say
        self._validation = None  # the validation split, opened at the first calibration that needs it
        background = options.eval_in_background
        in_background = background if background is not None else device.type == "cuda"
        self.background = BackgroundEvaluation(say) if in_background else None

    def calibrate(self, model, train_data):
        """The calibration of the painting the spec asks for (``training.calibration``), fitted by
        the model as it is now on the validation slices (``data.validation_slices``) or, where the
        spec names none, on training tiles; or None. Its random draws are its own: the training's
        streams are untouched, so a resumed run stays bit-identical."""
        if self.spec.training.calibration == "none":
            return None
        from runner.kinds import KINDS
        from runner.science.calibration import fit_model

        kind = KINDS.get(self.spec.model.kind)
        try:
            if self._validation is None and self.spec.data.validation_slices:
                from runner.data.open import open_validation

                self._validation = open_validation(self.spec, train_data.store)  # the store already open
            data = self._validation if self._validation is not None else train_data
            return fit_model(
                model, kind, data, device=self.device, precision=self.precision, seed=self.spec.training.seed
            )
        except Exception as exc:  # noqa: BLE001 - a painting's calibration must never stop a run
            self._say(
                f"runner: warning: the calibration of the painting failed ({type(exc).__name__}: {exc}); "
                "this checkpoint paints the network's raw output"
            )
            return None

    def measure(self, model, test_data, seen: int, calibration=None) -> dict | None:
        """The spectra and figures of the checkpoint at ``seen`` samples (nothing with --no-eval),
        painted through ``calibration`` (the one the checkpoint holds); its summary, or None
        (no evaluation, a failed one, or one a background child writes later)."""
        if not self.options.evaluate:
            return None
        from runner.science.evaluate import eval_dir, evaluate_in_run

        seed = self.spec.training.seed
        if self.background is not None:
            self.background.start(self.out / ck.checkpoint_name(seen), eval_dir(self.out, seen), seed, self.device.type)
            return None  # its summary is written by the child, later
        return evaluate_in_run(
            model,
            self.spec,
            test_data,
            self.out,
            seen,
            device=self.device,
            seed=seed,
            warn=self._say,
            label=self.label,
            precision=self.precision,
            calibration=calibration,
        )

    def measure_if_missing(self, model, test_data, seen: int, saved_calibration=None) -> None:
        """The science of the checkpoint a run resumes from, when a kill cut it short, painted
        through the calibration that checkpoint holds (``saved_calibration``, its saved form)."""
        from runner.science.calibration import Calibration, CalibrationError
        from runner.science.evaluate import eval_dir

        if self.options.evaluate and not (eval_dir(self.out, seen) / "summary.json").is_file():
            try:
                calibration = Calibration.from_state(saved_calibration) if saved_calibration is not None else None
            except CalibrationError as exc:  # painting refuses such a checkpoint; resuming need not stop
                self._say(f"runner: warning: the checkpoint's calibration table is malformed ({exc}); not evaluated")
                return
            self.measure(model, test_data, seen, calibration)

    def draw_curves(self, records: list, seen: int) -> None:
        from runner.science.figures import plot_curves

        try:
            plot_curves(self.out / runlog.CURVES, records, title=f"{self.label}: {seen:,} samples")
        except Exception as exc:  # a figure must never stop a run
            self._say(f"runner: warning: could not draw {runlog.CURVES}: {exc}")

    def wait(self) -> None:
        """Until the child measuring the last checkpoint is done (it may read a checkpoint that
        pruning would remove; a run's folder is complete when it ends)."""
        if self.background is not None:
            self.background.wait()
