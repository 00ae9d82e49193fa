"""Run options: what changes how fast a run goes or what it leaves behind, never what it trains.

The spec (model, data, training) is a run's identity: it is hashed, saved in every checkpoint,
and a resume refuses any change to it but ``training.samples``. Run options are not: they come
from the command line of each invocation (``runner train --device cuda --data-on-device``), are
recorded in ``<run>/options.json`` next to ``command.txt``, and may differ from one invocation of
a run to the next. The rule: an option belongs here when two runs that differ only in it train
the same function (up to floating-point rounding), and in the spec otherwise.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from runner.runtime import write_text_atomic

OPTIONS = "options.json"  # in the run folder: the options of the latest invocation


class RunOptions(BaseModel):
    """The options of one invocation of ``runner train``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when available")
    data_on_device: bool = Field(False, description="hold both splits on the training device and assemble batches there")
    evaluate: bool = Field(True, description="spectra and figures of every checkpoint into <run>/eval/<samples>/")
    quiet: bool = Field(False, description="no progress bar and no notes; warnings and the final line only")
    label: str | None = Field(None, max_length=200, description="the run's name in figure titles (default: the spec's name)")
    keep_last: int = Field(3, ge=0, description="checkpoints (and eval/<N>/ folders) kept: the newest this many; 0 keeps all")
    keep_every: int = Field(5, ge=0, description="also keep every this-many-th checkpoint (and its eval/<N>/); 0: none")
    on_nonfinite: Literal["stop", "rollback"] = Field(
        "stop", description="a NaN/inf loss or gradient: stop, or go back to the last good checkpoint with a lower lr")
    rollback_lr_factor: float = Field(0.5, gt=0, lt=1, description="each rollback multiplies the learning rate by this")
    max_rollbacks: int = Field(3, ge=1, description="rollbacks allowed in one invocation before the run stops")

    def write(self, run_dir: Path) -> None:
        write_text_atomic(Path(run_dir) / OPTIONS, json.dumps(self.model_dump(), indent=2) + "\n")


def split_options(options: dict) -> tuple[RunOptions, dict]:
    """(the RunOptions among ``options``, the rest): lets ``train(spec, out, quiet=True, ...)``
    take run options and invocation arguments as keywords alike."""
    fields = RunOptions.model_fields
    return RunOptions(**{k: v for k, v in options.items() if k in fields}), {k: v for k, v in options.items() if k not in fields}
