"""`runner import-original`: the original's published CVAE, rebuilt from its printed module tree
(tests/original_files.py), imports into the paper spec and paints what the original's wiring
paints; every key and shape is checked; a tampered model_meta is refused without running it."""

from __future__ import annotations

import json
import os
import re
import sys
import types
from collections import OrderedDict
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from scipy import ndimage

from runner import checkpoint as ck
from runner.cli import main
from runner.data.original_stats import ORIGINAL_STATS, original_stats
from runner.importers.original import import_original
from runner.importers.original_meta import MetaError, read_meta
from runner.science.painter import Painter, map_seed
from tests.original_files import Pickle, model_meta, trained_like

ROOT = Path(__file__).resolve().parents[3]
Z = 0.5  # a redshift the original stored: sigma_z needs no interpolation


def _stats(scale_var: float = 1.0) -> dict:
    stats = original_stats()
    return {f: {z: {"mean": e["mean"], "var": e["var"] * scale_var} for z, e in t.items()} for f, t in stats.items()}


def _write_folder(folder: Path, state: dict, *, legacy: bool = True, meta: bytes | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "model_state", _use_new_zipfile_serialization=not legacy)
    if meta is not None:
        (folder / "model_meta").write_bytes(meta)
    (folder / "training_stats.txt").write_text("# Batch nr, sample nr, ELBO\n0 4 -55661.5\n14719 252928 -33.3\n")
    return folder


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a shared machine two threads spin-wait for each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def original():
    return trained_like(seed=0)


@pytest.fixture(scope="module")
def fiducial(original, tmp_path_factory):
    """The published folder as 2019's torch wrote it (legacy format), with model_meta's
    statistics 10% off the published variances, so that the test sees which were used."""
    root = tmp_path_factory.mktemp("original")
    return _write_folder(root / "fiducial", original.state_dict(), meta=model_meta(_stats(1.1)))


@pytest.fixture(scope="module")
def imported(fiducial, tmp_path_factory):
    run = tmp_path_factory.mktemp("imported") / "run"
    assert main(["import-original", str(fiducial), "--out", str(run)]) == 0
    return run


def _dm(seed: int, size: int = 512) -> np.ndarray:
    """A positive map of mean 1, like a 250 Mpc/h-deep projection in the model's units."""
    field = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal((size, size)), 3, mode="wrap")
    dm = np.exp(field / field.std())
    return (dm / dm.mean()).astype(np.float32)


def _original_paint(original, dm: np.ndarray, z: float, stats: dict, seed: int | None) -> np.ndarray:
    """The original's paint(): its transform, sample_P (z from the prior, drawn after
    torch.manual_seed(seed)), its inverse transform; seed None paints at the prior's mean."""
    sigma_dm, sigma_p = (np.sqrt(stats[f][z]["var"]) for f in ("dm", "pressure"))
    y = np.stack([np.log(dm / sigma_dm + 1) / 4, np.full_like(dm, z)])[None].astype(np.float32)
    y = torch.from_numpy(y)
    if seed is None:
        x = original.sample_P(y, z=original.prior(y)[0][:, None])
    else:
        torch.manual_seed(seed)
        x = original.sample_P(y)
    return (np.expm1(4 * x[0, 0].double().numpy())) * sigma_p


# -- the import and what it paints --------------------------------------------------------------


def test_import_then_paint_equals_the_originals_wiring(original, imported):
    painter = Painter.load(imported, device="cpu")
    dm = _dm(1)
    stats = _stats(1.1)
    np.testing.assert_allclose(painter.transforms["dm"].sigma(Z), np.sqrt(stats["dm"][Z]["var"]), rtol=1e-12)
    drawn = painter.paint(dm, Z, seed=7)  # one prior draw per tile, seeded as map 0 of seed 7
    expected = _original_paint(original, dm, Z, stats, seed=map_seed(7, 0))
    np.testing.assert_allclose(drawn, expected, rtol=2e-5, atol=1e-6 * np.abs(expected).max())
    at_mean = painter.paint(dm, Z, latent="mean")
    np.testing.assert_allclose(
        at_mean, _original_paint(original, dm, Z, stats, seed=None), rtol=2e-5, atol=1e-6 * np.abs(expected).max()
    )
    assert np.abs(drawn - at_mean).max() > 1e-4 * np.abs(expected).max()  # the draw is not the mean


