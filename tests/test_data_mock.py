"""The mock generator: physics a user relies on, calibration, determinism and the cache."""
from __future__ import annotations

import h5py
import numpy as np
import powerbox
import pytest

from runner.data import REDSHIFTS, ensure_mock_store, generate_mock, open_store
from runner.data.mock_fields import growth

# DESIGN.md section 4: statistics of the summed 100 + 150 Mpc/h sample at z = 0, 1, 2.
DM_VAR = {0.0: 1.4725, 1.0: 0.3453, 2.0: 0.1165}
P_MEAN = {0.0: 0.04424, 1.0: 0.01977, 2.0: 0.00753}
P_VAR = {0.0: 0.1349, 1.0: 0.00669, 2.0: 0.000384}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = ensure_mock_store(tmp_path_factory.mktemp("mock"), grid=256, slices=2,
                             redshifts=(0.0, 0.5, 1.0, 2.0))
    return open_store(path)


def test_layout_and_physical_scales(store):
    assert store.pixel_size == 0.1953125 and store.box_size == 50.0  # 256 px of 400/2048 Mpc/h
    assert store.depths == (100, 150) and store.n_slices == 2
    assert REDSHIFTS == (0, 0.125, 0.25, 0.375, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2)
    assert store.stats("dm", 1.0).mean == {100: pytest.approx(1.0), 150: pytest.approx(1.0)}


@pytest.mark.parametrize("z", [0.0, 1.0, 2.0])
def test_statistics_land_on_the_design_numbers(store, z):
    dm, p = store.stats("dm", z), store.stats("pressure", z)
    assert dm.sum_var == pytest.approx(DM_VAR[z], rel=0.10)
    assert p.sum_mean == pytest.approx(P_MEAN[z], rel=0.10)
    assert p.sum_var == pytest.approx(P_VAR[z], rel=0.10)


def test_in_between_redshifts_interpolate_the_targets_in_log(store):
    geometric = np.sqrt(P_MEAN[0.0] * P_MEAN[1.0])  # linear in log at z = 0.5
    assert store.stats("pressure", 0.5).sum_mean == pytest.approx(geometric, rel=0.10)


def large_scale_power(store, z, depth, s):
    bins = np.array([0.1, 0.2, 0.35, 0.6])  # h/Mpc: scales the calibration leaves linear
    d = store.read_slice("dm", z, depth, s).astype(np.float64) - 1.0
    return powerbox.get_power(d, (store.box_size,) * 2, bins=bins).power


@pytest.mark.parametrize("z", [1.0, 2.0])
def test_dark_matter_power_grows_as_d_squared_at_large_scales(store, z):
    ratios = [large_scale_power(store, z, d, s) / large_scale_power(store, 0.0, d, s)
              for d in (100, 150) for s in range(2)]
    measured, d2 = float(np.mean(ratios)), growth(z) ** 2
    assert measured == pytest.approx(d2, rel=0.10)  # seeds 0-4 measure +1% to +8%
    variance_ratio = DM_VAR[z] / DM_VAR[0.0]  # what it would be if P were merely rescaled
    assert abs(measured - variance_ratio) > 0.3 * d2


def log_maps(store, field, z, depth=100, s=0):
    return np.log(store.read_slice(field, z, depth, s).astype(np.float64) + 1e-30).ravel()


def test_same_structure_grown_across_redshift_and_independent_slices(store):
    same_slice = np.corrcoef(log_maps(store, "dm", 0.0), log_maps(store, "dm", 2.0))[0, 1]
    other_slice = np.corrcoef(log_maps(store, "dm", 0.0), log_maps(store, "dm", 0.0, s=1))[0, 1]
    assert same_slice > 0.8 and abs(other_slice) < 0.2


def test_pressure_follows_density_but_is_no_pixelwise_function_of_it(store):
    lp, ld = log_maps(store, "pressure", 1.0), log_maps(store, "dm", 1.0)
    assert np.corrcoef(lp, ld)[0, 1] > 0.6
    residual = lp - np.polyval(np.polyfit(ld, lp, 1), ld)
    assert residual.std() > 0.2 * lp.std()  # smoothing and scatter: a real conditional problem


def test_same_seed_same_file_other_seed_other_maps(tmp_path):
    kw = dict(grid=64, slices=2, redshifts=(0.0, 1.0), progress=False)
    generate_mock(tmp_path / "a.h5", seed=4, **kw)
    generate_mock(tmp_path / "b.h5", seed=4, **kw)
    generate_mock(tmp_path / "c.h5", seed=5, **kw)
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b, \
            h5py.File(tmp_path / "c.h5") as c:
        for name in ("/dm/z1.000/150", "/pressure/z0.000/100"):
            assert np.array_equal(a[name][...], b[name][...])
            assert not np.allclose(a[name][...], c[name][...])


def test_cache_reuses_a_valid_store_and_remakes_a_broken_one(tmp_path):
    kw = dict(grid=32, slices=2, redshifts=(0.0, 2.0), seed=0)
    path = ensure_mock_store(tmp_path, **kw)
    stamp = path.stat().st_mtime_ns
    assert ensure_mock_store(tmp_path, **kw) == path and path.stat().st_mtime_ns == stamp
    assert ensure_mock_store(tmp_path, **{**kw, "seed": 1}) != path
    path.write_bytes(path.read_bytes()[:1000])  # truncated, e.g. by a killed process
    assert ensure_mock_store(tmp_path, **kw) == path
    assert open_store(path).grid == 32
