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

from pydantic import BaseModel, ConfigDict, Field, field_validator

from runner.runtime import write_text_atomic

OPTIONS = "options.json"  # in the run folder: the options of the latest invocation


class RunOptions(BaseModel):
    """The options of one invocation of ``runner train``.

    The one definition of every run option: ``runner train``'s flags are made from these fields
    (:func:`runner.cli.args.add_model_options`): the flag is the field's name with dashes, or
    ``flag`` in ``json_schema_extra``; its help is the description; ``cli: False`` keeps a field
    off the command line. Descriptions are written for the user reading ``--help``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when available (default)")
    data_on_device: bool | None = Field(
        None,
        description="hold both data splits on the training device and assemble batches there "
        "(default: on a GPU when they take at most half its free memory)",
    )
    precision: Literal["auto", "fp32", "tf32", "bf16"] = Field(
        "auto",
        description="bf16 autocast (the loss stays fp32), tf32 (CUDA) or fp32; auto: bf16 on CUDA and on CPUs "
        "with native bf16, else fp32",
    )
    # The fast path (runner.train.fastpath): None is the device's default, decided there.
    compile: bool | None = Field(None, description="torch.compile each batch size's step (default: on CUDA)")
    cuda_graphs: bool | None = Field(
        None, description="replay compiled steps as CUDA graphs (default: with --compile on CUDA, one process)"
    )
    channels_last: bool | None = Field(
        None, description="NHWC memory layout for the model and its inputs (default: on)"
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads per process (default: the cores available, shared among the node's processes)",
        json_schema_extra={"metavar": "N"},
    )
    sync_every: int | None = Field(
        None,
        ge=1,
        description="under DDP, steps between checks of the stop flag (Ctrl-C, SIGTERM): each waits for the "
        "device (default: 16 on CUDA, 1 on the CPU)",
        json_schema_extra={"metavar": "K"},
    )
    progress_every: str = Field(
        "60s",
        description="away from a terminal, a progress line on stderr every N seconds (60s, the default) or N "
        "samples (5000)",
        json_schema_extra={"metavar": "N[s]"},
    )
    quiet: bool = Field(False, description="no progress bar; only warnings and the final line")
    label: str | None = Field(
        None,
        max_length=200,
        description="the run's name in figure titles and comparisons (default: the spec's name, and the --set "
        "overrides if any)",
        json_schema_extra={"metavar": "TEXT"},
    )
    evaluate: bool = Field(
        True,
        description="skip the spectra and figures written into <run>/eval/<samples>/ at each checkpoint",
        json_schema_extra={"flag": "--no-eval"},
    )
    keep_last: int = Field(
        3,
        ge=0,
        description="keep the newest K checkpoints and eval/<N>/ folders (default 3; 0 keeps all)",
        json_schema_extra={"metavar": "K"},
    )
    keep_every: int = Field(
        5,
        ge=0,
        description="also keep every M-th checkpoint and its eval/<N>/ (default 5; 0: none)",
        json_schema_extra={"metavar": "M"},
    )
    on_nonfinite: Literal["stop", "rollback"] = Field(
        "stop",
        description="a NaN/inf loss or gradient: stop (default), or go back to the last good checkpoint with "
        "the learning rate halved (up to 3 times)",
    )
    rollback_lr_factor: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="each rollback multiplies the learning rate by this",
        json_schema_extra={"cli": False},
    )
    max_rollbacks: int = Field(
        3,
        ge=1,
        description="rollbacks allowed in one invocation before the run stops",
        json_schema_extra={"cli": False},
    )
    eval_in_background: bool | None = Field(
        None,
        description="evaluate each checkpoint in a `runner evaluate` process while training goes on (default: on "
        "CUDA, where the CPU cores are spare; off on the CPU, where it would take the training's cores)",
    )

    @field_validator("progress_every")
    @classmethod
    def _seconds_or_samples(cls, text: str) -> str:
        if not re.fullmatch(r"[1-9][0-9]*s?", text.strip()):
            raise ValueError(f"expected seconds like 60s or a number of samples like 5000. Received: {text!r}")
        return text.strip()

    def progress_interval(self) -> tuple[float | None, int | None]:
        """(seconds, samples) between progress lines; one of the two is None."""
        number = int(re.sub("s$", "", self.progress_every))
        return (float(number), None) if self.progress_every.endswith("s") else (None, number)

    def write(self, run_dir: Path, resolved: dict[str, Any] | None = None) -> None:
        """options.json: the options as given, and (``resolved``) what their defaults became on this machine."""
        record = {**self.model_dump(), **({"resolved": resolved} if resolved else {})}
        write_text_atomic(Path(run_dir) / OPTIONS, json.dumps(record, indent=2) + "\n")
