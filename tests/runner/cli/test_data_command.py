"""`runner data mock | import-npy | info`: outputs, refusals and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from runner.cli import main
from runner.data import ensure_mock_store, open_store


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return open_store(ensure_mock_store(tmp_path_factory.mktemp("cli"), grid=64, slices=2, redshifts=(0.0, 1.0)))


def run(capsys, *argv):
    rc = main(["data", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_mock_writes_prints_the_table_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "m.h5"
    rc, stdout, _ = run(capsys, "mock", str(out), "--grid", "64", "--slices", "2", "--redshifts", "0,2", "--quiet")
    assert rc == 0 and open_store(out).redshifts == (0.0, 2.0)
    assert "dm var" in stdout and "p mean" in stdout and f"wrote {out}" in stdout
    rc, _, err = run(capsys, "mock", str(out), "--grid", "64", "--quiet")
    assert rc == 1 and err.startswith("error: m.h5: already exists") and err.count("\n") == 1


def test_mock_refuses_a_folder_as_output_before_any_work(tmp_path, capsys):
    (tmp_path / "m.h5").mkdir()
    rc, _, err = run(capsys, "mock", str(tmp_path / "m.h5"), "--grid", "64", "--force", "--quiet")
    assert rc == 1 and "is a folder" in err and err.count("\n") == 1 and "Traceback" not in err


def test_full_conflicts_with_an_explicit_grid(tmp_path, capsys):
    rc, _, err = run(capsys, "mock", str(tmp_path / "f.h5"), "--full", "--grid", "64")
    assert rc == 1 and "--full sets --grid 2048" in err and not (tmp_path / "f.h5").exists()


def test_info_prints_layout_statistics_and_sample_counts(source, capsys):
    rc, out, _ = run(capsys, "info", str(source.path), "--tile", "32")
    assert rc == 0
    assert "2 fields x 2 redshifts x 2 depths x 2 slices of 64^2" in out
    assert "train      slice 0: 32 samples of 32^2 = 2 z x (1 slices x 4 tiles)^2" in out
    assert f"{source.stats('pressure', 1.0).sigma:.4g}" in out


def test_info_on_a_broken_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    rc, out, err = run(capsys, "info", str(bad))
    assert rc == 1 and out == "" and err.startswith(f"error: {bad}: ") and err.count("\n") == 1


def export_npy(store, folder, names=("dm", "pressure")):
    """The store written as the original's npy files."""
    folder.mkdir(exist_ok=True)
    for name, field in zip(names, ("dm", "pressure")):
        for z in store.redshifts:
            for d in (100, 150):
                np.save(folder / f"{name}_z{z:.3f}_train_{d}.npy", store.dataset(field, z, d)[...])
    return folder


def test_import_npy_round_trips_the_maps_with_custom_field_names(source, tmp_path, capsys):
    src = export_npy(source, tmp_path / "npy", names=("dens", "pe"))
    out = tmp_path / "imported.h5"
    rc, stdout, _ = run(
        capsys,
        "import-npy",
        str(src),
        str(out),
        "--dm-name",
        "dens",
        "--pressure-name",
        "pe",
        "--dm-scale",
        "1",
        "--quiet",
    )
    assert rc == 0 and "2 fields x 2 redshifts" in stdout
    store = open_store(out)
    assert store.box_size == source.box_size and store.redshifts == source.redshifts
    for field in ("dm", "pressure"):
        assert store.stats(field, 1.0).var == pytest.approx(source.stats(field, 1.0).var, rel=1e-12)
        np.testing.assert_array_equal(store.dataset(field, 0.0, 150)[...], source.dataset(field, 0.0, 150)[...])


