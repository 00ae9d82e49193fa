"""Applying a checkpoint: files in and out with provenance, seamless tiles, one-line errors."""

from __future__ import annotations

import datetime
import hashlib
import json

import h5py
import numpy as np
import pytest
import torch
from scipy import ndimage

import archspec
from archspec.language.dump import to_data
from runner import checkpoint as ck
from runner.cli import main
from runner.data.transforms import ShiftLog
from runner.science.painted_files import paint_file
from runner.science.painter import KEY_TRANSFORMS, Painter
from tests.seams import seam_jump
from tests.spec_texts import BASE

TILE, OVERLAP = 32, 8  # BASE's tile; the overlap of the seam test
SIZE_3X3 = 3 * (TILE - OVERLAP) + OVERLAP  # 80: exactly three tiles a side
TRANSFORMS = {
    "dm": ShiftLog([0, 1, 2], [1.21, 0.59, 0.34], "dm"),
    "pressure": ShiftLog([0, 1, 2], [0.367, 0.0818, 0.0196], "pressure"),
}


def _state(spec, model, transforms=TRANSFORMS) -> dict:
    state = {
        ck.KEY_FORMAT: ck.FORMAT,
        ck.KEY_FORMAT_VERSION: ck.FORMAT_VERSION,
        ck.KEY_MODEL: model.state_dict(),
        ck.KEY_OPTIMIZER: {},
        ck.KEY_SAMPLES: 123,
        ck.KEY_STEP: 7,
        ck.KEY_SAMPLERS: {},
        ck.KEY_RNG: {},
        ck.KEY_SPEC: to_data(spec),
        ck.KEY_SPEC_HASH: archspec.spec_hash(spec),
        ck.KEY_VERSIONS: ck.versions(),
    }
    if transforms is not None:
        state[KEY_TRANSFORMS] = {f: t.to_config() for f, t in transforms.items()}
    return state


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder holding one checkpoint of the tiny, untrained BASE model."""
    spec = archspec.loads(BASE)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("run")
    ck.save(folder, _state(spec, archspec.build(spec)))
    return folder


@pytest.fixture(scope="module")
def painter(run_dir):
    return Painter.load(run_dir, device="cpu")


def _density(seed: int, shape, sigma: float = 3.0) -> np.ndarray:
    """A positive, smooth 1 + delta map."""
    field = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(shape), sigma, mode="wrap")
    return np.exp(0.5 * field / field.std()).astype(np.float32)


def _write_plain(path, maps, redshift) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("dm", data=maps).attrs["redshift"] = redshift


def _paint(argv: list[str], capsys) -> tuple[int, str]:
    code = main(["paint", *map(str, argv), "--quiet", "--device", "cpu"])
    return code, capsys.readouterr().err


# -- files in and out ----------------------------------------------------------------------------


def test_painted_maps_round_trip_through_the_file_with_their_provenance(run_dir, painter, tmp_path, capsys):
    maps = np.stack([_density(1, (80, 100)), _density(2, (80, 100))])
    _write_plain(tmp_path / "dm.h5", maps, [0.5, 1.0])
    code, err = _paint([run_dir, "--input", tmp_path / "dm.h5", "--output", tmp_path / "p.h5"], capsys)
    assert code == 0, err
    checkpoint = run_dir / "checkpoint-123.pt"
    with h5py.File(tmp_path / "p.h5", "r") as f:
        painted, attrs, ds_attrs = f["pressure"][()], dict(f.attrs), dict(f["pressure"].attrs)
    expected = painter.paint(maps, [0.5, 1.0], seed=0)  # the Python API paints what the command writes
    assert painted.shape == maps.shape and painted.dtype == np.float32
    np.testing.assert_allclose(painted, expected, rtol=1e-6, atol=0)
    assert np.all(painted > -TRANSFORMS["pressure"].sigma(1.0))  # the inverse transform's range
    assert attrs["checkpoint"] == str(checkpoint.resolve())
    assert attrs["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert attrs["spec_hash"] == archspec.spec_hash(archspec.loads(BASE)) and attrs["samples_seen"] == 123
    assert attrs["archspec_version"] == archspec.__version__ and attrs["transform_source"] == "checkpoint"
    assert archspec.loads(attrs["spec"]) == archspec.loads(BASE)
    assert json.loads(attrs["transforms"])["pressure"] == TRANSFORMS["pressure"].to_config()
    age = datetime.datetime.now(datetime.timezone.utc) - datetime.datetime.fromisoformat(attrs["created"])
    assert datetime.timedelta(0) <= age < datetime.timedelta(minutes=5)
    assert (
        list(ds_attrs["redshift"]) == [0.5, 1.0] and ds_attrs["source"] == "/dm" and "1 draw(s)" in ds_attrs["latent"]
    )
    assert "250 Mpc/h-deep projection has mean ≈ 1" in attrs["dm_units"]


def test_the_command_writes_the_generators_output_at_the_prior_mean_in_pressure_units(
    run_dir, painter, tmp_path, capsys
):
    """One tile-sized map at z = 1 (a stored redshift): the file holds sigma_1 (exp(4 t) - 1) of the
    generator's output t at the prior's mean, with sigma_1 = 0.0818 as the checkpoint stores it and
    the inverse of the original's transform written out here."""
    dm, z = _density(4, (TILE, TILE)), 1.0
    _write_plain(tmp_path / "one.h5", dm, z)
    code, err = _paint(
        [run_dir, "--input", tmp_path / "one.h5", "--output", tmp_path / "p.h5", "--latent", "mean"], capsys
    )
    assert code == 0, err
    with h5py.File(tmp_path / "p.h5", "r") as f:
        painted = f["pressure"][()]
    y = torch.from_numpy(painter.network_input(dm, z)[None])
    with torch.no_grad():
        t = painter.model.generator(z=painter.model.prior(y=y)[0], y=y)[0, 0].double().numpy()
    np.testing.assert_allclose(painted, 0.0818 * (np.exp(4 * t) - 1), rtol=1e-5, atol=1e-9)


