"""A NaN or inf in the loss or the gradients: the run stops naming the step, the samples and the
term, never checkpoints the poisoned weights, or (run option) rolls back with a lower learning
rate. NaNs are injected into the cvae's ELBO at a chosen training step."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import archspec
from runner import checkpoint as ck
from runner.kinds import cvae
from runner.train.guard import GRAD, FiniteWatch
from runner.train.recipe import train
from runner.train.recovery import NonFiniteError
from tests.readme import quoted

# The tiny spec's schedule: batches of 4 up to 80 samples, so step k (from 1) trains samples 4(k-1) to 4k;
# checkpoints at 12, 24, 36 and 48.
OVERRIDES = [
    "training.samples=48",
    "training.checkpoint.every=12",
    "training.evaluation.every=12",
    "training.log_every=6",
]


class InfGradient(torch.autograd.Function):
    """The identity forward; an infinite gradient backward (an overflow in backward, the loss finite)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * math.inf


def inject(monkeypatch, steps, how: str = "nan") -> list[int]:
    """Poison the ELBO of the training steps in ``steps`` (1-based calls with gradients on:
    evaluation runs without them); returns the list of training calls seen."""
    calls: list[int] = []
    real = cvae.elbo

    def elbo(out, x, beta=1.0, *args, **kwargs):
        terms, objective = real(out, x, beta, *args, **kwargs)
        if not torch.is_grad_enabled():
            return terms, objective
        calls.append(len(calls) + 1)
        if calls[-1] not in steps:
            return terms, objective
        loglik = terms.loglik * torch.tensor(math.nan) if how == "nan" else InfGradient.apply(terms.loglik)
        return cvae.ELBO(loglik - terms.kl, loglik, terms.kl), loglik - beta * terms.kl

    monkeypatch.setattr(cvae, "elbo", elbo)
    return calls


def run_tiny(tiny, run: Path, **options) -> int:
    return train(archspec.load(tiny, OVERRIDES), run, quiet=True, evaluate=False, keep_last=0, **options)


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_nan_loss_stops_the_run_naming_step_samples_and_term(tiny, tmp_path, monkeypatch):
    inject(monkeypatch, {5})
    run = tmp_path / "run"
    with pytest.raises(NonFiniteError) as err:
        run_tiny(tiny, run, command=["runner", "train", str(tiny), "--out", str(run)])
    text = str(err.value)
    assert "step 5 (samples 16 to 20)" in text and "the log-likelihood is nan" in text, text
    assert "checkpoint-12.pt" in text and "--on-nonfinite rollback" in text and "\n" not in text
    assert quoted("runner: error: non-finite").fullmatch(f"runner: error: {text}")  # as the README quotes it
    assert [p.name for p in ck.candidates(run)] == ["checkpoint-12.pt"]  # nothing written after the NaN
    assert (run / ck.LATEST).read_text().strip() == "checkpoint-12.pt"


def test_an_infinite_gradient_with_a_finite_loss_is_named_as_such(tiny, tmp_path, monkeypatch):
    inject(monkeypatch, {4}, how="inf-gradient")
    with pytest.raises(
        NonFiniteError,
        match=r"step 4 \(samples 12 to 16\): the gradient norm is (inf|nan) "
        r"\(ELBO -?[0-9.e+]+, log-likelihood -?[0-9.e+]+, KL [0-9.e+-]+\)",
    ):
        run_tiny(tiny, tmp_path / "run")
    assert [p.name for p in ck.candidates(tmp_path / "run")] == ["checkpoint-12.pt"]


def test_rollback_retrains_from_the_last_good_checkpoint_with_half_the_lr(tiny, tmp_path, monkeypatch, capsys):
    calls = inject(monkeypatch, {5})  # the 5th training call only: the retrained step 5 is clean
    run = tmp_path / "run"
    assert run_tiny(tiny, run, on_nonfinite="rollback") == 0
    err = capsys.readouterr().err
    assert "step 5 (samples 16 to 20)" in err and "rolling back to checkpoint-12.pt (12 samples)" in err
    assert "learning rate x 0.5" in err
    assert len(calls) > 12  # steps 4 and 5 (and whatever ran before the fault was read) were trained again
    final = ck.read(run / "checkpoint-48.pt")
    assert final[ck.KEY_LR_SCALE] == 0.5 and not ck.nonfinite_entries(final[ck.KEY_MODEL])
    rs = records(run)
    assert len({(r["sample"], r["split"]) for r in rs}) == len(rs)  # no record of the abandoned stretch is left
    assert all(r[k] is not None for r in rs for k in ("elbo", "loglik", "kl"))
    train_lr = {r["sample"]: r["lr"] for r in rs if r["split"] == "train"}
    assert train_lr[12] == 3e-3 and train_lr[20] == 1.5e-3  # the spec's lr before the rollback, half after it


