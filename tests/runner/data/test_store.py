"""The tile store: layout round trip, atomic writing, and one-line errors for bad files."""

from __future__ import annotations

import pickle
import re
import shutil

import h5py
import numpy as np
import pytest

from runner.data import DataError, StoreWriter, ensure_mock_store, open_store

GRID, SLICES, ZS = 32, 2, (0.0, 0.5)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A store written from known random arrays: (path, {(field, z, depth): array})."""
    rng = np.random.default_rng(7)
    arrays = {
        (f, z, d): rng.lognormal(0.0, 0.5, (SLICES, GRID, GRID)).astype(np.float32)
        for f in ("dm", "pressure")
        for z in ZS
        for d in (100, 150)
    }
    path = tmp_path_factory.mktemp("store") / "known.h5"
    with StoreWriter(path, grid=GRID, n_slices=SLICES, redshifts=list(ZS), provenance="test arrays") as w:
        for (f, z, d), a in arrays.items():
            for s in range(SLICES):
                w.write(f, z, d, s, a[s])
    return path, arrays


@pytest.fixture(scope="module")
def mock(tmp_path_factory):
    return ensure_mock_store(tmp_path_factory.mktemp("mock"), grid=64, slices=2, redshifts=(0.0, 1.0, 2.0))


def test_layout_round_trips(written):
    path, arrays = written
    store = open_store(path)
    assert (store.grid, store.n_slices, store.redshifts) == (GRID, SLICES, ZS)
    assert store.box_size == pytest.approx(GRID * 400 / 2048)
    assert store.depths == (100, 150) and store.fields == ("dm", "pressure")
    for (f, z, d), a in arrays.items():
        ds = store.dataset(f, z, d)
        np.testing.assert_array_equal(ds[...], a)
        assert ds.chunks == (1, GRID, GRID)  # one slice per chunk
        assert ds.attrs["slice_depth"] == d and ds.attrs["redshift"] == z
        assert ds.attrs["provenance"] == "test arrays" and ds.attrs["units"]
        st = store.stats(f, z)
        assert st.mean[d] == pytest.approx(a.mean(dtype=np.float64), rel=1e-12)
        assert st.var[d] == pytest.approx(a.var(dtype=np.float64), rel=1e-10)
        assert st.min[d] == a.min() and st.max[d] == a.max()
    st = store.stats("pressure", 0.5)
    both = [arrays[("pressure", 0.5, d)].astype(np.float64) for d in (100, 150)]
    assert st.sigma == pytest.approx(np.sqrt(both[0].var() + both[1].var()), rel=1e-10)


def test_unknown_redshift_lists_the_stored_ones(written):
    with pytest.raises(DataError, match=r"redshift 0.25 is not stored. Stored: 0, 0.5"):
        open_store(written[0]).stats("dm", 0.25)


def test_store_pickles_for_loader_workers(written):
    store = open_store(written[0])
    store.read_slice("dm", 0.0, 100, 0)  # opens the file
    clone = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(clone.read_slice("dm", 0.5, 150, 1), written[1][("dm", 0.5, 150)][1])


def test_existing_output_is_refused_then_replaced_with_force(written, tmp_path):
    target = tmp_path / "out.h5"
    shutil.copy(written[0], target)
    with pytest.raises(DataError, match="already exists.*--force"):
        StoreWriter(target, grid=GRID, n_slices=SLICES, redshifts=[0.0], provenance="x")
    write_constant(target, force=True)
    store = open_store(target)
    assert store.grid == 8 and store.stats("dm", 0.0).mean[100] == pytest.approx(3.5)  # 3 and 4


def write_constant(path, force=False, stop_after=None):
    with StoreWriter(path, grid=8, n_slices=2, redshifts=[0.0], provenance="c", force=force) as w:
        for k, (f, d, s) in enumerate((f, d, s) for f in ("dm", "pressure") for d in (100, 150) for s in range(2)):
            if k == stop_after:
                raise RuntimeError("interrupted")
            w.write(f, 0.0, d, s, np.full((8, 8), 3.0) + s)


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        write_constant(tmp_path / "a.h5", stop_after=3)
    assert list(tmp_path.iterdir()) == []  # neither the output nor a temporary


def test_incomplete_write_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"incomplete.*nothing was written"):
        with StoreWriter(tmp_path / "b.h5", grid=8, n_slices=1, redshifts=[0.0], provenance="c") as w:
            w.write("dm", 0.0, 100, 0, np.ones((8, 8)))
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_nan_naming_the_slice(tmp_path):
    bad = np.ones((8, 8))
    bad[2, 3] = np.nan
    with pytest.raises(DataError, match=r"slice 0 of /pressure/z0.000/150: 1 NaN/inf values"):
        with StoreWriter(tmp_path / "c.h5", grid=8, n_slices=1, redshifts=[0.0], provenance="c") as w:
            w.write("pressure", 0.0, 150, 0, bad)


def broken_copy(src, dst, edit):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


def replace_dataset(f, name, data):
    attrs = dict(f[name].attrs)
    del f[name]
    f[name] = data
    f[name].attrs.update(attrs)


def nan_in_slice(f):
    f["/dm/z1.000/100"][1, 5, 5] = np.nan


BREAKAGES = {
    "missing dataset": (lambda f: f.__delitem__("/pressure/z1.000/150"), r"missing /pressure/z1.000/150"),
    "missing redshift": (lambda f: f.__delitem__("/dm/z2.000"), r"missing /dm/z2.000 \(redshift 2\)"),
    "wrong shape": (
        lambda f: replace_dataset(f, "/pressure/z0.000/150", np.ones((2, 64, 63), np.float32)),
        r"/pressure/z0.000/150 has shape \(2, 64, 63\), expected \(2, 64, 64\)",
    ),
    "wrong dtype": (
        lambda f: replace_dataset(f, "/dm/z0.000/100", np.ones((2, 64, 64))),
        r"/dm/z0.000/100 has dtype float64, expected float32",
    ),
    "NaN": (nan_in_slice, r"/dm/z1.000/100 has 1 NaN/inf values \(first in slice 1\)"),
    "no statistics": (
        lambda f: f["/dm/z0.000/150"].attrs.__delitem__("variance"),
        r"/dm/z0.000/150 lacks statistics attribute\(s\) variance",
    ),
    "foreign file": (lambda f: f.attrs.__delitem__("grid"), r"missing root attribute\(s\) grid"),
    "grid not a number": (
        lambda f: f.attrs.__setitem__("grid", "abc"),
        r"root attribute grid must be an integer, found 'abc'",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_bad_file_gives_one_line_error(mock, tmp_path, breakage):
    edit, message = BREAKAGES[breakage]
    path = broken_copy(mock, tmp_path / "bad.h5", edit)
    with pytest.raises(DataError, match=message) as err:
        open_store(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_several_problems_are_reported_together(mock, tmp_path):
    def two(f):
        del f["/pressure/z1.000/150"]
        f["/dm/z1.000/100"][0, 0, 0] = np.inf

    with pytest.raises(DataError, match=r"NaN/inf values.*; missing /pressure/z1.000/150"):
        open_store(broken_copy(mock, tmp_path / "two.h5", two))


def test_truncated_file(mock, tmp_path):
    path = tmp_path / "cut.h5"
    path.write_bytes(mock.read_bytes()[: mock.stat().st_size // 2])
    # an HDF5 error names the path as given, not only its basename
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: not a readable HDF5 file \(.*truncated") as err:
        open_store(path)
    assert "\n" not in str(err.value)


def test_missing_and_non_hdf5_files(tmp_path):
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path))}/nope.h5: no such file"):
        open_store(tmp_path / "nope.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path))}/text.h5: not a readable HDF5 file"):
        open_store(tmp_path / "text.h5")