def test_latent_samples_add_an_axis_differ_and_are_reproducible(painter, tmp_path):
    _write_plain(tmp_path / "dm.h5", _density(3, (40, 40)), 0.25)
    out = [paint_file(painter, tmp_path / "dm.h5", tmp_path / f"p{i}.h5", samples=3, seed=5)[0] for i in range(2)]
    first, second = (h5py.File(p, "r")["pressure"][()] for p in out)
    assert first.shape == (3, 40, 40)
    np.testing.assert_array_equal(first, second)  # a seed gives the same draws
    assert np.abs(first[0] - first[1]).max() > 1e-6  # draws differ from one another
    mean = paint_file(painter, tmp_path / "dm.h5", tmp_path / "mean.h5", latent="mean")[0]
    at_mean = h5py.File(mean, "r")["pressure"][()]
    assert at_mean.shape == (40, 40) and not np.array_equal(at_mean, first[0])
    one = paint_file(painter, tmp_path / "dm.h5", tmp_path / "one.h5", seed=5)[0]  # the default: one draw, no axis
    np.testing.assert_array_equal(h5py.File(one, "r")["pressure"][()], first[0])


def test_the_default_latent_is_a_prior_draw_and_mean_is_the_priors_mean(painter):
    dm, z = _density(9, (32, 32)), 0.5  # one tile: painting is the generator itself
    y = torch.from_numpy(painter.network_input(dm, z)[None])
    with torch.no_grad():
        p_mean, p_logvar = painter.model.prior(y=y)
        at_mean = painter.model.generator(z=p_mean, y=y)
        torch.manual_seed(3)  # the original's draw: z = mu + eps * (exp(logvar / 2) + 1e-7)
        drawn = painter.model.generator(z=p_mean + torch.randn_like(p_mean) * ((p_logvar / 2).exp() + 1e-7), y=y)
    physical = [painter.transforms["pressure"].inverse(t[0, 0].double().numpy(), z) for t in (at_mean, drawn)]
    np.testing.assert_allclose(painter.paint(dm, z, latent="mean"), physical[0], rtol=1e-5)
    np.testing.assert_allclose(painter.paint_map(dm, z, seed=3), physical[1], rtol=1e-5)
    assert np.abs(physical[0] - physical[1]).max() > 1e-6


