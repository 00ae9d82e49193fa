"""DDP on CPUs as on several machines: two torchrun agents (two "nodes" of one gloo process
each) meet at a c10d rendezvous endpoint, share each global batch, rank 0 logs and checkpoints,
and the run resumes on one process where it stopped; stopped and resumed on two processes it
ends bit for bit where an uninterrupted run does. Plus the rule for batches smaller than the
number of processes, and ``runner data prepare`` (the store made before the ranks start)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from runner import checkpoint as ck
from runner.runtime import RunError
from runner.train.schedule import Schedule, check_world_size
from tests.spec_texts import TINY_CGAN


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_nodes(args: list[str], env: dict) -> list[subprocess.CompletedProcess]:
    """``torchrun --nnodes 2 --nproc_per_node 1`` twice on this machine, as on two nodes."""
    endpoint = f"127.0.0.1:{free_port()}"
    agent = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "2",
        "--nproc_per_node",
        "1",
        "--rdzv_backend",
        "c10d",
        "--rdzv_endpoint",
        endpoint,
        "--rdzv_id",
        "archspec-test",
        "--local_addr",
        "127.0.0.1",
    ]
    procs = [
        subprocess.Popen(agent + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


# slow (20-47 s: two torchrun agents at a c10d endpoint, then a resume on one): .ci/run runs the
# slow suite after the default one, so CI still trains under torchrun every time
@pytest.mark.slow
def test_two_nodes_at_a_rendezvous_endpoint_then_resume_on_one(tiny, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    prepared = subprocess.run(
        [sys.executable, "-m", "runner", "data", "prepare", str(tiny), "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert prepared.returncode == 0, prepared.stderr
    assert prepared.stdout.strip().endswith(".h5") and os.path.isfile(prepared.stdout.strip())
    args = ["-m", "runner", "train", str(tiny), "--out", str(run), "--quiet", "--device", "cpu", "--sync-every", "3"]
    agents = two_nodes(args + ["--max-samples", "100"], env)
    assert all(a.returncode == 0 for a in agents), [a.stderr[-2000:] for a in agents]
    assert sum(a.stderr.count("stopped at 104 samples") for a in agents) == 1  # rank 0 alone speaks
    state = ck.read(run / "checkpoint-104.pt")
    assert state[ck.KEY_WORLD_SIZE] == 2 and state[ck.KEY_STEP] == 80 // 4 + 24 // 8  # batches of 4 to 80, then of 8
    assert state[ck.KEY_SAMPLERS]["train"]["drawn"] == 104  # global draws, not per process
    train = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["split"] == "train"]
    assert train[0]["n"] == 24  # the records average the global batches, not one process's share
    out = subprocess.run([sys.executable] + args + ["--resume"], capture_output=True, text=True, timeout=1800, env=env)
    assert out.returncode == 0, out.stderr
    final = ck.read(ck.candidates(run)[0])
    assert final[ck.KEY_WORLD_SIZE] == 1 and final[ck.KEY_SAMPLES] == 488
    samples = [json.loads(line)["sample"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert samples == sorted(samples) and samples[-1] == 488
    assert all(torch.isfinite(v).all() for v in final[ck.KEY_MODEL].values() if v.is_floating_point())


@pytest.fixture(params=["cvae", "cgan"])
def spec_file(request, tiny, tmp_path):
    """The tiny CVAE, or the tiny conditional GAN on its data (two phases, two optimizers: DDP
    must not wait for the gradients the discriminator's phase never gives the generator)."""
    if request.param == "cvae":
        return tiny
    path = tmp_path / "tiny_cgan.yaml"
    path.write_text(TINY_CGAN)
    return path


@pytest.mark.slow
def test_two_processes_stopped_and_resumed_on_two_equal_the_uninterrupted_run(spec_file, tmp_path):
    """Every process's random state is in the checkpoint: rank 1's latent noise continues where it stopped."""
    tiny = spec_file
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]

    def train(run, *extra):
        args = [
            "-m",
            "runner",
            "train",
            str(tiny),
            "--quiet",
            "--device",
            "cpu",
            "--no-eval",
            "--keep-last",
            "0",
            "--set",
            "training.samples=120",
            "--set",
            "training.checkpoint.every=40",
            "--set",
            "training.log_every=16",
            "--out",
            str(run),
            *extra,
        ]
        out = subprocess.run(torchrun + args, capture_output=True, text=True, timeout=180, env=env)
        assert out.returncode == 0, out.stderr

    train(tmp_path / "whole")
    train(tmp_path / "parts", "--max-samples", "40")
    stopped = ck.read(tmp_path / "parts" / "checkpoint-40.pt")
    assert len(stopped[ck.KEY_RNG_RANKS]) == 2 and not torch.equal(
        stopped[ck.KEY_RNG_RANKS][1]["torch"], stopped[ck.KEY_RNG]["torch"]
    )
    train(tmp_path / "parts", "--resume")
    a, b = ck.read(tmp_path / "whole" / "checkpoint-120.pt"), ck.read(tmp_path / "parts" / "checkpoint-120.pt")
    for key in a[ck.KEY_MODEL]:
        assert torch.equal(a[ck.KEY_MODEL][key], b[ck.KEY_MODEL][key]), key
    assert all(
        torch.equal(x, y)
        for x, y in zip(a[ck.KEY_RNG_RANKS][1].values(), b[ck.KEY_RNG_RANKS][1].values())
        if isinstance(x, torch.Tensor)
    )

    # and the metrics: a record accumulating across the stop (logged every 16 samples, stopped at 40)
    # holds every process's sums, not rank 0's counted twice
    def records(run):
        lines = (run / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in lines]

    whole, parts = records(tmp_path / "whole"), records(tmp_path / "parts")
    assert [(r["sample"], r["split"]) for r in whole] == [(r["sample"], r["split"]) for r in parts]
    for r, q in zip(whole, parts):  # numbers to 1e-6, everything else ('split': 'train') exactly
        assert r.keys() == q.keys(), (r, q)
        numbers = [k for k, v in r.items() if isinstance(v, float)]
        assert [r[k] for k in numbers] == pytest.approx([q[k] for k in numbers], rel=1e-6), (r, q)
        assert {k: v for k, v in r.items() if k not in numbers} == {k: v for k, v in q.items() if k not in numbers}


def test_batches_smaller_than_the_processes_are_refused_with_the_rule():
    schedule = Schedule(
        samples=1000, batch_steps=((0, 4), (80, 8)), lr_start=1e-3, lr_factor=0.1, lr_milestones=(), lr_min=0.0
    )
    check_world_size(schedule, 4)  # one sample per process: allowed
    with pytest.raises(RunError) as info:
        check_world_size(schedule, 5)
    message = str(info.value)
    assert "5 processes need global batches of at least 5" in message and "batches of 4 (from sample 0)" in message
    assert "run at most 4 processes" in message
