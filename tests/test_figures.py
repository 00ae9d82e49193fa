"""Figures: each writes one readable PNG of the documented size, warns about nothing, leaks nothing."""
from __future__ import annotations

import warnings

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest

from runner.science.figures import plot_curves, plot_one_point, plot_panels, plot_spectrum_ratios

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REDSHIFTS = (0.0, 0.5, 1.0, 2.0)


@pytest.fixture(autouse=True)
def no_warnings_and_no_open_figures():
    # A warning here (log axis of non-positive data, empty legend, ...) means a misleading plot.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    assert plt.get_fignums() == []


def _read_png(path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return matplotlib.image.imread(path)


def _only_file_is(path) -> None:
    # Written through a temporary name: nothing else may be left in the folder.
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def _maps(seed: int, n: int = 64) -> dict[float, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {z: np.exp(rng.standard_normal((n, n)) - 3 * (1 + z)) for z in REDSHIFTS}


def test_spectrum_ratios_one_column_per_redshift_and_a_row_each_for_auto_and_cross(tmp_path):
    k = np.geomspace(0.063, 16, 20)
    band = lambda scale: (scale * np.sin(k), np.full(20, 0.05))  # noqa: E731
    auto = {z: band(0.1) for z in REDSHIFTS}
    both = tmp_path / "both.png"
    assert plot_spectrum_ratios(both, k, auto, {z: band(0.05) for z in REDSHIFTS}, title="ckpt") == both
    assert _read_png(both).shape[:2] == (570, 1260)  # 2 rows x 4 redshifts at 100 dpi

    auto_only = tmp_path / "sub" / "auto.png"  # missing folders are created
    plot_spectrum_ratios(auto_only, k, {z: band(30.0) for z in REDSHIFTS[:2]})  # a bad painting: symlog
    assert _read_png(auto_only).shape[:2] == (310, 660)
    _only_file_is(auto_only)


def test_one_point_distribution_tolerates_paintings_with_non_positive_pixels(tmp_path):
    painted = _maps(1)
    painted[0.0] = painted[0.0] - np.median(painted[0.0])  # half the pixels now <= 0
    painted[2.0] = -np.ones((64, 64))  # nothing positive at all
    path = tmp_path / "one_point.png"
    plot_one_point(path, _maps(0), painted, units="keV cm$^{-3}$")
    assert _read_png(path).shape[:2] == (310, 1260)
    _only_file_is(path)


def test_panels_for_each_redshift_or_for_single_maps(tmp_path):
    path = tmp_path / "panels.png"
    painted = {z: m - 0.01 for z, m in _maps(2).items()}  # some painted pixels <= 0 on a log scale
    plot_panels(path, _maps(0), _maps(1), painted, box_size=100.0)
    assert _read_png(path).shape[:2] == (1200, 1300)  # a row per redshift

    single = tmp_path / "single.png"
    plot_panels(single, np.ones((64, 64)), _maps(1)[0.0], _maps(2)[0.0], log=False)
    assert _read_png(single).shape[:2] == (330, 1300)

    with pytest.raises(ValueError, match="at least one redshift"):
        one = np.ones((8, 8))
        plot_panels(tmp_path / "none.png", {0.0: one}, {1.0: one}, {1.0: one})


def test_curves_plot_train_and_test_elbo_and_ignore_other_records(tmp_path):
    rng = np.random.default_rng(3)
    samples = np.arange(24, 20_000, 24)
    elbo = -1e5 * np.exp(-samples / 400) - 40 + rng.standard_normal(samples.size)
    records = [dict(sample=int(s), split="train", elbo=float(e), kl=1e-4) for s, e in zip(samples, elbo)]
    records += [dict(sample=int(s), split="test", elbo=float(e) - 3) for s, e in zip(samples[::3], elbo[::3])]
    records += [{"sample": 100, "lr": 1e-3}, {"sample": 200, "split": "train", "elbo": float("nan")}]
    path = tmp_path / "curves.png"
    plot_curves(path, records, title="quickstart")
    assert _read_png(path).shape[:2] == (380, 1100)

    plot_curves(path, [])  # before the first log line: an empty but valid figure, overwritten in place
    assert _read_png(path).shape[:2] == (380, 1100)
    _only_file_is(path)
