"""The fast path: the defaults each device gets, the compile fallback, the optimizer on a device
lr, threads, and the bf16 path's numerics against fp32 (CPU autocast here; the same code runs on
CUDA, where bench/gpu.sh runs this file with ARCHSPEC_TEST_DEVICE=cuda)."""

from __future__ import annotations

import copy
import math
import os

import pytest
import torch

import archspec
from runner.kinds import KINDS
from runner.runtime import RunError, cgroup_cpu_quota, cpu_threads
from runner.train.fastpath import FastPath, decide
from runner.train.options import RunOptions
from runner.train.step import Compiled, Step, is_compile_error, plain_optimizer_state
from tests.spec_texts import TINY_SPEC

DEVICE = torch.device(os.environ.get("ARCHSPEC_TEST_DEVICE", "cpu"))  # the device-dependent tests run here


def fast_for(device: str, world: int = 1, bf16_native: bool = True, **options) -> FastPath:
    return decide(RunOptions(**options), device, world, bf16_native=bf16_native, cuda_bf16=True, cuda_tf32=True)


# --- the decisions ------------------------------------------------------------------------------


def test_cuda_defaults_are_the_whole_fast_path():
    f = fast_for("cuda")
    assert (f.precision, f.channels_last, f.compile, f.cuda_graphs, f.fused_optimizer) == (
        "bf16",
        True,
        True,
        True,
        True,
    )
    assert f.sync_every == 16 and fast_for("cuda", sync_every=4).sync_every == 4
    assert not fast_for("cuda", world=2).cuda_graphs  # DDP's collectives run inside backward
    assert fast_for("cuda", compile=False).cuda_graphs is False
    old_gpu = decide(RunOptions(), "cuda", 1, cuda_bf16=False, cuda_tf32=False)
    assert old_gpu.precision == "fp32"


def test_cpu_defaults_follow_the_cpu():
    assert fast_for("cpu", bf16_native=True).precision == "bf16"
    f = fast_for("cpu", bf16_native=False)
    assert (f.precision, f.compile, f.cuda_graphs, f.fused_optimizer, f.sync_every) == ("fp32", False, False, False, 1)
    assert fast_for("cpu", precision="fp32", channels_last=False, compile=True).describe()["compile"] is True


@pytest.mark.parametrize(
    "device, options, words",
    [
        ("cpu", {"cuda_graphs": True}, "needs a CUDA device"),
        ("cuda", {"cuda_graphs": True, "compile": False}, "needs --compile"),
        ("cpu", {"precision": "tf32"}, "tf32"),
    ],
)
def test_impossible_combinations_are_refused_in_one_line(device, options, words):
    with pytest.raises(RunError, match=words):
        fast_for(device, **options)
    with pytest.raises(RunError, match="no bf16"):
        decide(RunOptions(precision="bf16"), "cuda", 1, cuda_bf16=False, cuda_tf32=True)


def test_options_record_the_fast_path_and_refuse_bad_values(tmp_path):
    import json

    RunOptions(precision="bf16", compile=False).write(tmp_path, resolved=fast_for("cpu").describe())
    written = json.loads((tmp_path / "options.json").read_text())
    assert written["precision"] == "bf16" and written["resolved"]["threads"] >= 1
    assert RunOptions(progress_every="30s").progress_interval() == (30.0, None)
    assert RunOptions(progress_every="5000").progress_interval() == (None, 5000)
    for bad in ({"progress_every": "0s"}, {"progress_every": "1m"}, {"threads": 0}, {"sync_every": 0}):
        with pytest.raises(ValueError):
            RunOptions(**bad)


# --- threads ------------------------------------------------------------------------------------