def test_a_stack_paints_map_by_map_and_names_the_map_that_cannot_be(painter):
    from runner.science.painter import PaintError, map_seed

    maps = np.stack([_density(1, (40, 40)), _density(2, (40, 40))])
    stack = painter.paint(maps, [0.0, 1.0], seed=2)
    np.testing.assert_array_equal(stack[1], painter.paint_map(maps[1], 1.0, seed=map_seed(2, 1)))
    maps[1, 3, 4] = -5.0
    with pytest.raises(PaintError, match=r"^map 1 of 2: the dark-matter map reaches -5"):
        painter.paint(maps, 0.0)
    with pytest.raises(PaintError, match=r"one per map \(2\)"):
        painter.paint(maps, [0.0, 0.5, 1.0])


def test_store_layout_paints_every_redshift_and_depth(painter, tmp_path):
    with h5py.File(tmp_path / "store.h5", "w") as f:
        f.create_dataset("dm/z0.000/100", data=np.stack([_density(4, (48, 48)), _density(5, (48, 48))]))
        f.create_dataset("dm/z0.000/150", data=np.stack([_density(6, (48, 48))] * 2))
        f.create_dataset("dm/z1.500/100", data=_density(7, (32, 64))).attrs["redshift"] = 1.5
    out, n = paint_file(painter, tmp_path / "store.h5", tmp_path / "p.h5")
    assert n == 5
    with h5py.File(out, "r") as f:
        assert sorted(f["pressure"]) == ["z0.000", "z1.500"] and sorted(f["pressure/z0.000"]) == ["100", "150"]
        assert f["pressure/z0.000/150"].shape == (2, 48, 48) and f["pressure/z1.500/100"].shape == (32, 64)
        assert f["pressure/z1.500/100"].attrs["redshift"] == 1.5
        expected = painter.paint(np.stack([_density(4, (48, 48)), _density(5, (48, 48))]), 0.0)  # seeds (0, 0), (0, 1)
        np.testing.assert_allclose(f["pressure/z0.000/100"][1], expected[1], rtol=1e-6)


def test_without_statistics_in_the_checkpoint_the_specs_store_supplies_them(tmp_path, capsys):
    from runner.data import ensure_mock_store, open_store

    store = ensure_mock_store(tmp_path, grid=64, slices=2, redshifts=[0.0, 1.0])
    spec = archspec.loads(BASE.replace("training:", f"data: {{store: {json.dumps(str(store))}}}\ntraining:"))
    ck.save(tmp_path, _state(spec, archspec.build(spec), transforms=None))
    painter = Painter.load(tmp_path, device="cpu")
    assert "carries no transform statistics" in capsys.readouterr().err
    expected = ShiftLog.from_store(open_store(store), "pressure")
    np.testing.assert_array_equal(painter.transforms["pressure"].sigmas, expected.sigmas)
    assert painter.provenance["transform_source"] == str(store)


# -- seams ---------------------------------------------------------------------------------------


def _seam_steps(painted: np.ndarray, reference: np.ndarray, overlap: int) -> float:
    return seam_jump(painted, reference, tile=TILE, overlap=overlap, margin=4)


