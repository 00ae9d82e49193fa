"""The calibration of the painting: E[p | painted t] per redshift, fitted, stored, applied.

Expected values come from closed forms written here: for t_true = f + ε with ε ~ N(0, s²)
independent of the painted f, E[e^{4 t_true} | f] = e^{4f + 8s²}, so t* = f + 2s² (the
lognormal mean); a heteroscedastic s(f) gives t* = f + 2 s(f)².
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import archspec
from runner import checkpoint as ck
from runner.science.calibration import KEY, Calibration, CalibrationError, fit
from runner.science.painter import Painter
from runner.train.recipe import train
from tests.runner.science.test_painter import TRANSFORMS, _state
from tests.spec_texts import BASE, OLD_QUICKSTART_DATA, OLD_QUICKSTART_TRAINING, TINY_SPEC


def _pairs(rng, n, s_of_f):
    f = rng.uniform(0.0, 0.6, n)
    return f, f + s_of_f(f) * rng.standard_normal(n)


def test_fit_recovers_the_lognormal_mean_of_a_homoscedastic_scatter():
    rng = np.random.default_rng(0)
    s = 0.08
    f, t = _pairs(rng, 2_000_000, lambda f: np.full_like(f, s))
    cal = fit([f], [t], [0.0], tiles=1)
    at = np.linspace(0.05, 0.55, 11)
    np.testing.assert_allclose(cal.apply(at, 0.0), at + 2 * s**2, atol=2e-3)  # 2s² = 0.0128


def test_fit_recovers_a_scatter_that_grows_with_the_painting():
    rng = np.random.default_rng(1)
    s_of_f = lambda f: 0.02 + 0.25 * f  # noqa: E731 - the halo centres scatter most
    f, t = _pairs(rng, 2_000_000, s_of_f)
    cal = fit([f], [t], [0.0], tiles=1)
    at = np.linspace(0.05, 0.5, 10)
    np.testing.assert_allclose(cal.apply(at, 0.0), at + 2 * s_of_f(at) ** 2, atol=4e-3)


def test_a_painting_that_is_already_the_mean_is_left_alone():
    """Where t_true is a function of f, the pressure mean given f is that function's."""
    f = np.random.default_rng(2).uniform(0, 0.6, 200_000)
    cal = fit([f], [f], [0.0], tiles=1)
    at = np.linspace(0.01, 0.59, 30)
    np.testing.assert_allclose(cal.apply(at, 0.0), at, atol=1e-3)


def test_beyond_the_fitted_range_the_outermost_correction_is_kept():
    """A painting brighter than any the fit saw keeps the lognormal gap 2s² of the brightest
    fitted bins, as the closed form says it should for a scatter of constant s; holding t* there
    would cap every brighter cluster at the brightest fitted one."""
    rng = np.random.default_rng(4)
    s = 0.08
    f, t = _pairs(rng, 2_000_000, lambda f: np.full_like(f, s))  # painted f in [0, 0.6]
    cal = fit([f], [t], [0.0], tiles=1)
    beyond = np.array([-0.3, -0.1, 0.8, 1.5])
    np.testing.assert_allclose(cal.apply(beyond, 0.0), beyond + 2 * s**2, atol=4e-3)


def _tables() -> Calibration:
    knots = np.array([0.0, 1.0])
    return Calibration((0.0, 1.0), (knots, knots), (knots, knots + 1.0), tiles=4)  # z=0: t; z=1: t + 1


@pytest.mark.parametrize("z, shift", [(0.0, 0.0), (0.25, 0.25), (0.5, 0.5), (1.0, 1.0), (-1.0, 0.0), (3.0, 1.0)])
def test_between_stored_redshifts_linear_in_z_and_the_nearest_beyond(z, shift):
    t = np.array([0.1, 0.4, 0.9], dtype=np.float32)
    out = _tables().apply(t, z)
    assert out.dtype == np.float32 and out.shape == t.shape
    np.testing.assert_allclose(out, t + shift, atol=1e-6)


def test_the_table_survives_a_safe_round_trip_through_a_file(tmp_path):
    cal = _tables()
    torch.save({KEY: cal.to_state()}, tmp_path / "c.pt")
    back = Calibration.from_state(torch.load(tmp_path / "c.pt", weights_only=True)[KEY])
    assert back.redshifts == cal.redshifts and back.tiles == cal.tiles
    for a, b in zip(back.knots + back.values, cal.knots + cal.values):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda s: s.update(method="quantile"), "expected a 'pressure_mean' calibration"),
        (lambda s: s.pop("values"), "incomplete"),
        (lambda s: s.update(knots=[torch.tensor([0.0, 0.0]), torch.tensor([0.0, 1.0])]), "knots not increasing"),
        (lambda s: s["values"][1].__setitem__(0, float("nan")), "non-finite"),
        (lambda s: s.update(redshifts=torch.tensor([1.0, 0.0])), "redshifts not increasing"),
        (lambda s: s.update(values=s["values"][:1]), "value tables"),
    ],
)
def test_a_damaged_table_is_refused_saying_what_is_wrong(edit, words):
    state = _tables().to_state()
    edit(state)
    with pytest.raises(CalibrationError, match=words):
        Calibration.from_state(state)


