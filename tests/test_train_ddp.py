"""DDP on CPUs: two gloo processes under torchrun share each global batch, rank 0 logs and
checkpoints, and the run resumes on one process where it stopped (README: the paper run)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from runner import checkpoint as ck

pytestmark = pytest.mark.slow  # two torchrun processes, then a resume: ~20 s


def test_two_gloo_processes_then_resume_on_one(tiny, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    args = ["-m", "runner", "train", str(tiny), "--out", str(run), "--quiet", "--device", "cpu"]
    out = subprocess.run(torchrun + args + ["--max-samples", "100"], capture_output=True, text=True, timeout=1800, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("stopped at 104 samples") == 1  # rank 0 alone speaks
    state = ck.read(run / "checkpoint-104.pt")
    assert state[ck.KEY_WORLD_SIZE] == 2 and state[ck.KEY_STEP] == 80 // 4 + 24 // 8  # batches of 4 to 80, then of 8
    assert state[ck.KEY_SAMPLERS]["train"]["drawn"] == 104  # global draws, not per process
    out = subprocess.run([sys.executable] + args + ["--resume"], capture_output=True, text=True, timeout=1800, env=env)
    assert out.returncode == 0, out.stderr
    final = ck.read(ck.candidates(run)[0])
    assert final[ck.KEY_WORLD_SIZE] == 1 and final[ck.KEY_SAMPLES] == 488
    samples = [json.loads(line)["sample"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert samples == sorted(samples) and samples[-1] == 488
    assert all(torch.isfinite(v).all() for v in final[ck.KEY_MODEL].values() if v.is_floating_point())


@pytest.mark.slow
def test_two_processes_stopped_and_resumed_on_two_equal_the_uninterrupted_run(tiny, tmp_path):
    """Every process's random state is in the checkpoint: rank 1's latent noise continues where it stopped."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]

    def train(run, *extra):
        args = ["-m", "runner", "train", str(tiny), "--quiet", "--device", "cpu", "--no-eval", "--keep-last", "0",
                "--set", "training.samples=120", "--set", "training.checkpoint.every=40", "--out", str(run), *extra]
        out = subprocess.run(torchrun + args, capture_output=True, text=True, timeout=180, env=env)
        assert out.returncode == 0, out.stderr

    train(tmp_path / "whole")
    train(tmp_path / "parts", "--max-samples", "40")
    stopped = ck.read(tmp_path / "parts" / "checkpoint-40.pt")
    assert len(stopped[ck.KEY_RNG_RANKS]) == 2 and not torch.equal(stopped[ck.KEY_RNG_RANKS][1]["torch"], stopped[ck.KEY_RNG]["torch"])
    train(tmp_path / "parts", "--resume")
    a, b = ck.read(tmp_path / "whole" / "checkpoint-120.pt"), ck.read(tmp_path / "parts" / "checkpoint-120.pt")
    for key in a[ck.KEY_MODEL]:
        assert torch.equal(a[ck.KEY_MODEL][key], b[ck.KEY_MODEL][key]), key
    assert all(torch.equal(x, y) for x, y in zip(a[ck.KEY_RNG_RANKS][1].values(), b[ck.KEY_RNG_RANKS][1].values())
               if isinstance(x, torch.Tensor))
