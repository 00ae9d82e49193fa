"""Dark-matter units at the boundary: what a model expects is stated, maps are judged by their
mean before anything is painted, another depth is a warning, other units a refusal (or a rescale)."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
import torch

import archspec
from runner import checkpoint as ck
from runner.cli import main
from runner.data.transforms import ShiftLog
from runner.science.painter import Painter, PaintError, PaintingWarning
from runner.science.units import REFUSE_FACTOR, WARN_FACTOR, DarkMatterUnits, check_maps
from tests.runner.science.test_painter import TRANSFORMS, _density, _state
from tests.spec_texts import BASE

UNITS = DarkMatterUnits()  # the convention: a 250 Mpc/h-deep projection has mean 1


def test_the_convention_and_a_recorded_mean():
    assert UNITS.depth == 250 and UNITS.expected_mean(0.5) == 1.0 and UNITS.expected_mean(0.5, depth=100) == 0.4
    recorded = DarkMatterUnits.of(ShiftLog([0, 2], [1.2, 0.3], "dm", means=[2.0, 1.0]))
    assert recorded.recorded and recorded.expected_mean(1.0) == 1.5 and recorded.expected_mean(1.0, 150) == 0.9
    assert DarkMatterUnits.of(ShiftLog([0, 2], [1.2, 0.3], "dm")) == UNITS  # no means recorded: the convention
    assert "250 Mpc/h-deep projection has mean ≈ 1" in str(UNITS)


@pytest.mark.parametrize("ratio", [1.0, 1 / WARN_FACTOR * 1.01, WARN_FACTOR * 0.99])
def test_a_mean_within_the_tolerance_is_painted_silently(ratio):
    check = check_maps([ratio], [0.0], UNITS)
    assert check.error is None and check.warnings == () and check.scale.tolist() == [1.0]


def test_a_100_mpc_map_painted_as_250_deep_is_a_warning_naming_the_factor():
    check = check_maps([0.4], [0.0], UNITS)
    assert check.error is None and len(check.warnings) == 1
    assert "mean 0.4, 0.4 times the 1" in check.warnings[0] and "multiply it by 2.5" in check.warnings[0]
    assert "rescale=True" in check.warnings[0] and "depth=D" in check.warnings[0]
    cli = check_maps([0.4], [0.0], UNITS, cli=True)
    assert "--rescale" in cli.warnings[0] and "--depth D" in cli.warnings[0]


def test_declaring_the_depth_checks_that_depths_mean_and_warns_of_the_depth():
    check = check_maps([0.41], [0.0], UNITS, depth=100)
    assert check.error is None and len(check.warnings) == 1
    assert "learnt from 250 Mpc/h-deep projections" in check.warnings[0] and "100 Mpc/h" in check.warnings[0]


@pytest.mark.parametrize(
    "mean, needle",
    [
        (1070.0, "not its units"),
        (1 / REFUSE_FACTOR / 2, "not its units"),
        (0.0, "must be a positive projected density"),
        (-3.0, "must be a positive projected density"),
        (float("nan"), "has NaN or infinite values"),
    ],
)
def test_other_units_are_refused(mean, needle):
    check = check_maps([mean], [0.0], UNITS)
    assert check.error is not None and needle in check.error


def test_rescale_brings_every_map_to_the_expected_mean_and_says_so():
    check = check_maps([1070.0, 2.0, 1.0], [0.0, 0.0, 0.0], UNITS, depth=150, rescale=True)
    assert check.error is None
    np.testing.assert_allclose(check.scale * [1070.0, 2.0, 1.0], 0.6)
    assert any("rescaled the dark-matter map (maps 0, 1, 2 of 3)" in w for w in check.warnings)


def test_a_stack_names_the_maps_that_are_off():
    check = check_maps([1.0, 0.3, 1.1, 0.35], [0.0] * 4, UNITS)
    assert len(check.warnings) == 1 and "(maps 1, 3 of 4)" in check.warnings[0]


# -- the Python API and runner paint ---------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """An untrained BASE model whose checkpoint records its training data's dm mean: 1.0 at
    z = 0 and 0.5 at z = 2 (so the expected mean depends on z)."""
    spec = archspec.loads(BASE)
    torch.manual_seed(0)
    transforms = dict(TRANSFORMS, dm=ShiftLog([0, 1, 2], [1.21, 0.59, 0.34], "dm", means=[1.0, 0.75, 0.5]))
    folder = tmp_path_factory.mktemp("run")
    ck.save(folder, _state(spec, archspec.build(spec), transforms))
    return folder


def test_the_painter_states_and_checks_its_units(run_dir):
    painter = Painter.load(run_dir, device="cpu")
    assert painter.units.recorded and painter.units.expected_mean(2.0) == 0.5
    dm = _density(0, (40, 40))
    dm = dm / dm.mean()
    with pytest.warns(PaintingWarning, match="2 times the 0.5"):
        painter.paint(dm, 2.0)  # mean 1 at z = 2, where the model learnt 0.5
    with pytest.raises(PaintError, match="not its units"):
        painter.paint(dm * 100, 0.0)
    with pytest.warns(PaintingWarning, match="rescaled"):
        rescaled = painter.paint(dm * 100, 0.0, rescale=True, seed=4)
    np.testing.assert_allclose(rescaled, painter.paint(dm, 0.0, seed=4), rtol=1e-5)


def _store_like(path, dm_100, dm_150) -> None:
    with h5py.File(path, "w") as f:
        for depth, maps in ((100, dm_100), (150, dm_150)):
            ds = f.create_dataset(f"dm/z0.000/{depth}", data=maps)
            ds.attrs["slice_depth"] = depth


def test_runner_paint_warns_of_single_depth_slices_and_refuses_raw_units(run_dir, tmp_path, capsys):
    maps = np.stack([_density(1, (40, 40)), _density(2, (40, 40))])
    maps = maps / maps.mean(axis=(1, 2), keepdims=True)
    _store_like(tmp_path / "slices.h5", 0.4 * maps, 0.6 * maps)  # in the model's units, each its depth's share
    argv = ["paint", str(run_dir), "--output", str(tmp_path / "p.h5"), "--quiet", "--device", "cpu"]
    assert main(argv + ["--input", str(tmp_path / "slices.h5")]) == 0
    err = capsys.readouterr().err
    assert err.count("runner: warning: the model learnt from 250 Mpc/h-deep projections") == 2, err
    assert "times the" not in err  # each slice's mean is its depth's: only the depth is new to the model
    with h5py.File(tmp_path / "p.h5", "r") as f:
        assert "a D Mpc/h-deep map has mean ≈ D/250" in f.attrs["dm_units"]

    _store_like(tmp_path / "raw.h5", 400 * maps, 600 * maps)  # raw sums, as an npy grid holds them
    argv[3] = str(tmp_path / "p2.h5")
    assert main(argv + ["--input", str(tmp_path / "raw.h5")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("runner: error: ") and "raw.h5:/dm/z0.000/100 (maps 0, 1 of 2) has mean 400" in err
    assert "--rescale" in err and err.count("\n") == 1 and not (tmp_path / "p2.h5").exists()
    assert main(argv + ["--input", str(tmp_path / "raw.h5"), "--rescale"]) == 0
    assert "rescaled" in capsys.readouterr().err
    with h5py.File(tmp_path / "p2.h5", "r") as f:
        np.testing.assert_allclose(f["pressure/z0.000/150"].attrs["dm_scale"] * 600, 0.6, rtol=1e-6)


@pytest.mark.parametrize(
    "option, needle",
    [
        (["--latent", "mean", "--samples", "2"], "--latent mean paints one map"),
        (["--depth", "0"], "--depth must be a positive depth"),
    ],
)
def test_option_combinations_are_usage_errors(option, needle, tmp_path, capsys):
    code = main(
        [
            "paint",
            str(tmp_path / "nope.pt"),
            "--input",
            str(tmp_path / "dm.h5"),
            "--output",
            str(tmp_path / "p.h5"),
            *option,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "nope.pt" not in err and err.count("\n") == 1


def test_sigma_is_constant_beyond_the_stored_redshifts_on_both_paths():
    t = ShiftLog([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], field="pressure")
    z = [-1.0, 0.0, 0.5, 2.0, 3.5]
    by_hand = [1.0, 1.0, math.sqrt((1.0 + 4.0) / 2), 3.0, 3.0]  # sqrt of the variance interpolated, clamped
    assert np.allclose(t.sigma(np.array(z)), by_hand, rtol=1e-12)
    assert np.allclose(t.sigma(torch.tensor(z, dtype=torch.float64)).numpy(), by_hand, rtol=1e-12)
