"""scripts/slurm/train.sbatch, run as SLURM would run it on one node of two tasks: stand-ins for
``srun`` (runs its command here) and ``scontrol`` (names this machine); torchrun is the real one,
with two gloo processes on the CPU."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from runner import checkpoint as ck

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "slurm" / "train.sbatch"


def stand_in(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_sbatch_script_prepares_the_data_once_then_trains_on_every_task(tiny, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in(bin_dir, "srun", 'while [[ $1 == --* ]]; do shift; done\nexec "$@"')  # options are all --k=v
    stand_in(bin_dir, "scontrol", "echo 127.0.0.1")
    stand_in(bin_dir, "python", f'exec {sys.executable} "$@"')
    stand_in(bin_dir, "torchrun", f'exec {sys.executable} -m torch.distributed.run "$@"')
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "OMP_NUM_THREADS": "1",
        "SLURM_JOB_NODELIST": "127.0.0.1",
        "SLURM_JOB_NUM_NODES": "1",
        "SLURM_GPUS_ON_NODE": "2",
        "SLURM_JOB_ID": "4242",
        "RDZV_PORT": str(free_port()),
    }
    run = tmp_path / "runs" / "tiny"
    out = subprocess.run(
        [
            "bash",
            str(SCRIPT),
            str(tiny),
            str(run),
            "--device",
            "cpu",
            "--quiet",
            "--max-samples",
            "48",
            "--set",
            "training.seed=5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[0].endswith(".h5")  # runner data prepare printed the store
    state = ck.read(run / "checkpoint-48.pt")
    assert state[ck.KEY_WORLD_SIZE] == 2 and state[ck.KEY_SPEC]["training"]["seed"] == 5
    assert out.stderr.count("stopped at 48 samples") == 1


@pytest.mark.slow
def test_a_requeued_job_preempted_before_its_first_checkpoint_starts_over(tiny, tmp_path):
    """The script's promise, "--resume on an empty RUN_DIR starts the run: fine for requeues", for a
    RUN_DIR the preempted job had started (spec and metrics written, no checkpoint yet)."""
    import json

    import archspec
    from archspec.language.dump import dump_resolved

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in(bin_dir, "srun", 'while [[ $1 == --* ]]; do shift; done\nexec "$@"')
    stand_in(bin_dir, "scontrol", "echo 127.0.0.1")
    stand_in(bin_dir, "python", f'exec {sys.executable} "$@"')
    stand_in(bin_dir, "torchrun", f'exec {sys.executable} -m torch.distributed.run "$@"')
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "OMP_NUM_THREADS": "1",
        "SLURM_JOB_NODELIST": "127.0.0.1",
        "SLURM_JOB_NUM_NODES": "1",
        "SLURM_GPUS_ON_NODE": "2",
        "SLURM_JOB_ID": "4243",
        "RDZV_PORT": str(free_port()),
    }
    run = tmp_path / "runs" / "tiny"
    run.mkdir(parents=True)
    (run / "spec.yaml").write_text(dump_resolved(archspec.load(tiny)))  # what the preempted job left
    (run / "metrics.jsonl").write_text(json.dumps({"stale": True, "split": "train"}) + "\n")
    out = subprocess.run(
        [
            "bash",
            str(SCRIPT),
            str(tiny),
            str(run),
            "--device",
            "cpu",
            "--quiet",
            "--no-eval",
            "--max-samples",
            "48",
            "--resume",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "never wrote a checkpoint: starting it over" in out.stderr
    assert ck.read(run / "checkpoint-48.pt")[ck.KEY_WORLD_SIZE] == 2
    assert "stale" not in (run / "metrics.jsonl").read_text()