def test_runner_paint_on_the_imported_run_writes_the_originals_painting(original, imported, tmp_path, capsys):
    dm = _dm(2)
    with h5py.File(tmp_path / "dm.h5", "w") as f:
        f.create_dataset("dm", data=dm).attrs["redshift"] = Z
    code = main(
        [
            "paint",
            str(imported),
            "--input",
            str(tmp_path / "dm.h5"),
            "--output",
            str(tmp_path / "p.h5"),
            "--quiet",
            "--device",
            "cpu",
            "--seed",
            "3",
        ]
    )
    assert code == 0, capsys.readouterr().err
    with h5py.File(tmp_path / "p.h5", "r") as f:
        painted, attrs = f["pressure"][()], dict(f.attrs)
    expected = _original_paint(original, dm, Z, _stats(1.1), seed=map_seed(3, 0))
    np.testing.assert_allclose(painted, expected, rtol=2e-5, atol=1e-6 * np.abs(expected).max())
    assert attrs["samples_seen"] == 252928 and attrs["spec_name"] == "paper_cvae"
    assert attrs["imported_from"].endswith("fiducial")


def test_the_run_folder_records_what_was_read(imported, fiducial):
    record = json.loads((imported / "imported.json").read_text())
    assert (
        record["checkpoint"] == "checkpoint-252928.pt"
        and (imported / "latest").read_text().strip() == record["checkpoint"]
    )
    assert record["statistics"].startswith("model_meta") and set(record["files"]) == {
        "model_state",
        "model_meta",
        "training_stats.txt",
    }
    assert any("differ from the published ones by up to 10.00%" in note for note in record["notes"])
    import hashlib

    assert record["files"]["model_state"] == hashlib.sha256((fiducial / "model_state").read_bytes()).hexdigest()
    assert (imported / "spec.yaml").read_text().startswith("# yaml-language-server")


def test_zip_and_legacy_formats_import_the_same_weights(original, imported, tmp_path):
    folder = _write_folder(tmp_path / "zip", original.state_dict(), legacy=False, meta=model_meta(_stats(1.1)))
    assert (folder / "model_state").read_bytes()[:2] == b"PK"  # a zip archive; the fixture's is not
    assert import_original(folder, tmp_path / "run").samples_seen == 252928
    a = ck.read(tmp_path / "run" / "checkpoint-252928.pt")[ck.KEY_MODEL]
    b = ck.read(imported / "checkpoint-252928.pt")[ck.KEY_MODEL]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_published_statistics_without_model_meta_and_a_state_dict_older_than_num_batches_tracked(original, tmp_path):
    state = {k: v for k, v in original.state_dict().items() if not k.endswith("num_batches_tracked")}
    folder = _write_folder(tmp_path / "old", state)  # no model_meta
    imported = import_original(folder, tmp_path / "run")
    assert imported.statistics.startswith("published") and any("no model_meta" in n for n in imported.notes)
    saved = ck.read(imported.checkpoint)[ck.KEY_TRANSFORMS]["pressure"]
    assert saved["sigmas"][-1] == pytest.approx(np.sqrt(ORIGINAL_STATS[2.0][3]))
    assert saved["means"][0] == pytest.approx(ORIGINAL_STATS[0.0][2])


# -- keys and shapes that do not fit -----------------------------------------------------------


def _mutated(original, how: str) -> dict:
    state = dict(original.state_dict())
    if how == "shape":
        state["p_y_z_in.13.res_block.3.weight"] = torch.zeros(128, 128, 5, 5)
    elif how == "missing":
        del state["p_z_in.3.weight"]
    elif how == "extra":
        state["p_var_out.0.weight"] = torch.zeros(1, 16, 3, 3)
    elif how == "not a tensor":
        state["q_out.0.weight"] = [1.0, 2.0]
    return state