def test_a_real_model_paints_3x3_tiles_without_seams(painter):
    dm, z = _density(8, (SIZE_3X3, SIZE_3X3)), 0.5
    y = torch.from_numpy(painter.network_input(dm, z)[None])
    with torch.no_grad():  # the generator is fully convolutional: the whole map at once is the reference
        reference = painter.transforms["pressure"].inverse(
            painter.model.generator(z=painter.model.prior(y=y)[0], y=y)[0, 0].double().numpy(), z
        )
    typical = np.median(np.abs(np.diff(reference, axis=1))[4:-4, 4:-4])

    blended = painter.paint(dm, z, latent="mean", overlap=OVERLAP)
    hard = painter.paint(dm, z, latent="mean", overlap=0)
    assert _seam_steps(blended, reference, OVERLAP) < typical  # measured: ~2x below
    assert _seam_steps(hard, reference, 0) > 30 * _seam_steps(blended, reference, OVERLAP)  # measured: ~120x


# -- errors --------------------------------------------------------------------------------------


def _bad_input(kind: str, tmp_path):
    path = tmp_path / "in.h5"
    if kind == "missing input":
        return tmp_path / "nope.h5"
    if kind == "not hdf5":
        path.write_text("hello")
    elif kind == "wrong layout":
        with h5py.File(path, "w") as f:
            f.create_dataset("density", data=np.ones((40, 40)))
    elif kind == "no redshift":
        with h5py.File(path, "w") as f:
            f.create_dataset("dm", data=np.ones((40, 40)))
    elif kind == "map smaller than the tile":
        _write_plain(path, np.ones((3, 20, 40), np.float32), 0.0)
    elif kind == "negative density":
        _write_plain(path, np.full((40, 40), -5.0, np.float32), 0.0)
    elif kind == "density below -sigma":
        dm = np.ones((40, 40), np.float32)
        dm[3, 4] = -2.0  # the mean is fine, one pixel is not
        _write_plain(path, dm, 0.0)
    elif kind == "input is a folder":
        path.mkdir()
    elif kind == "redshift not a number":
        _write_plain(path, np.ones((40, 40), np.float32), "abc")
    return path


@pytest.mark.parametrize(
    "kind, needle",
    [
        ("missing input", "no such file"),
        ("not hdf5", "not a readable HDF5 file"),
        ("wrong layout", "expected a dataset /dm"),
        ("no redshift", "no 'redshift' (or 'z') attribute"),
        ("map smaller than the tile", "smaller than the generator's 32x32 tile"),
        ("negative density", "has mean -5: dark matter must be a positive projected density"),
        ("density below -sigma", "shift-log transform is undefined"),
        ("redshift not a number", "'redshift' attribute must be a number"),
        ("input is a folder", "is a folder"),
    ],
)
def test_bad_inputs_fail_with_one_line(kind, needle, run_dir, tmp_path, capsys):
    code, err = _paint([run_dir, "--input", _bad_input(kind, tmp_path), "--output", tmp_path / "p.h5"], capsys)
    assert code == 1 and needle in err, err
    assert err.count("\n") == 1 and err.startswith("runner: error: ") and "Traceback" not in err
    assert not (tmp_path / "p.h5").exists() and not list(tmp_path.glob(".p.h5*"))


@pytest.mark.parametrize(
    "kind, needle",
    [
        ("corrupt checkpoint", "unreadable"),
        ("missing checkpoint", "no such file"),
        ("empty run folder", "no checkpoint in"),
        ("existing output", "already exists; pass --force"),
        ("overlap too large", "--overlap must be in [0, 32)"),
        ("output is a folder", "is a folder"),
    ],
)
def test_bad_checkpoints_and_options_fail_with_one_line(kind, needle, run_dir, tmp_path, capsys):
    _write_plain(tmp_path / "dm.h5", np.ones((40, 40), np.float32), 0.0)
    checkpoint, extra = run_dir, []
    if kind == "corrupt checkpoint":
        checkpoint = tmp_path / "checkpoint-1.pt"
        checkpoint.write_bytes((run_dir / "checkpoint-123.pt").read_bytes()[:5000])
    elif kind == "missing checkpoint":
        checkpoint = tmp_path / "nope.pt"
    elif kind == "empty run folder":
        (checkpoint := tmp_path / "run").mkdir()
    elif kind == "existing output":
        (tmp_path / "p.h5").write_text("keep me")
    elif kind == "overlap too large":
        extra = ["--overlap", "32"]
    elif kind == "output is a folder":
        (tmp_path / "p.h5").mkdir()
        extra = ["--force"]
    code, err = _paint([checkpoint, "--input", tmp_path / "dm.h5", "--output", tmp_path / "p.h5", *extra], capsys)
    assert code == 1 and needle in err, err
    assert err.count("\n") == 1 and err.startswith("runner: error: ") and "Traceback" not in err
    if kind == "existing output":
        assert (tmp_path / "p.h5").read_text() == "keep me"
        assert (
            _paint([run_dir, "--input", tmp_path / "dm.h5", "--output", tmp_path / "p.h5", "--force"], capsys)[0] == 0
        )