def test_the_painter_applies_the_checkpoints_table_and_refuses_a_damaged_one(tmp_path):
    spec = archspec.loads(BASE)
    torch.manual_seed(0)
    model = archspec.build(spec)
    plain, shifted, bad_dir = tmp_path / "plain", tmp_path / "shifted", tmp_path / "bad"
    for folder in (plain, shifted, bad_dir):
        folder.mkdir()
    ck.save(plain, _state(spec, model))
    knots = np.array([-5.0, 5.0])
    shift = Calibration((0.0, 2.0), (knots, knots), (knots + 0.1, knots + 0.1), tiles=1)  # t* = t + 0.1
    ck.save(shifted, _state(spec, model) | {KEY: shift.to_state()})
    dm = np.random.default_rng(0).lognormal(0.0, 0.5, (32, 32)).astype(np.float32)
    a = Painter.load(plain, device="cpu").paint(dm, 1.0, latent="mean")
    b_painter = Painter.load(shifted, device="cpu")
    assert "pressure_mean" in b_painter.provenance["calibration"]
    b = b_painter.paint(dm, 1.0, latent="mean")
    sigma = float(TRANSFORMS["pressure"].sigma(1.0))
    # p = (e^{4t} − 1) σ: t + 0.1 multiplies (1 + p/σ) by e^{0.4}
    np.testing.assert_allclose(1 + b / sigma, (1 + a / sigma) * np.exp(0.4), rtol=1e-4)
    bad = _state(spec, model) | {KEY: {**shift.to_state(), "knots": [torch.tensor([1.0, 0.0])] * 2}}
    ck.save(bad_dir, bad)
    with pytest.raises(ck.CheckpointError, match=r"bad.*calibration table is malformed.*knots not increasing"):
        Painter.load(bad_dir, device="cpu")


def test_training_with_a_calibration_stores_it_and_changes_no_weight(tiny, tmp_path):
    """The fit paints with the model in eval mode and its own random draws: the run's weights,
    and so its resume, are those of the same run without it."""
    runs = {}
    for choice in ("none", "pressure_mean"):
        spec = archspec.load(tiny, ["training.samples=96", f"training.calibration={choice}"])
        runs[choice] = tmp_path / choice
        train(spec, runs[choice], quiet=True, evaluate=False)
    plain, calibrated = (ck.read_latest(runs[c], warn=lambda _: None)[0] for c in ("none", "pressure_mean"))
    assert KEY not in plain
    cal = Calibration.from_state(calibrated[KEY])
    assert cal.redshifts == (0.0, 1.0)
    for name, tensor in plain[ck.KEY_MODEL].items():
        assert torch.equal(tensor, calibrated[ck.KEY_MODEL][name]), name
    assert plain[ck.KEY_RNG]["torch"].equal(calibrated[ck.KEY_RNG]["torch"])
    painter = Painter.load(runs["pressure_mean"], device="cpu")
    assert painter.calibration is not None and painter.calibration.tiles == cal.tiles


def test_with_validation_slices_the_table_is_fitted_on_them_and_training_never_reads_them(tmp_path):
    """data.validation_slices: the slices leave the training split, and the calibration is fitted
    on them (its table says so, and differs from one fitted on the training tiles)."""
    from runner.data.open import open_data, open_validation
    from runner.science.calibration import fit_model

    cache = tmp_path / "cache"
    spec_path = tmp_path / "tiny.yaml"
    spec_path.write_text(TINY_SPEC.replace("slices: 2,", "slices: 3,"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHSPEC_CACHE", str(cache))
        spec = archspec.load(
            spec_path, ["training.samples=96", "training.calibration=pressure_mean", "data.validation_slices=[1]"]
        )
        train_data, test_data = open_data(spec, torch.device("cpu"))
        validation = open_validation(spec, train_data.store)
        assert (train_data.space.slices, validation.space.slices, test_data.space.slices) == ((0,), (1,), (2,))
        train(spec, tmp_path / "run", quiet=True, evaluate=False)
        state = ck.read_latest(tmp_path / "run", warn=lambda _: None)[0]
        cal = Calibration.from_state(state[KEY])
        assert cal.split == "validation" and "validation samples" in cal.describe()
        painter = Painter.load(tmp_path / "run", device="cpu")
        on_train = fit_model(
            painter.model, painter.kind, train_data, device=painter.device, precision=painter.precision, seed=0
        )
        assert on_train.split == "train"
        assert any(not np.array_equal(a, b) for a, b in zip(cal.values, on_train.values))
        assert open_validation(archspec.load(spec_path), train_data.store) is None  # none named: none opened


def test_the_field_at_its_default_leaves_every_hash_as_it_was():
    """The quickstart without its calibration hashes as it did before the field existed
    (f80641a4518b867e, tests/archspec/fixing/test_fixes_as_edits.py's history)."""
    from pathlib import Path

    quickstart = Path(__file__).resolve().parents[3] / "specs" / "quickstart.yaml"
    spec = archspec.load(quickstart, ["training.calibration=none", *OLD_QUICKSTART_DATA, *OLD_QUICKSTART_TRAINING])
    assert archspec.spec_hash(spec) == "f80641a4518b867e"
    assert "calibration" not in archspec.dump(spec)


def test_a_constant_painting_is_calibrated_to_the_mean_pressure():
    """A collapsed model paints one value everywhere: E[p | painted] is then the mean of p."""
    t = np.random.default_rng(3).normal(0.2, 0.1, 10_000)
    cal = fit([np.full_like(t, 0.3)], [t], [0.0], tiles=1)
    want = np.log(np.mean(np.exp(4 * t))) / 4
    np.testing.assert_allclose(cal.apply(np.array([0.3]), 0.0), want, rtol=1e-9)