def test_import_npy_scales_raw_dark_matter_as_the_original_loads_it(source, tmp_path, capsys):
    # raw npy dark matter: the store's values divided by the original's load-time factor,
    # Omega_m / (Omega_m - Omega_b) / (n_grid / 8 * 5) with BAHAMAS's 0.2793 and 0.0463
    factor = 0.2793 / (0.2793 - 0.0463) / (64 / 8 * 5)
    src = export_npy(source, tmp_path / "npy")
    for npy in src.glob("dm_*.npy"):
        np.save(npy, (np.load(npy).astype(np.float64) / factor).astype(np.float32))
    rc, _, err = run(capsys, "import-npy", str(src), str(tmp_path / "raw.h5"), "--quiet")
    assert rc == 0, err
    store = open_store(tmp_path / "raw.h5")
    for z in source.redshifts:
        assert store.stats("dm", z).sum_mean == pytest.approx(source.stats("dm", z).sum_mean, rel=1e-5)
    np.testing.assert_allclose(store.dataset("dm", 1.0, 100)[...], source.dataset("dm", 1.0, 100)[...], rtol=1e-5)
    assert store.attrs["dm_scale"] == pytest.approx(factor)
    assert "mean ~1" in store.dataset("dm", 0.0, 150).attrs["units"]


def test_import_npy_refuses_dark_matter_off_the_convention_with_a_working_fix(source, tmp_path, capsys):
    src = export_npy(source, tmp_path / "npy")  # already in the store's convention
    rc, _, err = run(capsys, "import-npy", str(src), str(tmp_path / "o.h5"), "--quiet")
    assert rc == 1 and err.count("\n") == 1 and "expected ~1" in err and "--dm-scale 1;" in err
    assert not (tmp_path / "o.h5").exists()
    fix = err.rsplit("--dm-scale ", 1)[1].split()[0]
    rc, _, err = run(capsys, "import-npy", str(src), str(tmp_path / "o.h5"), "--quiet", "--dm-scale", fix)
    assert rc == 0, err
    assert open_store(tmp_path / "o.h5").stats("dm", 0.0).sum_mean == pytest.approx(1.0, rel=1e-3)
    rc, _, err = run(capsys, "import-npy", str(src), str(tmp_path / "p.h5"), "--dm-scale", "-2")
    assert rc == 1 and "--dm-scale must be a positive number" in err


def test_import_npy_names_missing_and_inconsistent_files(source, tmp_path, capsys):
    src = export_npy(source, tmp_path / "npy")
    (src / "pressure_z1.000_train_150.npy").unlink()
    rc, _, err = run(capsys, "import-npy", str(src), str(tmp_path / "o.h5"))
    assert rc == 1 and "missing 1 of 8 files: pressure_z1.000_train_150.npy" in err
    np.save(src / "pressure_z1.000_train_150.npy", np.zeros((2, 64, 32), np.float32))
    rc, _, err = run(capsys, "import-npy", str(src), str(tmp_path / "o.h5"))
    assert rc == 1 and "pressure_z1.000_train_150.npy: shape (2, 64, 32) dtype float32" in err
    np.save(src / "pressure_z1.000_train_150.npy", np.zeros((3, 64, 64), np.float32))
    rc, _, err = run(capsys, "import-npy", str(src), str(tmp_path / "o.h5"))
    assert rc == 1 and "shape (3, 64, 64) differs from dm_z0.000_train_100.npy's (2, 64, 64)" in err
    assert not (tmp_path / "o.h5").exists() and err.count("\n") == 1


def test_import_npy_rejects_nan_naming_file_and_slice(source, tmp_path, capsys):
    src = export_npy(source, tmp_path / "npy")
    a = np.load(src / "dm_z1.000_train_100.npy")
    a[1, 3, 3] = np.nan
    np.save(src / "dm_z1.000_train_100.npy", a)
    rc, _, err = run(capsys, "import-npy", str(src), str(tmp_path / "o.h5"), "--quiet", "--dm-scale", "1")
    assert rc == 1 and "dm_z1.000_train_100.npy[1]: 1 NaN/inf values" in err
    assert [p.name for p in tmp_path.iterdir()] == ["npy"]  # no output, no temporary


def test_import_npy_of_constant_maps_writes_nothing(source, tmp_path, capsys):
    src = export_npy(source, tmp_path / "npy")
    for npy in src.glob("pressure_*.npy"):
        np.save(npy, np.ones_like(np.load(npy)))
    rc, _, err = run(capsys, "import-npy", str(src), str(tmp_path / "o.h5"), "--quiet", "--dm-scale", "1")
    assert rc == 1 and "variance" in err and err.count("\n") == 1 and "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["npy"]  # no unusable output, no temporary


def test_data_commands_do_not_import_torch(source):
    code = "import sys; from runner.cli import main; main(['data', 'info', sys.argv[1]]); print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code, str(source.path)], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().endswith("False")