def test_rollbacks_that_do_not_help_stop_the_run(tiny, tmp_path, monkeypatch):
    inject(monkeypatch, set(range(5, 10_000)))  # every step from the 5th on
    with pytest.raises(NonFiniteError, match=r"3 rollback\(s\) with a lower learning rate did not help"):
        run_tiny(tiny, tmp_path / "run", on_nonfinite="rollback")
    assert ck.read(tmp_path / "run" / "checkpoint-12.pt")[ck.KEY_LR_SCALE] == 1.0


def test_a_checkpoint_with_nan_weights_is_refused_and_the_previous_one_used(tmp_path):
    good = {
        ck.KEY_FORMAT: ck.FORMAT,
        ck.KEY_FORMAT_VERSION: ck.FORMAT_VERSION,
        ck.KEY_MODEL: {"w": torch.ones(3)},
        ck.KEY_OPTIMIZER: {},
        ck.KEY_SAMPLES: 8,
        ck.KEY_STEP: 2,
        ck.KEY_SAMPLERS: {},
        ck.KEY_RNG: {},
        ck.KEY_SPEC: {},
        ck.KEY_SPEC_HASH: "",
        ck.KEY_VERSIONS: {},
    }
    ck.save(tmp_path, good)
    ck.save(tmp_path, {**good, ck.KEY_SAMPLES: 16, ck.KEY_MODEL: {"w": torch.tensor([1.0, math.nan, 2.0])}})
    with pytest.raises(ck.CheckpointError, match=r"checkpoint-16.pt: non-finite weights \(NaN or inf\) in w"):
        ck.read(tmp_path / "checkpoint-16.pt")
    warnings = []
    state, path = ck.read_latest(tmp_path, warn=warnings.append)
    assert path.name == "checkpoint-8.pt" and "non-finite" in warnings[0]


# --- the watch itself, against a plain loop ---------------------------------------------------------

values = st.one_of(st.floats(-1e3, 1e3), st.sampled_from([math.nan, math.inf, -math.inf]))


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(1, 12), st.lists(values, min_size=3, max_size=3)), min_size=1, max_size=12),
    read_at=st.sets(st.integers(0, 12)),
)
def test_the_watch_names_the_first_bad_step_of_each_window(steps, read_at):
    names = ("elbo", "loglik", GRAD)
    watch, seen, found = FiniteWatch(names, torch.device("cpu")), 0, []
    expected, first = [], None
    for i, (size, vals) in enumerate(steps, start=1):
        before, seen = seen, seen + size
        watch.step(torch.tensor(vals), seen)
        if first is None and not all(math.isfinite(v) for v in vals):
            first = (i, before, seen, vals)
        if i in read_at or i == len(steps):
            fault = watch.read()
            found.append(None if fault is None else (fault.step, *fault.samples, list(fault.values.values())))
            expected.append(
                None if first is None else [*first[:3], [float(torch.tensor(v, dtype=torch.float32)) for v in first[3]]]
            )
            if first is not None:
                break  # a run acts on its first fault
    for f, e in zip(found, expected):
        if e is None:
            assert f is None
        else:
            assert f[:3] == tuple(e[:3])
            assert all((a == b) or (math.isnan(a) and math.isnan(b)) for a, b in zip(f[3], e[3]))


def test_a_nan_at_step_1_leaves_a_folder_its_own_advice_continues(tiny, tmp_path, monkeypatch, capsys):
    """No checkpoint before the NaN: the message's `--resume --on-nonfinite rollback` must not
    meet 'no checkpoint in RUN' (issue 19: the folder was a dead end)."""
    inject(monkeypatch, {1})
    run = tmp_path / "run"
    with pytest.raises(NonFiniteError) as err:
        run_tiny(tiny, run, command=["runner", "train", str(tiny), "--out", str(run)])
    assert "--resume --on-nonfinite rollback" in str(err.value) and not ck.candidates(run)
    monkeypatch.undo()  # the retry trains clean
    assert run_tiny(tiny, run, resume=True, on_nonfinite="rollback") == 0
    assert "never wrote a checkpoint: starting it over" in capsys.readouterr().err
    assert ck.candidates(run)
