"""The run folder records its data store; a resume on a changed store is refused naming both;
damaged stores are one line naming the file and the dataset, at open or when read in training."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import archspec
from runner.data import DataError, open_store
from runner.data.identity import store_identity
from runner.data.open import store_path
from runner.data.tiles import DeviceTiles, TileDataset
from runner.runtime import RunError
from runner.train.recipe import train

SHORT = ["training.samples=8", "training.checkpoint.every=4"]


@pytest.fixture(scope="module")
def store(tiny, tmp_path_factory) -> Path:
    """A copy of the tiny spec's mock store, to train on by path."""
    path = tmp_path_factory.mktemp("store") / "tiny.h5"
    shutil.copy(store_path(archspec.load(tiny).data), path)
    return path


def spec_on(tiny, path: Path, *overrides: str):
    return archspec.load(tiny, [*SHORT, f"data.store={json.dumps(str(path))}", *overrides])


def edit_statistics(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        f["/pressure/z1.000/150"].attrs["mean"] = f["/pressure/z1.000/150"].attrs["mean"] * 1.5


def edit_provenance(path: Path) -> None:
    """Another valid store at the same path (as an import of other maps would leave)."""
    with h5py.File(path, "r+") as f:
        f.attrs["provenance"] = "imported again from other maps"


# --- identity ------------------------------------------------------------------------------------


def test_identity_changes_with_content_and_not_with_a_copy_or_a_rewrite_date(store, tmp_path):
    base = store_identity(store)
    assert base["size"] == store.stat().st_size and base["path"] == str(store.resolve()) and len(base["sha256"]) == 64
    copy = Path(shutil.copy(store, tmp_path / "copy.h5"))
    assert store_identity(copy)["sha256"] == base["sha256"]
    with h5py.File(copy, "r+") as f:
        f.attrs["created"] = "2001-01-01T00:00:00+00:00"  # written again, same content
    assert store_identity(copy)["sha256"] == base["sha256"]
    edit_statistics(copy)
    assert store_identity(copy)["sha256"] != base["sha256"]


def test_a_run_records_its_store_and_refuses_to_resume_on_a_changed_one(tiny, store, tmp_path):
    data, run = Path(shutil.copy(store, tmp_path / "data.h5")), tmp_path / "run"
    assert train(spec_on(tiny, data), run, quiet=True, evaluate=False, max_samples=4) == 0
    recorded = json.loads((run / "data.json").read_text())
    assert recorded == store_identity(data)
    edit_provenance(data)
    with pytest.raises(RunError) as err:
        train(spec_on(tiny, data), run, resume=True, quiet=True, evaluate=False)
    text = str(err.value)
    assert f"the run's:  {data.resolve()}" in text and recorded["sha256"][:12] in text
    assert store_identity(data)["sha256"][:12] in text and "--accept-data-change" in text
    assert train(spec_on(tiny, data), run, resume=True, quiet=True, evaluate=False, accept_data_change=True) == 0
    assert json.loads((run / "data.json").read_text()) == store_identity(data)  # the new store is the run's now


def test_another_store_at_another_path_is_refused_with_the_flag_named_and_taken_with_it(tiny, store, tmp_path, capsys):
    first, other, run = Path(shutil.copy(store, tmp_path / "a.h5")), tmp_path / "b.h5", tmp_path / "run"
    shutil.copy(store, other)
    edit_provenance(other)
    assert train(spec_on(tiny, first), run, quiet=True, evaluate=False, max_samples=4) == 0
    with pytest.raises(RunError) as err:
        train(spec_on(tiny, other), run, resume=True, quiet=True, evaluate=False)
    assert "data.store" in str(err.value) and "--accept-data-change" in str(err.value)
    assert train(spec_on(tiny, other), run, resume=True, evaluate=False, accept_data_change=True) == 0
    assert "--accept-data-change: the run goes on with this store" in capsys.readouterr().err
    assert json.loads((run / "data.json").read_text()) == store_identity(other)


def test_a_mock_store_made_again_elsewhere_resumes_with_a_note(tiny, tmp_path, monkeypatch, capsys):
    """Another cache folder (another machine): the mock store is generated again, with the same content."""
    run, spec = tmp_path / "run", archspec.load(tiny, SHORT)
    monkeypatch.setenv("ARCHSPEC_CACHE", str(tmp_path / "cache-a"))
    assert train(spec, run, quiet=True, evaluate=False, max_samples=4) == 0
    monkeypatch.setenv("ARCHSPEC_CACHE", str(tmp_path / "cache-b"))
    assert train(spec, run, resume=True, evaluate=False) == 0
    err = capsys.readouterr().err
    assert f"the data store moved: {tmp_path / 'cache-a'}" in err and "(same content)" in err


def test_an_old_run_folder_without_a_record_resumes_and_records_its_store(tmp_path, monkeypatch, capsys):
    old = Path(__file__).resolve().parents[2] / "data"
    run = Path(shutil.copytree(old / "run_v1", tmp_path / "run_v1"))
    monkeypatch.setenv("ARCHSPEC_CACHE", str(tmp_path / "cache"))
    spec = archspec.load(old / "tiny_v1.yaml", ["training.samples=208"])
    assert train(spec, run, resume=True, evaluate=False) == 0
    assert "did not record its data store; recording" in capsys.readouterr().err
    assert json.loads((run / "data.json").read_text())["sha256"]


# --- damaged stores --------------------------------------------------------------------------------


def corrupt_chunk(path: Path, name: str, chunk: int, pattern: bytes, compress: bool = False) -> None:
    """Overwrite bytes of one stored chunk in place, as a bad disk or a torn copy would."""
    if compress:  # stored again with gzip, so that damaged bytes make HDF5's read fail
        with h5py.File(path, "r+") as f:
            data, attrs = f[name][...], dict(f[name].attrs)
            del f[name]
            f.create_dataset(name, data=data, chunks=(1,) + data.shape[1:], compression="gzip")
            f[name].attrs.update(attrs)
    with h5py.File(path, "r") as f:
        info = f[name].id.get_chunk_info(chunk)
        offset, size = info.byte_offset, info.size
    with open(path, "r+b") as f:
        f.seek(offset + size // 3 // 4 * 4)  # on a float32 boundary
        f.write(pattern * (64 // len(pattern)))


def test_finite_garbage_in_a_chunk_is_caught_by_the_statistics(store, tmp_path):
    path = Path(shutil.copy(store, tmp_path / "flipped.h5"))
    corrupt_chunk(path, "/dm/z0.000/150", 1, np.float32(7.5).tobytes())
    with pytest.raises(DataError) as err:
        open_store(path, scan=True)
    text = str(err.value)
    assert text.startswith(f"{path}: /dm/z0.000/150: values do not match their statistics (mean stored")
    assert "changed or corrupt" in text and "\n" not in text


def test_nan_pixels_name_file_and_dataset(store, tmp_path):
    path = Path(shutil.copy(store, tmp_path / "nan.h5"))
    corrupt_chunk(path, "/pressure/z1.000/100", 0, np.float32(np.nan).tobytes())
    with pytest.raises(
        DataError, match=rf"^{re.escape(str(path))}: /pressure/z1.000/100 has 16 NaN/inf values \(first in slice 0\)$"
    ):
        open_store(path, scan=True)
    unscanned = open_store(path, scan=False)  # as for a store too large to scan up front: found when read
    with pytest.raises(DataError, match=r"^nan.h5: /pressure/z1.000/100\[0\] has NaN/inf values$"):
        DeviceTiles(unscanned, tile=32, split="train", device="cpu")
    lazy = TileDataset(unscanned, tile=32, split="train", in_memory=False)
    with pytest.raises(DataError, match=r"^nan.h5: /pressure/z1.000/100\[0\] has NaN/inf values$"):
        for i in range(0, len(lazy), 8):
            lazy.batch(list(range(i, min(i + 8, len(lazy)))))


def test_a_chunk_hdf5_cannot_read_names_file_and_dataset_at_open_and_in_training(store, tmp_path):
    path = Path(shutil.copy(store, tmp_path / "torn.h5"))
    corrupt_chunk(path, "/dm/z1.000/100", 0, b"\x00\xff", compress=True)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: cannot read /dm/z1.000/100 \(") as err:
        open_store(path, scan=True)
    assert "\n" not in str(err.value)
    unscanned = open_store(path, scan=False)
    with pytest.raises(
        DataError, match=rf"^{re.escape(str(path))}: cannot read /dm/z1.000/100 \(.*\): the file is damaged"
    ):
        TileDataset(unscanned, tile=32, split="train", in_memory=True).batch([0, 1, 2, 3, 20, 31])


def test_a_store_whose_statistics_were_rescaled_in_place_is_refused_at_resume(tiny, store, tmp_path):
    data, run = Path(shutil.copy(store, tmp_path / "data.h5")), tmp_path / "run"
    assert train(spec_on(tiny, data), run, quiet=True, evaluate=False, max_samples=4) == 0
    size = data.stat().st_size
    with h5py.File(data, "r+") as f:  # one map and its statistics rescaled together: consistent, same size
        ds = f["/pressure/z1.000/150"]
        ds[...] = ds[...] * 1.5
        for key, power in (("mean", 1), ("min", 1), ("max", 1), ("variance", 2)):
            ds.attrs[key] = ds.attrs[key] * 1.5**power
    assert data.stat().st_size == size
    with pytest.raises(RunError, match="--accept-data-change"):
        train(spec_on(tiny, data), run, resume=True, quiet=True, evaluate=False)


def test_same_content_needs_both_the_header_hash_and_the_size():
    from runner.data.identity import same_content

    a = {"path": "/x.h5", "size": 100, "sha256": "aa"}
    assert same_content(a, {**a, "path": "/elsewhere.h5"})
    assert not same_content(a, {**a, "sha256": "bb"})  # statistics rescaled in place: same size
    assert not same_content(a, {**a, "size": 101})


@pytest.mark.parametrize("zs", [[0.0, 0.5, 0.5, 1.0], [0.0, 1.0, 0.5, 2.0], [1.0, 0.0]])
def test_redshifts_repeated_or_descending_are_refused_naming_them(store, tmp_path, zs):
    bad = Path(shutil.copy(store, tmp_path / "bad.h5"))
    with h5py.File(bad, "r+") as f:
        f.attrs["redshifts"] = np.array(zs)
    with pytest.raises(DataError, match="strictly ascending") as err:
        open_store(bad)
    assert str(bad) in str(err.value) and str(zs) in str(err.value)
