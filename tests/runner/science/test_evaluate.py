"""Evaluation: a tiny model trained here paints test tiles closer to the truth than untrained."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import archspec
from runner.cli import main
from runner.data import DeviceTiles, ensure_mock_store
from runner.science.evaluate import FIGURES, SUMMARY, choose_redshifts, evaluate_in_run, evaluate_model
from runner.science.painter import Painter, open_test_split
from tests.spec_texts import BASE, TINY_REGRESSION

SAMPLES = 4800  # 300 steps of 16, ~8 s on one CPU thread. After 100 steps the model paints nearly
# flat maps: |ratio - 1| (capped at 1 for too little power) then favours it over the untrained
# model's excess power, while the symmetric dex figure does not.
TILES = 6


def _spec_text(store) -> str:
    return (
        BASE.split("training:")[0]
        + f"""\
data: {{store: {json.dumps(str(store))}, tile: 32}}
training:
  samples: {SAMPLES}
  pseudo_epoch: 100
  batch_size: [[0, 16]]
  lr: {{start: 3.0e-3, factor: 0.3, milestones: [12], min: 1.0e-5}}
  evaluation: {{every: 1000000, batch_size: 8}}
  checkpoint: {{every: 1000000}}
  log_every: 800
  seed: 0
"""
    )


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: these 32^2 batches gain little from two, and on a busy machine two
    threads spin-wait for each other (measured: the training below took 133 s instead of 3 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny mock store (3 redshifts, 3 slices of 96^2: 9 test tiles of 32^2 per depth) and a run
    trained on it by the training runner."""
    from runner.train.recipe import train

    root = tmp_path_factory.mktemp("evaluate")
    # the lognormal sky (mock v2), on which the thresholds below were measured: on a 19 Mpc/h grid
    # the halo sky holds too few halos to be the default's physics (its pressure is then powered)
    store = ensure_mock_store(root, grid=96, slices=3, redshifts=[0.0, 1.0, 2.0], sky="lognormal")
    spec = archspec.loads(_spec_text(store))
    start = time.monotonic()
    assert train(spec, root / "run", device="cpu", quiet=True) == 0
    return SimpleNamespace(spec=spec, store=store, run=root / "run", train_seconds=time.monotonic() - start)


def _worst(summary: dict) -> tuple[float, float]:
    return summary["overall"]["auto"]["worst"], summary["overall"]["cross"]["worst"]


def test_a_trained_checkpoint_paints_closer_to_the_truth_than_an_untrained_model(trained, tmp_path, capsys):
    out = tmp_path / "trained"
    code = main(["evaluate", str(trained.run), "--out", str(out), "--tiles", str(TILES), "--device", "cpu"])
    report = capsys.readouterr()
    assert code == 0, report.err
    assert "z = 0.5 is not in the store; the nearest stored z = 0 stands in" in report.out
    summary = json.loads((out / SUMMARY).read_text())
    for name in FIGURES.values():
        assert (out / name).stat().st_size > 10_000

    torch.manual_seed(trained.spec.training.seed)  # the weights the run started from
    untrained = evaluate_model(
        archspec.build(trained.spec),
        trained.spec,
        open_test_split(trained.spec),
        tmp_path / "untrained",
        tiles=TILES,
        figures=(),
    )
    (auto, cross), (auto0, cross0) = _worst(summary), _worst(untrained)
    assert auto < 0.5 * auto0 and cross < 0.5 * cross0, (summary["overall"], untrained["overall"])
    dex = {
        kind: (summary["overall"][kind]["worst_dex"], untrained["overall"][kind]["worst_dex"])
        for kind in ("auto", "cross")
    }
    # Measured on mock v2: 1.23 vs 1.85 (auto), 0.56 vs 0.62 (cross); 600 steps give 1.28, 0.60.
    # The worst dex is at z = 0, where the truth of 6 tiles of 6.25 Mpc/h is dominated by one
    # tile's peak (the original's pressure has std/mean 8.3 there, docs/mock.md) that a small
    # model under-paints; the |ratio - 1| figures above are the discriminating ones.
    assert dex["auto"][0] < 0.75 * dex["auto"][1] and dex["cross"][0] < dex["cross"][1], dex
    print(
        f"trained {SAMPLES} samples in {trained.train_seconds:.1f} s: worst |ratio - 1| auto {auto:.3g} "
        f"(untrained {auto0:.3g}), cross {cross:.3g} (untrained {cross0:.3g}); worst dex {dex}"
    )