def test_threads_share_the_available_cores_among_a_nodes_processes(tmp_path, monkeypatch):
    quota = tmp_path / "cpu.max"
    quota.write_text("250000 100000\n")
    assert cgroup_cpu_quota(str(quota)) == 3  # 2.5 CPUs, rounded up
    quota.write_text("max 100000\n")
    assert cgroup_cpu_quota(str(quota)) is None
    assert cgroup_cpu_quota(str(tmp_path / "absent")) is None
    monkeypatch.setattr("runner.runtime.available_cores", lambda: 16)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert cpu_threads() == 16 and cpu_threads(7) == 7
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice
    assert cpu_threads() == 3
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what torchrun sets for every worker: not a guide
    assert cpu_threads() == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
    assert cpu_threads() == 1


# --- compile fallback -----------------------------------------------------------------------------


def test_a_failing_compiler_falls_back_with_one_message():
    said = []

    def broken_backend(graph, example_inputs):
        raise RuntimeError("no C++ compiler here")

    f = Compiled(lambda a: (a * 2).sum(), FastPath(compile=True), said.append, backend=broken_backend)
    a = torch.arange(4.0)
    assert f(a).item() == 12.0 and f(a + 1).item() == 20.0
    assert len(said) == 1 and "torch.compile failed" in said[0] and "no C++ compiler here" in said[0]
    assert not is_compile_error(ValueError("a model's own error")) and f.compiled is None


def test_a_models_own_error_is_not_swallowed_by_the_fallback():
    f = Compiled(lambda a: a @ a, FastPath(compile=False), print)
    with pytest.raises(RuntimeError):
        f(torch.ones(2, 3))


# --- the optimizer ------------------------------------------------------------------------------


def _tiny_spec():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "tiny.yaml"
        path.write_text(TINY_SPEC)
        return archspec.load(path)


def batch(n: int = 4, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 32, 32, generator=g).to(DEVICE), torch.rand(n, 2, 32, 32, generator=g).to(DEVICE)


def test_a_device_lr_trains_as_a_float_lr_and_checkpoints_as_a_float():
    spec = _tiny_spec()
    kind = KINDS.get("cvae")
    results, states = [], []
    for fused in (False, True):  # fused Adam with a tensor lr runs on CPUs too (torch >= 2.4)
        step = Step(kind, FastPath(fused_optimizer=fused, device_type=DEVICE.type), DEVICE, print)
        torch.manual_seed(0)
        model = archspec.build(spec).to(DEVICE).train()
        optimizers = step.optimizers(model, spec.training)
        lr = optimizers["model"].param_groups[0]["lr"]
        assert isinstance(lr, torch.Tensor) == fused
        for i, value in enumerate((1e-3, 1e-3, 3e-4)):
            step.set_lr(optimizers, value)
            torch.manual_seed(i)
            step.train(model, optimizers, *batch(seed=i), 1.0, 1.0)
        if fused:
            assert optimizers["model"].param_groups[0]["lr"] is lr and lr.item() == pytest.approx(3e-4)
        results.append([p.detach().clone() for p in model.parameters()])
        states.append(plain_optimizer_state(optimizers["model"].state_dict()))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert all(type(g["lr"]) is float for s in states for g in s["param_groups"])


def test_a_checkpoint_of_one_fast_path_resumes_on_another():
    spec = _tiny_spec()
    kind = KINDS.get("cvae")
    plain = Step(kind, FastPath(device_type=DEVICE.type), DEVICE, print)
    model = archspec.build(spec).to(DEVICE).train()
    optimizers = plain.optimizers(model, spec.training)
    plain.train(model, optimizers, *batch(), 1.0, 1.0)
    saved = copy.deepcopy(plain_optimizer_state(optimizers["model"].state_dict()))
    fused = Step(kind, FastPath(fused_optimizer=True, device_type=DEVICE.type), DEVICE, print)
    other = fused.optimizers(model, spec.training)
    lr = other["model"].param_groups[0]["lr"]
    fused.load_optimizer(other["model"], saved)
    group = other["model"].param_groups[0]
    assert group["lr"] is lr and group["fused"] is True  # this run's flags, the checkpoint's moments
    assert torch.equal(other["model"].state_dict()["state"][0]["exp_avg"], saved["state"][0]["exp_avg"])
    fused.set_lr(other, 5e-4)
    fused.train(model, other, *batch(seed=3), 1.0, 1.0)  # and it steps
    assert lr.item() == pytest.approx(5e-4)