@pytest.mark.parametrize(
    "how, message",
    [
        (
            "shape",
            "model_state: p_y_z_in.13.res_block.3.weight has shape (128, 128, 5, 5); "
            "paper_cvae's generator.B.4.1.1.conv.weight needs (128, 128, 3, 3)",
        ),
        ("missing", "model_state lacks p_z_in.3.weight, which paper_cvae's generator.A.1.conv.weight needs"),
        ("extra", "model_state: p_var_out.0.weight has no place in paper_cvae"),
        ("not a tensor", "model_state: q_out.0.weight is a list, not a tensor"),
    ],
)
def test_the_first_key_that_does_not_fit_is_named_and_nothing_is_written(original, how, message, tmp_path, capsys):
    folder = _write_folder(tmp_path / "bad", _mutated(original, how))
    code = main(["import-original", str(folder), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1 and message in err, err
    assert err.count("\n") == 1 and err.startswith("runner: error: ") and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_a_model_state_holding_objects_is_refused_by_weights_only(tmp_path, capsys):
    folder = tmp_path / "objects"
    folder.mkdir()
    torch.save({"q_x_in.0.weight": types.SimpleNamespace(a=1)}, folder / "model_state")
    code = main(["import-original", str(folder), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1 and "cannot be read as tensors" in err and "SimpleNamespace" in err and err.count("\n") == 1


def test_existing_runs_are_never_overwritten_and_a_previous_import_only_with_force(
    imported, fiducial, tmp_path, capsys
):
    (tmp_path / "trained").mkdir()
    (tmp_path / "trained" / "checkpoint-5.pt").write_text("a run")
    assert main(["import-original", str(fiducial), "--out", str(tmp_path / "trained"), "--force"]) == 1
    assert "no import wrote" in capsys.readouterr().err
    assert (tmp_path / "trained" / "checkpoint-5.pt").read_text() == "a run"
    again = tmp_path / "again"
    assert main(["import-original", str(fiducial), "--out", str(again), "--statistics", "fiducial"]) == 0
    assert main(["import-original", str(fiducial), "--out", str(again)]) == 1
    assert "pass --force" in capsys.readouterr().err
    assert main(["import-original", str(fiducial), "--out", str(again), "--force"]) == 0


def test_an_imported_run_cannot_be_resumed(imported, capsys):
    code = main(
        ["train", str(imported / "spec.yaml"), "--out", str(imported), "--resume", "--device", "cpu", "--quiet"]
    )
    err = capsys.readouterr().err
    assert code == 1 and "cannot resume" in err and "imported from" in err and "Traceback" not in err, err


# -- model_meta: read without running it ----------------------------------------------------------


def test_model_meta_gives_the_statistics_and_shapes_it_holds(tmp_path):
    (tmp_path / "model_meta").write_bytes(model_meta(_stats(1.1)))
    meta = read_meta(tmp_path / "model_meta")
    assert meta.stats == _stats(1.1)
    assert meta.architecture == {"dim_x": (1, 512, 512), "dim_y": (1, 512, 512), "dim_z": (1, 16, 16)}
    assert meta.settings["n_grid"] == 2048 and meta.settings["input_field"] == "dm"


RAN = []  # what a payload would append to if it ran


def _os_system(p: Pickle) -> None:
    p.call("os", "system", lambda q: q.str("touch PAYLOAD_RAN"))


def _via_dill(p: Pickle) -> None:  # dill's own indirection, aimed at os.system
    p.glob("dill._dill", "_get_attr").op(b"(").call("dill._dill", "_import_module", lambda q: q.str("os"))
    p.str("system").op(b"t").op(b"R").op(b"(").str("touch PAYLOAD_RAN").op(b"t").op(b"R")


def _eval(p: Pickle) -> None:
    p.call("builtins", "eval", lambda q: q.str("__import__('os').system('touch PAYLOAD_RAN')"))


def _this_module(p: Pickle) -> None:  # a function that exists and would record its call
    p.call(__name__, "_payload", lambda q: q.str("ran"))


def _payload(value):
    RAN.append(value)


def _getattr_chain(p: Pickle) -> None:
    """builtins.getattr from a placeholder to eval: Inert().__call__.__func__.__globals__
    ['__builtins__']['eval'](...) -- every step a getattr or a dict's get, no other global."""

    def getattr_(obj, name):
        return lambda: (p.glob("builtins", "getattr").op(b"("), obj(), p.str(name), p.op(b"t").op(b"R"))

    def called(f, arg):
        return lambda: (f(), p.op(b"("), p.str(arg), p.op(b"t").op(b"R"))

    inert = lambda: p.glob("baryon_painter.x", "Y").op(b"(").op(b"t").op(b"R")  # noqa: E731
    module_globals = getattr_(getattr_(getattr_(inert, "__call__"), "__func__"), "__globals__")
    builtins_ = called(getattr_(module_globals, "get"), "__builtins__")
    called(called(getattr_(builtins_, "get"), "eval"), "__import__('os').system('touch PAYLOAD_RAN')")()


@pytest.mark.parametrize(
    "payload, named",
    [
        (_os_system, "it names os.system"),
        (_via_dill, "it imports the module 'os'"),
        (_eval, "it names builtins.eval"),
        (_this_module, f"it names {__name__}._payload"),
        (_getattr_chain, "it names builtins.getattr"),
    ],
)
def test_a_tampered_model_meta_is_refused_without_running_it(payload, named, fiducial, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    folder = _write_folder(tmp_path / "tampered", {}, meta=model_meta(_stats(), payload=payload))
    (folder / "model_state").write_bytes((fiducial / "model_state").read_bytes())
    code = main(["import-original", str(folder), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1 and f"refused: {named}" in err and "nothing in it was run" in err, err
    assert "--statistics fiducial" in err and err.count("\n") == 1
    assert not (tmp_path / "PAYLOAD_RAN").exists() and RAN == [] and not (tmp_path / "run").exists()


def test_the_reader_resolves_exactly_these_globals_to_real_objects():
    # Written out here, not read from the module: a name added to REAL (builtins.getattr, say)
    # must fail this test and be argued for, since a real object is what a tampered file can reach.
    from runner.importers.original_meta import REAL

    numpy_core = ("numpy.core.multiarray", "numpy._core.multiarray")
    assert set(REAL) == {
        *((m, "_reconstruct") for m in numpy_core),
        *((m, "scalar") for m in numpy_core),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
    }
    assert REAL[("numpy", "ndarray")] is np.ndarray and REAL[("collections", "OrderedDict")] is OrderedDict


@pytest.mark.parametrize("field, bad", [("pressure", -1.0), ("dm", 0.0), ("dm", float("nan"))])
def test_statistics_with_a_variance_not_above_zero_are_refused_naming_field_and_redshift(field, bad, tmp_path):
    stats = _stats()
    z = sorted(stats[field])[3]
    stats[field][z]["var"] = bad
    (tmp_path / "model_meta").write_bytes(model_meta(stats))
    with pytest.raises(MetaError, match=f"its {field} statistics at z = {z:g} are not usable"):
        read_meta(tmp_path / "model_meta")


def test_the_originals_own_names_stay_inert_placeholders_never_imported(tmp_path, monkeypatch):
    called = []
    fake = types.ModuleType("baryon_painter.utils.data_transforms")
    fake.atleast_3d = lambda *a: called.append(a)
    monkeypatch.setitem(sys.modules, "baryon_painter.utils.data_transforms", fake)
    (tmp_path / "model_meta").write_bytes(
        model_meta(
            _stats(),
            payload=lambda p: p.call("baryon_painter.utils.data_transforms", "atleast_3d", lambda q: q.str("x")),
        )
    )
    assert read_meta(tmp_path / "model_meta").stats == _stats()
    assert called == []


# -- the packaged spec and the published table ------------------------------------------------------


def test_the_packaged_paper_spec_is_specs_paper_cvae():
    packaged = ROOT / "runner" / "importers" / "paper_cvae.yaml"
    assert packaged.read_text() == (ROOT / "specs" / "paper_cvae.yaml").read_text(), (
        "cp specs/paper_cvae.yaml runner/importers/paper_cvae.yaml"
    )


def test_the_published_statistics_are_the_table_of_docs_data_md():
    rows = re.findall(
        r"^\| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$",
        (ROOT / "docs" / "data.md").read_text(),
        flags=re.M,
    )
    assert {float(r[0]): tuple(float(v) for v in r[1:]) for r in rows} == ORIGINAL_STATS


# -- the real published folder, where one is at hand ---------------------------------------------------

REAL = os.environ.get("ARCHSPEC_ORIGINAL_FIDUCIAL")  # the original's trained_models/CVAE/fiducial
PARAMS = {
    "Conv2d": ("weight",),
    "ConvTranspose2d": ("weight",),
    "PReLU": ("weight",),
    "BatchNorm2d": ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"),
}


def printed_keys(text: str) -> set[str]:
    """The state-dict keys a printed torch module tree implies (bias=False throughout)."""
    keys, path = set(), []
    for line in text.splitlines():
        match = re.match(r"^(\s*)\((\w+)\): (\w+)\(", line)
        if not match:
            continue
        depth = len(match.group(1)) // 2 - 1
        path = path[:depth] + [match.group(2)]
        keys |= {".".join(path + [p]) for p in PARAMS.get(match.group(3), ())}
    return keys


@pytest.mark.skipif(not REAL, reason="ARCHSPEC_ORIGINAL_FIDUCIAL names no folder of the original's published model")
def test_the_real_published_folder(tmp_path):
    import archspec
    from runner.importers.original import _worst_difference, paper_spec
    from runner.importers.original_model import key_map

    folder = Path(REAL)
    assert _worst_difference(read_meta(folder / "model_meta").stats, original_stats()) < 1e-5
    spec = paper_spec()
    assert printed_keys((folder / "architecture_built.txt").read_text()) == {
        k for k, _ in key_map(archspec.build(spec), spec)
    }
    if (folder / "model_state").is_file():
        painter = Painter.load(import_original(folder, tmp_path / "run").checkpoint, device="cpu")
        assert np.all(np.isfinite(painter.paint(_dm(0), 0.0)))