def test_summary_holds_the_numbers_and_is_reproducible(trained, tmp_path):
    painter = Painter.load(trained.run, device="cpu")
    model, spec = painter.model.train(), trained.spec  # evaluation must leave the mode as it found it
    rng = torch.get_rng_state()
    run = lambda data, seed=0: evaluate_model(
        model,
        spec,
        data,
        tmp_path / str(seed),
        tiles=TILES,  # noqa: E731
        seed=seed,
        figures=(),
    )
    first = run(open_test_split(spec))
    assert model.training and torch.equal(torch.get_rng_state(), rng)
    on_device = run(DeviceTiles(trained.store, tile=32, split="test", device="cpu"))
    other_seed = run(open_test_split(spec), seed=1)
    assert first["per_redshift"] == on_device["per_redshift"]  # the same numbers, whatever holds the data
    assert first["per_redshift"][0]["samples"] != other_seed["per_redshift"][0]["samples"]

    assert [e["z"] for e in first["per_redshift"]] == [0.0, 1.0, 2.0]
    assert [e["used"] for e in first["redshifts"]] == [0.0, 0.0, 1.0, 2.0]
    n_bins = len(first["bins"]["k"])
    assert 10 <= n_bins <= 20 and all(n > 0 for n in first["bins"]["n_modes"])
    assert first["bins"]["edges"][0] == pytest.approx(2 * np.pi / first["data"]["box_size"])
    for entry in first["per_redshift"]:
        assert entry["n_tiles"] == TILES and len(set(entry["samples"])) == TILES
        assert 1 / TILES <= entry["brightest_share"]["0.5-2"] <= 1  # one sample's share of the band's true power
        assert all(len(entry[kind][stat]) == n_bins for kind in ("auto", "cross") for stat in ("mean", "std"))
        one = entry["one_point"]
        widths = np.diff(one["log10_edges"])
        assert np.sum(np.array(one["true"]) * widths) == pytest.approx(1.0)
    worst = first["overall"]["auto"]
    at = next(e for e in first["per_redshift"] if e["z"] == worst["z"])
    assert worst["k"] < 5 and worst["worst"] == max(abs(m) for k, m in zip(at["k"], at["auto"]["mean"]) if k < 5)


def test_the_training_hook_writes_into_the_run_folder_and_never_raises(trained):
    painter = Painter.load(trained.run, device="cpu")
    summary = evaluate_in_run(painter.model, trained.spec, open_test_split(trained.spec), trained.run, 4800, seed=0)
    folder = trained.run / "eval" / "4800"
    assert json.loads((folder / SUMMARY).read_text()) == json.loads(json.dumps(summary))
    assert sorted(p.name for p in folder.iterdir()) == sorted([SUMMARY, *summary["figures"].values()])
    assert set(summary["figures"]) == {"spectra", "one_point", "panels"}  # the paper's view only from runner evaluate
    warnings = []
    assert evaluate_in_run(painter.model, trained.spec, None, trained.run, 1, warn=warnings.append) is None
    assert len(warnings) == 1 and "evaluation at 1 samples failed" in warnings[0]


class _Oracle(torch.nn.Module):
    """A regression model that paints `factor` times the truth of a store whose pressure is 0.01 x dark matter."""

    def __init__(self, transforms: dict, factor: float):
        super().__init__()
        self.transforms, self.factor = transforms, factor
        self.unused = torch.nn.Parameter(torch.zeros(()))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        z = y[:, 1, 0, 0].double()
        dm = self.transforms["dm"].inverse(y[:, 0].double(), z)  # (N, T, T), 1 + delta
        return self.transforms["pressure"].forward(0.01 * self.factor * dm, z)[:, None].float()


class _BoxFilter(torch.nn.Module):
    """A regression model that paints 0.01 x the 3x3 mean of dark matter, zero-padded as a
    convolutional network pads: exact inside a tile, wrong in its outermost pixels."""

    def __init__(self, transforms: dict):
        super().__init__()
        self.transforms = transforms
        self.unused = torch.nn.Parameter(torch.zeros(()))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        z = y[:, 1, 0, 0].double()
        dm = self.transforms["dm"].inverse(y[:, :1].double(), z)  # (N, 1, T, T), 1 + delta
        box = torch.nn.functional.conv2d(dm, torch.full((1, 1, 3, 3), 1 / 9, dtype=dm.dtype), padding=1)
        return self.transforms["pressure"].forward(0.01 * box, z).float()


def _store(path: Path, pressure) -> Path:
    from runner.data import StoreWriter

    rng = np.random.default_rng(0)
    with StoreWriter(path, grid=64, n_slices=2, redshifts=[0.0, 1.0], provenance="test") as w:
        for z in (0.0, 1.0):
            for depth in (100, 150):
                for s in range(2):
                    dm = np.exp(0.3 * rng.standard_normal((64, 64)))
                    w.write("dm", z, depth, s, dm)
                    w.write("pressure", z, depth, s, pressure(dm))
    return path