@pytest.mark.parametrize("saved_cl,resumed_cl", [(True, False), (False, True)])
def test_a_fused_resume_after_a_change_of_memory_layout_steps_as_without_it(saved_cl, resumed_cl):
    # Adam's moments are saved in the layout they had; the fused kernel reads tensors as flat
    # memory, so a resume in the other layout must not pair a weight with another's moments.
    # The reference resumes in the saved layout; the two must take the same step.
    spec = _tiny_spec()
    kind = KINDS.get("cvae")
    torch.manual_seed(0)
    first = Step(kind, FastPath(fused_optimizer=True, channels_last=saved_cl, device_type=DEVICE.type), DEVICE, print)
    model = FastPath(channels_last=saved_cl).prepare(archspec.build(spec).to(DEVICE).train())
    optimizers = first.optimizers(model, spec.training)
    first.train(model, optimizers, *batch(), 1.0, 1.0)
    weights = copy.deepcopy(model.state_dict())
    saved = copy.deepcopy(plain_optimizer_state(optimizers["model"].state_dict()))
    after = []
    for cl in (saved_cl, resumed_cl):
        step = Step(kind, FastPath(fused_optimizer=True, channels_last=cl, device_type=DEVICE.type), DEVICE, print)
        resumed = archspec.build(spec).to(DEVICE)
        resumed.load_state_dict(weights)
        resumed = FastPath(channels_last=cl).prepare(resumed).train()
        opt = step.optimizers(resumed, spec.training)
        step.load_optimizer(opt["model"], copy.deepcopy(saved))
        torch.manual_seed(7)
        step.train(resumed, opt, *batch(seed=3), 1.0, 1.0)
        after.append([p.detach().contiguous() for p in resumed.parameters()])
    for reference, other in zip(*after):
        torch.testing.assert_close(other, reference, rtol=1e-4, atol=1e-5)


# --- numerics of bf16 -----------------------------------------------------------------------------


def test_the_loss_stays_fp32_under_bf16_autocast():
    spec = _tiny_spec()
    torch.manual_seed(0)
    model = archspec.build(spec).to(DEVICE).train()
    x, y = batch()
    with torch.autocast(DEVICE.type, dtype=torch.bfloat16):
        torch.manual_seed(5)
        objective, terms = KINDS.get("cvae").phases[0].loss(model, x, y, 1.0)
        torch.manual_seed(5)  # the same draw of z: the same outputs
        out = model(x, y)
    assert out.x_mean.dtype == torch.bfloat16  # the convolutions ran in bf16 ...
    assert objective.dtype == torch.float32 and terms.dtype == torch.float32  # ... the ELBO does not
    # fp64, by hand, with the original's constant: ½ ln 2π once per channel of x (docs/paper.md)
    expected = (
        -0.5 * (x.double() - out.x_mean.double()).square().flatten(1).sum(1) - x.shape[1] * 0.5 * math.log(2 * math.pi)
    ).mean()
    # fp32 sums of 1,024 pixels agree with fp64 to ~1e-7; bf16 sums (8 bits) would miss by ~1e-3
    assert abs(terms[1].item() - expected.item()) <= 1e-5 * abs(expected.item())


