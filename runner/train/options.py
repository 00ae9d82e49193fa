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
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from runner.runtime import write_text_atomic

OPTIONS = "options.json"  # in the run folder: the options of the latest invocation


class RunOptions(BaseModel):
    """The options of one invocation of ``runner train``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when available")
    data_on_device: bool | None = Field(None, description="hold both splits on the training device and assemble "
                                        "batches there; None (auto): on a GPU when they take at most half its free memory")
    evaluate: bool = Field(True, description="spectra and figures of every checkpoint into <run>/eval/<samples>/")
    quiet: bool = Field(False, description="no progress bar and no notes; warnings and the final line only")
    label: str | None = Field(None, max_length=200, description="the run's name in figure titles (default: the spec's name)")
    keep_last: int = Field(3, ge=0, description="checkpoints (and eval/<N>/ folders) kept: the newest this many; 0 keeps all")
    keep_every: int = Field(5, ge=0, description="also keep every this-many-th checkpoint (and its eval/<N>/); 0: none")
    on_nonfinite: Literal["stop", "rollback"] = Field(
        "stop", description="a NaN/inf loss or gradient: stop, or go back to the last good checkpoint with a lower lr")
    rollback_lr_factor: float = Field(0.5, gt=0, lt=1, description="each rollback multiplies the learning rate by this")
    max_rollbacks: int = Field(3, ge=1, description="rollbacks allowed in one invocation before the run stops")
    eval_in_background: bool | None = Field(None, description="run each checkpoint's evaluation as a `runner evaluate` "
                                            "process while training goes on; None: on CUDA (spare CPU cores), "
                                            "off on the CPU (it would take the training's cores)")
    # The fast path (runner.train.fastpath): None / "auto" is the device's default, decided there.
    precision: Literal["auto", "fp32", "tf32", "bf16"] = Field(
        "auto", description="arithmetic of the model's convolutions: bf16 autocast (the loss stays fp32), tf32 "
                            "(CUDA), or fp32; auto: bf16 on CUDA, and on CPUs with native bf16 dot products")
    channels_last: bool | None = Field(None, description="NHWC memory layout for the model and its inputs; None: on")
    compile: bool | None = Field(None, description="torch.compile the loss and forward, once per batch size; "
                                                   "None: on CUDA, off on the CPU")
    cuda_graphs: bool | None = Field(None, description="replay each compiled step as a CUDA graph; None: on with "
                                                       "compile on CUDA in one process")
    threads: int | None = Field(None, ge=1, description="CPU threads of each process; None: the cores this process "
                                                        "may use (affinity, cgroup quota) divided by its node's processes")
    sync_every: int | None = Field(None, ge=1, description="steps between the checks of the stop flag that every "
                                   "process must agree on (DDP); each waits for the device once; None: 16 on CUDA, "
                                   "1 on the CPU (where it costs nothing)")
    progress_every: str = Field("60s", pattern=r"^[1-9][0-9]*s?$",
                                description="away from a terminal, one progress line on stderr every N seconds "
                                            "('60s') or N samples ('5000')")

    def progress_interval(self) -> tuple[float | None, int | None]:
        """(seconds, samples) between progress lines; one of the two is None."""
        number = int(re.sub("s$", "", self.progress_every))
        return (float(number), None) if self.progress_every.endswith("s") else (None, number)

    def write(self, run_dir: Path, resolved: dict[str, Any] | None = None) -> None:
        """options.json: the options as given, and (``resolved``) what their defaults became on this machine."""
        record = {**self.model_dump(), **({"resolved": resolved} if resolved else {})}
        write_text_atomic(Path(run_dir) / OPTIONS, json.dumps(record, indent=2) + "\n")


def split_options(options: dict) -> tuple[RunOptions, dict]:
    """(the RunOptions among ``options``, the rest): lets ``train(spec, out, quiet=True, ...)``
    take run options and invocation arguments as keywords alike."""
    fields = RunOptions.model_fields
    return RunOptions(**{k: v for k, v in options.items() if k in fields}), {k: v for k, v in options.items() if k not in fields}