def test_a_map_smaller_than_the_tile_is_named_with_its_file(run_dir, tmp_path, capsys):
    code, err = _paint(
        [run_dir, "--input", _bad_input("map smaller than the tile", tmp_path), "--output", tmp_path / "p.h5"], capsys
    )
    assert code == 1 and f"{tmp_path / 'in.h5'}:/dm: a 20x40 map is smaller" in err and err.count("\n") == 1


@pytest.mark.parametrize("option", [["--samples", "0"], ["--batch-size", "0"]])
def test_bad_option_ranges_are_usage_errors_before_the_checkpoint_is_read(option, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(
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
    assert exit_.value.code == 2 and "must be at least" in err and "nope.pt" not in err and "Traceback" not in err


def _map_without_redshift(path, name="maps/dm_z05", attrs=None):
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(name, data=_density(4, (40, 40)))
        ds.attrs.update(attrs or {})
    return path


def test_a_map_without_a_redshift_is_painted_with_redshift_and_read_from_a_z_attribute(run_dir, tmp_path, capsys):
    """Issue 21 item 13: --redshift for a dataset that carries none; a 'z' attribute read as one."""
    plain = _map_without_redshift(tmp_path / "plain.h5")
    args = [run_dir, "--input", plain, "--dataset", "maps/dm_z05", "--latent", "mean"]
    code, err = _paint([*args, "--output", tmp_path / "none.h5"], capsys)
    assert code == 1 and "no 'redshift' (or 'z') attribute; give it with --redshift Z" in err, err
    assert _paint([*args, "--output", tmp_path / "a.h5", "--redshift", "0.5"], capsys)[0] == 0
    with_z = _map_without_redshift(tmp_path / "z.h5", attrs={"z": 0.5})
    args_z = [run_dir, "--input", with_z, "--dataset", "maps/dm_z05", "--latent", "mean"]
    assert _paint([*args_z, "--output", tmp_path / "b.h5"], capsys)[0] == 0
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        assert float(a["pressure"].attrs["redshift"]) == 0.5 == float(b["pressure"].attrs["redshift"])
        np.testing.assert_array_equal(a["pressure"][()], b["pressure"][()])  # the same redshift, the same painting
    code, err = _paint([*args_z, "--output", tmp_path / "c.h5", "--redshift", "1"], capsys)
    assert code == 1 and "says z = 0.5 but --redshift is 1" in err, err


def test_a_missing_dataset_names_the_maps_the_file_has(run_dir, tmp_path, capsys):
    path = _map_without_redshift(tmp_path / "other.h5")
    code, err = _paint([run_dir, "--input", path, "--output", tmp_path / "p.h5"], capsys)
    assert code == 1 and "maps in this file: /maps/dm_z05 (choose one with --dataset maps/dm_z05)" in err, err
    assert err.count("\n") == 1


def test_a_negative_redshift_is_a_usage_error(run_dir, tmp_path, capsys):
    path = _map_without_redshift(tmp_path / "m.h5")
    code, err = _paint([run_dir, "--input", path, "--output", tmp_path / "p.h5", "--redshift", "-1"], capsys)
    assert code == 2 and "--redshift must be a finite redshift >= 0" in err, err
