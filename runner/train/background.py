"""A checkpoint's evaluation in a process of its own, while training goes on.

At every checkpoint the run paints test tiles and draws spectra and figures into
``<run>/eval/<samples>/`` (:func:`runner.science.evaluate.evaluate_in_run`). On a CPU that is
done in the training process. On a GPU a few seconds of CPU work at every checkpoint would cost
a fast run a large share of its time, so (run option ``eval_in_background``, the default on
CUDA) the run starts ``runner evaluate CHECKPOINT`` as a child process on the checkpoint it has
just written, atomically, and trains on: the child has its own random streams, so the training
is the same either way. One evaluation runs at a time (the next checkpoint waits for the last),
and the run waits for the last one before it ends, so a finished run's folder is complete.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from runner.science.protocol import QUICK_TILES

# torchrun's variables: the child is one process of its own, not a rank of the run
TORCHRUN_VARS = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "GROUP_WORLD_SIZE",
    "ROLE_RANK",
    "ROLE_WORLD_SIZE",
    "ROLE_NAME",
    "MASTER_ADDR",
    "MASTER_PORT",
)


class BackgroundEvaluation:
    """``runner evaluate`` child processes, one at a time; ``warn`` reports a failed one."""

    def __init__(self, warn: Callable[[str], None]):
        self.warn = warn
        self.proc: subprocess.Popen | None = None
        self.label = ""

    def start(self, checkpoint: Path, out: Path, seed: int, device: str) -> None:
        self.wait()
        cmd = [
            sys.executable,
            "-m",
            "runner",
            "evaluate",
            str(checkpoint),
            "--out",
            str(out),
            "--tiles",
            str(QUICK_TILES),
            "--seed",
            str(seed),
            "--device",
            device,
            "--force",
        ]
        env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS and not k.startswith("TORCHELASTIC_")}
        # a session of its own: the Ctrl-C or SIGTERM that asks the run to checkpoint and stop must not
        # kill the evaluation half-way (the run waits for it before it ends)
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
        )
        self.label = checkpoint.name

    def wait(self) -> None:
        """Wait for the running evaluation, if any; a failure is a warning, never fatal to training."""
        if self.proc is None:
            return
        _, err = self.proc.communicate()
        if self.proc.returncode != 0:
            last = (err or "").strip().splitlines()[-1:] or [f"exit status {self.proc.returncode}"]
            self.warn(f"runner: warning: the evaluation of {self.label} failed: {last[0]}")
        self.proc = None