def test_the_interior_is_painted_with_the_dark_matter_around_the_tile(tmp_path):
    from scipy import ndimage

    from runner.data import TileDataset

    # the truth is the filter applied to whole periodic slices (scipy, independently of the evaluation)
    data = TileDataset(
        _store(tmp_path / "s.h5", lambda dm: 0.01 * ndimage.uniform_filter(dm, 3, mode="wrap")), tile=32, split="test"
    )
    summary = evaluate_model(
        _BoxFilter(data.transforms),
        archspec.loads(TINY_REGRESSION),
        data,
        tmp_path / "out",
        redshifts=[0.0, 1.0],
        figures=(),
        tiles=None,
    )
    assert summary["context"]["margin"] > 0 and summary["tiles_per_redshift"] == 16  # 4 x 4 combinations
    assert summary["choice"]["independent"] == 4
    for entry in summary["per_redshift"]:
        for kind in ("auto", "cross"):
            np.testing.assert_allclose(entry["interior"][kind]["mean"], 0, atol=1e-4)  # exact away from borders
            assert max(abs(v) for v in entry[kind]["mean"]) > 1e-2  # the zero-padded border shows on each tile alone
    assert summary["scores"]["interior"]["worst"]["auto"][-1] < 1e-4 < summary["scores"]["tile"]["worst"]["auto"][-1]
    assert set(summary["terms"]) == {"elbo", "loglik"}  # a regression has no latent, so no KL


@pytest.mark.parametrize("factor, crop", [(1.0, 0), (2.0, 0), (2.0, 5)])
def test_spectra_are_of_physical_maps_painted_exactly_or_scaled(factor, crop, tmp_path):
    from runner.data import TileDataset

    data = TileDataset(_store(tmp_path / "s.h5", lambda dm: 0.01 * dm), tile=32, split="test")
    summary = evaluate_model(
        _Oracle(data.transforms, factor),
        archspec.loads(TINY_REGRESSION),
        data,
        tmp_path / "out",
        redshifts=[0.0, 1.0],
        figures=(),
        crop=crop,
    )
    assert summary["data"]["box_size"] == pytest.approx((32 - 2 * crop) * 0.1953125)
    for entry in summary["per_redshift"]:  # auto: factor^2 - 1, cross: factor - 1, the same on every tile
        np.testing.assert_allclose(entry["auto"]["mean"], factor**2 - 1, atol=1e-4)
        np.testing.assert_allclose(entry["cross"]["mean"], factor - 1, atol=1e-4)
        np.testing.assert_allclose(entry["auto"]["std"], 0, atol=1e-4)
        np.testing.assert_allclose(entry["auto"]["ratio_of_means"], factor**2 - 1, atol=1e-4)
        np.testing.assert_allclose(entry["interior"]["cross"]["p50"], factor - 1, atol=1e-4)  # pointwise: no border
        assert entry["mean_pressure"]["painted"] == pytest.approx(factor * entry["mean_pressure"]["true"], rel=1e-5)
    assert summary["overall"]["auto"]["worst"] == pytest.approx(factor**2 - 1, abs=1e-4)


def test_every_combination_and_whole_tiles_only_from_the_command_line(trained, tmp_path, capsys):
    out = tmp_path / "all"
    code = main(
        [
            "evaluate",
            str(trained.run),
            "--out",
            str(out),
            "--tiles",
            "all",
            "--context",
            "0",
            "--redshifts",
            "0",
            "--device",
            "cpu",
        ]
    )
    report = capsys.readouterr().out
    assert code == 0
    summary = json.loads((out / SUMMARY).read_text())
    assert (
        summary["tiles_per_redshift"] == 81 and summary["tiles_requested"] is None
    )  # 9 x 9: one test slice of 3 x 3 tiles
    assert (
        summary["choice"]["independent"] == 9
        and "81 test samples per redshift" in report
        and "9 of them sharing no tile" in report
    )
    assert summary["context"]["margin"] == 0 and summary["per_redshift"][0]["interior"] is None
    assert summary["scores"]["interior"] is None and "interior" not in report
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", str(trained.run), "--tiles", "0"])
    assert stop.value.code == 2 and "must be at least 1 (or 'auto' or 'all')" in capsys.readouterr().err


def test_redshifts_absent_from_the_store_are_replaced_by_the_nearest():
    chosen = choose_redshifts([0.0, 0.6, 3.0], [0.0, 0.5, 1.0, 2.0])
    assert [c["used"] for c in chosen] == [0.0, 0.5, 2.0]
    assert "note" not in chosen[0] and "z = 3 is not in the store" in chosen[2]["note"]


@pytest.mark.parametrize(
    "kind, needle",
    [
        ("missing checkpoint", "no such file"),
        ("crop", "--crop 13 leaves less than 8"),
        ("existing", "already holds an evaluation; pass --force"),
        ("out is a file", "is a file; --out names the folder"),
    ],
)
def test_evaluate_errors_are_one_line(kind, needle, trained, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / SUMMARY).write_text("{}")
    argv = {
        "missing checkpoint": [str(tmp_path / "nope.pt"), "--out", str(tmp_path / "new")],
        "crop": [str(trained.run), "--crop", "13", "--out", str(tmp_path / "new")],
        "existing": [str(trained.run), "--out", str(tmp_path / "out")],
        "out is a file": [str(trained.run), "--out", str(tmp_path / "out" / SUMMARY)],
    }[kind]
    code = main(["evaluate", *argv, "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1 and needle in err and err.count("\n") == 1 and "Traceback" not in err, err