def test_bf16_training_reaches_the_elbo_of_fp32(tiny, tmp_path):
    """The same short run (240 samples, same seed, data and evaluation batches) in fp32 and in
    bf16 autocast. Tolerances: bf16 keeps 8 significant bits (0.4%), and the untrained model's
    ELBO averages that rounding over 1,024 pixels a sample, so the first evaluation agrees within
    0.5%. After training the trajectories have drifted apart (a test batch of 8 samples sees
    each model's own state), so the bf16 run must have made the fp32 run's progress -- from the
    first evaluation to the mean of the last three -- within 5% of it (measured: 0.1-0.4% on two
    mock stores; a seed changes the end point by ~10% of the level, ~0.5% of the progress)."""
    import json

    from runner.train.recipe import train

    spec = archspec.load(tiny, ["training.samples=240"])
    tests = {}
    for precision in ("fp32", "bf16"):
        run = tmp_path / precision
        assert (
            train(
                spec,
                run,
                quiet=True,
                evaluate=False,
                precision=precision,
                channels_last=False,
                device=DEVICE.type,
                compile=False,
            )
            == 0
        )
        assert json.loads((run / "options.json").read_text())["resolved"]["precision"] == precision
        records = map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
        tests[precision] = [r["elbo"] for r in records if r["split"] == "test"]
    fp32, bf16 = tests["fp32"], tests["bf16"]
    assert len(fp32) == len(bf16) == 10 and fp32 != bf16  # bf16 did run: not bit-identical to fp32
    assert abs(bf16[0] - fp32[0]) <= 0.005 * abs(fp32[0])
    last = {k: sum(v[-3:]) / 3 for k, v in tests.items()}
    progress = last["fp32"] - fp32[0]
    assert progress > 0.5 * abs(fp32[0])  # a run that learned
    assert abs(last["bf16"] - last["fp32"]) <= 0.05 * progress


# --- the evaluation twin ----------------------------------------------------------------------------


def test_the_evaluation_twin_computes_what_the_model_in_eval_mode_computes():
    """BatchNorm folded into the convolutions (the transposed ones too) and in-place activations
    give the eval-mode model's outputs, before and after further training, and leave the live
    model training."""
    from archspec.compile import EvalTwin

    spec = _tiny_spec()
    kind = KINDS.get("cvae")
    step = Step(kind, FastPath(device_type=DEVICE.type), DEVICE, print)
    torch.manual_seed(0)
    model = archspec.build(spec).to(DEVICE).train()
    optimizers = step.optimizers(model, spec.training)
    twin = EvalTwin(model)
    for round_ in range(2):
        for i in range(3):  # moves the weights and the running statistics
            step.train(model, optimizers, *batch(seed=10 * round_ + i), 1.0, 1.0)
        x, y = batch(seed=99)
        model.eval()
        with torch.no_grad():
            torch.manual_seed(7)
            expected = model(x, y)  # the module itself, in eval mode
        model.train()
        with torch.no_grad():
            torch.manual_seed(7)
            got = twin.refreshed()(x, y)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        assert model.training and not twin.model.training
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in twin.model.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_a_hook_between_backward_and_the_update_sees_the_gradients():
    spec = _tiny_spec()
    step = Step(KINDS.get("cvae"), FastPath(device_type=DEVICE.type), DEVICE, print)
    torch.manual_seed(0)
    model = archspec.build(spec).to(DEVICE).train()
    optimizers = step.optimizers(model, spec.training)
    before = [p.detach().clone() for p in model.parameters()]
    norm = lambda phase: torch.stack([p.grad.norm() for p in phase.params(model)]).norm()  # noqa: E731
    terms, norms = step.train(model, optimizers, *batch(), 1.0, 1.0, before_update=norm)
    assert terms.shape == (len(KINDS.get("cvae").terms),) and len(norms) == 1
    expected = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()  # the step leaves .grad as it was
    torch.testing.assert_close(norms[0], expected)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # and the update happened


@pytest.mark.slow
def test_the_compiled_path_trains_and_evaluates_without_falling_back(tiny, tmp_path, capsys):
    """torch.compile (inductor) of the training step and of the evaluation twin, as on a GPU by
    default: the run finishes with a test ELBO and no fallback message (minutes of compiling on a CPU)."""
    import json

    from runner.train.recipe import train

    spec = archspec.load(tiny)
    assert train(spec, tmp_path / "run", max_samples=24, evaluate=False, compile=True, device=DEVICE.type) == 0
    assert "torch.compile failed" not in capsys.readouterr().err
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["split"] for r in records] == ["test", "train"] and all(r["elbo"] is not None for r in records)
    assert json.loads((tmp_path / "run" / "options.json").read_text())["resolved"]["compile"] is True
