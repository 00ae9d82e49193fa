"""The halo oracle: a painting that knows every halo but not its scatter, scored on the samples
runner evaluate scores. Known answers: without scatter it is the truth, exactly."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import archspec
from runner.data.layout import DataError
from tests.spec_texts import TINY_SPEC


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHSPEC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _fields(path, field):
    with h5py.File(path) as f:
        out = {}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return {k: v for k, v in out.items() if field in k}


def test_without_scatter_the_oracle_is_the_truth_on_evaluates_samples(cache, monkeypatch):
    """If halos had no scatter, knowing every halo is knowing the pressure: every ratio is 0 and
    r(k) is 1 to float precision -- which also shows that the oracle is read on the very samples
    that the truth is (a shifted choice would differ by whole tiles)."""
    from runner.data import mock_halos
    from runner.science.oracle import oracle_scores

    monkeypatch.setattr(mock_halos, "SIGMA_LNP", 0.0)
    rows = oracle_scores(archspec.loads(TINY_SPEC), tiles="auto")
    assert [row["z"] for row in rows] == [0.0, 1.0]  # z 0.5 and 2 stand in as the nearest stored
    for row in rows:
        for kind in ("auto", "cross"):
            assert np.nanmax(np.abs(row[kind])) < 1e-5, (row["z"], kind, row[kind])
            bands = np.array(list(row["bands"][kind].values()))  # (band, [value, lo, hi])
            assert np.isfinite(bands[0]).all() and np.nanmax(np.abs(bands)) < 1e-5, (kind, bands)
        assert np.nanmin(row["r"]) == pytest.approx(1.0, abs=1e-5)


def test_the_oracle_store_keeps_the_dark_matter_and_the_mean_pressure(cache):
    """With scatter, the oracle's store has the sky's own dark matter (bit for bit) and pressure
    that differs from the truth only by the halos' scatter, whose mean is 1: the summed pressure
    agrees within its noise, the maps do not. (On a 50 Mpc/h store, where q = 1, the pressure is
    carried by ~25 halos' worth of weight: the weighted mean of exp(0.2 eps - 0.02) has an sd of
    ~0.04; over seeds 4-23 it averaged 0.994 +- 0.009, seed 0's is 0.96.)"""
    from runner.data.mock import ensure_mock_store

    options = {"grid": 256, "slices": 2, "redshifts": (0.0, 1.0), "seed": 0}
    sky, oracle = ensure_mock_store(cache, **options), ensure_mock_store(cache, oracle=True, **options)
    assert sky != oracle and "oracle" in oracle.name
    with h5py.File(oracle) as f:
        assert "halo oracle" in f.attrs["provenance"]
    dm_sky, dm_oracle = _fields(sky, "dm"), _fields(oracle, "dm")
    assert dm_sky.keys() == dm_oracle.keys() and dm_sky
    assert all(np.array_equal(dm_sky[k], dm_oracle[k]) for k in dm_sky)
    p_sky, p_oracle = _fields(sky, "pressure"), _fields(oracle, "pressure")
    assert not all(np.array_equal(p_sky[k], p_oracle[k]) for k in p_sky)
    total = lambda maps: sum(float(m.sum()) for m in maps.values())  # noqa: E731
    assert total(p_sky) / total(p_oracle) == pytest.approx(1, abs=0.1)


def test_only_the_halo_sky_has_an_oracle(cache):
    from runner.data.mock import ensure_mock_store

    cache.mkdir(parents=True)
    from runner.science.oracle import oracle_store

    with pytest.raises(DataError, match="only the halo sky has a halo oracle"):
        ensure_mock_store(cache, grid=32, slices=2, redshifts=(0.0,), sky="lognormal", oracle=True)
    spec = archspec.loads(TINY_SPEC, overrides=["data.mock.sky=lognormal"])
    with pytest.raises(ValueError, match="halo mock only"):
        oracle_store(spec)
    from runner.science.oracle import oracle_scores

    with pytest.raises(ValueError, match="halo mock only"):
        oracle_scores(spec)
    assert not list(cache.glob("*.h5"))  # refused before any store was made


def test_the_oracle_scores_the_samples_runner_evaluate_scores(cache):
    """Beside a model's evaluation row for row: the same test samples at every redshift, for
    the default choice and for another seed and number (an untrained model is enough: which
    samples are painted does not depend on the model)."""
    import torch

    from runner.science.evaluate import evaluate_model
    from runner.science.oracle import oracle_scores
    from runner.science.painter import open_test_split

    spec = archspec.loads(TINY_SPEC)
    torch.manual_seed(0)
    model = archspec.build(spec)
    for options in ({}, {"tiles": 3, "seed": 5}):
        summary = evaluate_model(model, spec, open_test_split(spec), cache / "eval", figures=(), context=0, **options)
        rows = oracle_scores(spec, **options)
        assert [r["z"] for r in rows] == [e["z"] for e in summary["per_redshift"]]
        for row, entry in zip(rows, summary["per_redshift"]):
            assert [int(i) for i in row["idx"]] == entry["samples"]
