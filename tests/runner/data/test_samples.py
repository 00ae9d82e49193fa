"""Samples: the index space, the split, the values of a sample, the sampler, the transform."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.data import (
    DataError,
    DeviceTiles,
    Sampler,
    SampleSpace,
    ShiftLog,
    TileDataset,
    ensure_mock_store,
    open_store,
    split_slices,
)

TILE = 64


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = ensure_mock_store(tmp_path_factory.mktemp("samples"), grid=128, slices=3, redshifts=(0.0, 1.0, 2.0))
    return open_store(path)


def fake_store(grid: int, n_slices: int, n_z: int) -> SimpleNamespace:
    """Enough of a TileStore for the index arithmetic."""
    return SimpleNamespace(grid=grid, n_slices=n_slices, redshifts=tuple(np.linspace(0, 2, n_z)), path=Path("full.h5"))


# -- the index space --------------------------------------------------------------------------
def test_full_layout_counts_match_the_original():
    train = SampleSpace(fake_store(2048, 14, 11), tile=512, split="train")
    assert train.slices == tuple(range(11))  # the original's 0-10 train, 11-13 test
    assert train.independent_tiles == 11 * 16 * 11 == 1936
    assert len(train) == 11 * (11 * 16) * (11 * 16) == 340_736
    test = SampleSpace(fake_store(2048, 14, 11), tile=512, split="test")
    assert test.slices == (11, 12, 13) and len(test) == 11 * (3 * 16) ** 2
    # i = (z_index * M + a) * M + b with M = 176 tiles per depth; a = 17: slice 1, tile (0, 1)
    s = train.sample((2 * 176 + 17) * 176 + 175)
    assert (s.z, s.slice_100, s.tile_100, s.slice_150, s.tile_150) == (0.4, 1, (0, 1), 10, (3, 3))


@pytest.mark.parametrize("tile", [32, 64, 128])
def test_each_combination_is_named_exactly_once(store, tile):
    space = SampleSpace(store, tile=tile, split="train")
    per_slice = (128 // tile) ** 2
    assert len(space) == 3 * (len(space.slices) * per_slice) ** 2
    d = space.decode(np.arange(len(space)))
    combos = set(zip(d["z"], d["slice_100"], d["tile_100"], d["slice_150"], d["tile_150"]))
    assert len(combos) == len(space)
    assert set(d["slice_100"]) | set(d["slice_150"]) == set(space.slices)


def test_tile_must_divide_the_grid(store):
    with pytest.raises(DataError, match=r"tile 48 does not divide the grid 128; use one of .*64"):
        SampleSpace(store, tile=48)


def test_train_and_test_never_share_a_slice(store):
    for test_slices in (None, 1, 2, [0], [0, 2]):
        train = SampleSpace(store, TILE, "train", test_slices)
        test = SampleSpace(store, TILE, "test", test_slices)
        assert not set(train.slices) & set(test.slices)
        assert set(train.slices) | set(test.slices) == {0, 1, 2}
        for space in (train, test):  # and every sample of a split stays inside it
            d = space.decode(np.arange(len(space)))
            assert set(d["slice_100"]) | set(d["slice_150"]) <= set(space.slices)


@pytest.mark.parametrize("n, test", [(14, (11, 12, 13)), (4, (3,)), (3, (2,)), (2, (1,))])
def test_default_split_is_the_last_fifth(n, test):
    assert split_slices(n, "test") == test


@pytest.mark.parametrize("bad", [0, 3, [], [5]])
def test_a_split_without_train_or_test_is_an_error(bad):
    with pytest.raises(DataError, match="leaves no train or no test slice"):
        split_slices(3, "train", bad)


@pytest.mark.parametrize("n, validation, test, train", [(4, [2], (3,), (0, 1)), (5, [0, 2], (4,), (1, 3))])
def test_validation_slices_leave_training_and_never_meet_the_test(n, validation, test, train):
    assert split_slices(n, "validation", validation_slices=validation) == tuple(validation)
    assert split_slices(n, "test", validation_slices=validation) == test
    assert split_slices(n, "train", validation_slices=validation) == train


@pytest.mark.parametrize(
    "n, test, validation, words",
    [
        (4, None, [3], r"slice\(s\) \[3\] are both validation and test slices"),
        (4, None, [7], r"validation_slices=\[7\] names a slice outside its 4 slices \(0 to 3\)"),
        (3, None, [0, 1], r"with validation_slices=\[0, 1\] leaves no train"),
        (3, None, None, r"no validation slices \(name them with data.validation_slices\)"),
    ],
)
def test_a_validation_split_that_cannot_be_is_an_error(n, test, validation, words):
    with pytest.raises(DataError, match=words):
        split_slices(n, "validation", test, validation_slices=validation)


# -- the values of a sample -------------------------------------------------------------------
def raw_tile(f, field, z, depth, s, row, col):
    return f[f"/{field}/z{z:.3f}/{depth}"][s, row * TILE : (row + 1) * TILE, col * TILE : (col + 1) * TILE]


def test_every_sample_is_the_sum_of_the_two_tiles_it_names(store):
    ds = TileDataset(store, tile=TILE, split="train")
    idx = np.random.default_rng(3).choice(len(ds), 40, replace=False)
    x, y = ds.batch(idx)
    assert x.shape == (40, 1, TILE, TILE) and y.shape == (40, 2, TILE, TILE)
    assert x.dtype == y.dtype == torch.float32
    with h5py.File(store.path) as f:  # read independently of the store class
        for k, i in enumerate(idx):
            s = ds.space.sample(int(i))
            want = {}
            for field in ("pressure", "dm"):
                total = raw_tile(f, field, s.z, 100, s.slice_100, *s.tile_100).astype(np.float64) + raw_tile(
                    f, field, s.z, 150, s.slice_150, *s.tile_150
                )
                var = sum(f[f"/{field}/z{s.z:.3f}/{d}"].attrs["variance"] for d in (100, 150))
                want[field] = np.log(total / np.sqrt(var) + 1) / 4  # the original's formula
            np.testing.assert_allclose(x[k, 0].numpy(), want["pressure"], rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(y[k, 0].numpy(), want["dm"], rtol=1e-5, atol=1e-7)
            assert torch.all(y[k, 1] == s.z)  # the raw redshift, broadcast


def test_item_equals_batch_row(store):
    ds = TileDataset(store, tile=TILE, split="test")
    x, y = ds[7]
    bx, by = ds.batch([3, 7])
    assert torch.equal(x, bx[1]) and torch.equal(y, by[1])
    with pytest.raises(IndexError):
        ds[len(ds)]


@pytest.mark.parametrize("split", ["train", "test"])
def test_on_device_path_gives_identical_values(store, split):
    on_disk = TileDataset(store, tile=TILE, split=split, in_memory=False)
    in_ram = TileDataset(store, tile=TILE, split=split, in_memory=True)
    dev = DeviceTiles(store, tile=TILE, split=split, device="cpu")
    idx = Sampler(len(dev), seed=5).next(min(64, len(dev)))
    x, y = on_disk.batch(idx)
    for other in (in_ram.batch(idx), dev.batch(torch.from_numpy(idx)), dev.batch(idx.tolist())):
        assert torch.equal(x, other[0]) and torch.equal(y, other[1])


def test_dataset_pickles_for_loader_workers(store):
    ds = TileDataset(store, tile=TILE, split="train", in_memory=True)
    x, _ = ds.batch([0, 5])
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._arrays is None and torch.equal(clone.batch([0, 5])[0], x)


# -- the sampler ------------------------------------------------------------------------------
def test_draws_depend_only_on_the_count_drawn():
    a, b = Sampler(50, seed=1), Sampler(50, seed=1)
    assert np.array_equal(np.concatenate([a.next(10), a.next(6)]), b.next(16))
    sizes = [4] * 9 + [8] * 7 + [16] * 5 + [24] * 3  # a changing batch size, across passes
    drawn = np.concatenate([a.next(n) for n in sizes])
    assert np.array_equal(drawn, b.next(len(drawn)))


def test_each_pass_is_a_permutation_and_passes_differ():
    s = Sampler(30, seed=2)
    first, second = s.next(30), s.next(30)
    assert sorted(first) == sorted(second) == list(range(30))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, Sampler(30, seed=3).next(30))


def test_sampler_resumes_from_its_state():
    s = Sampler(40, seed=9)
    s.next(33)
    state = s.state_dict()
    expected = s.next(20)  # crosses into the second pass
    resumed = Sampler(40, seed=0)
    resumed.load_state_dict(state)
    assert np.array_equal(resumed.next(20), expected)
    with pytest.raises(ValueError, match="data, tile size or split changed"):
        Sampler(41).load_state_dict(state)


# -- the transform ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shift(store):
    return ShiftLog.from_store(store, "pressure")


@settings(max_examples=60, deadline=None)
@given(z=st.floats(0, 2), scale=st.floats(1e-6, 1e4), seed=st.integers(0, 2**16))
def test_inverse_recovers_the_field_to_float32_precision(shift, z, scale, seed):
    v = (np.random.default_rng(seed).exponential(scale, 256)).astype(np.float32)
    t = shift.forward(v, z)
    assert t.dtype == np.float32
    np.testing.assert_allclose(shift.inverse(t, z), v, rtol=3e-6, atol=0)
    tt = shift.forward(torch.from_numpy(v), z)
    assert torch.allclose(shift.inverse(tt, z), torch.from_numpy(v), rtol=3e-6, atol=0)


def test_sigma_is_the_stored_one_and_its_variance_linear_in_between(store, shift):
    # the original's interpolate_z: the variance is interpolated in z, then its square root taken
    s0, s1 = (store.stats("pressure", z).sigma for z in (0.0, 1.0))
    assert shift.sigma(0.0) == s0 and shift.sigma(1.0) == s1
    assert shift.sigma(0.25) == pytest.approx(np.sqrt(0.75 * s0**2 + 0.25 * s1**2), rel=1e-12)
    last = store.redshifts[-1]  # constant beyond the stored redshifts, on both paths
    s_last = store.stats("pressure", last).sigma
    assert shift.sigma(last + 3.0) == pytest.approx(s_last, rel=1e-12)
    assert float(shift.sigma(torch.tensor([last + 3.0], dtype=torch.float64))[0]) == pytest.approx(s_last, rel=1e-12)
    zt = torch.tensor([0.0, 0.25, 1.0, 2.0], dtype=torch.float64)
    np.testing.assert_allclose(shift.sigma(zt).numpy(), shift.sigma(zt.numpy()), rtol=1e-14)


def test_batched_redshifts_broadcast_per_sample(shift):
    v = np.full((3, 1, 4, 4), 0.05, dtype=np.float32)
    z = np.array([0.0, 1.0, 2.0])
    t = shift.forward(v, z)
    for k in range(3):
        np.testing.assert_allclose(t[k], np.log1p(0.05 / shift.sigma(z[k])) / 4, rtol=1e-6)


def test_transform_config_round_trips(shift):
    again = ShiftLog.from_config(shift.to_config())
    assert again.to_config() == shift.to_config() and again.field == "pressure"
