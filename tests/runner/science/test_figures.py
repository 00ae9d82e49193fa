"""Figures: each writes one readable PNG of the documented size, warns about nothing, leaks nothing."""

from __future__ import annotations

import warnings

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest

from runner.science.figures import plot_curves, plot_one_point, plot_panels
from runner.science.report import one_point
from runner.science.spectrum_figure import plot_spectra

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


def _nothing_clipped(image: np.ndarray) -> None:
    # A label cut by the figure's edge leaves ink in the outermost pixels; a figure that fits is blank there.
    rgb = image[..., :3]
    assert min(rgb[:2].min(), rgb[-2:].min(), rgb[:, :2].min(), rgb[:, -2:].min()) == 1.0


def _only_file_is(path) -> None:
    # Written through a temporary name: nothing else may be left in the folder.
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def _maps(seed: int, n: int = 64) -> dict[float, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {z: np.exp(rng.standard_normal((n, n)) - 3 * (1 + z)) for z in REDSHIFTS}


def _spectra(k: np.ndarray, scale: float, interior: bool = True) -> dict:
    """One redshift's spectra: painted = (1 + scale sin k) x true, a cross spectrum that turns
    negative at high k (a bad painting), quantiles around the ratio."""
    true = 1e-2 * k**-1.5
    ratio = scale * np.sin(k)
    stats = {
        "mean": ratio,
        "std": np.full(k.size, 0.05),
        "ratio_of_means": ratio,
        "p16": ratio - 0.05,
        "p84": ratio + 0.05,
    }
    power = {
        "true_auto": true,
        "painted_auto": true * (1 + ratio),
        "true_cross": true,
        "painted_cross": true * (1 + ratio) - (k > 10) * 1.0,
    }
    modes = {"tile": stats}
    if interior:
        power |= {"interior_auto": true, "interior_cross": true}
        modes["interior"] = {key: v * 0 for key, v in stats.items()}
    return {"power": power, "ratio": {"auto": modes, "cross": modes}}


def test_spectra_rows_of_power_and_ratio_for_auto_and_cross_one_column_per_redshift(tmp_path):
    k = np.geomspace(0.063, 16, 20)
    both = tmp_path / "both.png"
    assert plot_spectra(both, k, {z: _spectra(k, 0.1) for z in REDSHIFTS}, title="ckpt") == both
    image = _read_png(both)
    assert image.shape[:2] == (1020, 1290)  # 4 rows (power, ratio for auto and cross) x 4 redshifts
    _nothing_clipped(image)

    paper = tmp_path / "sub" / "paper.png"  # missing folders are created
    plot_spectra(
        paper, k, {z: _spectra(k, 30.0, interior=False) for z in REDSHIFTS[:2]}, view="paper"
    )  # a bad painting
    assert _read_png(paper).shape[:2] == (1020, 690)
    _only_file_is(paper)
    with pytest.raises(ValueError, match="view must be"):
        plot_spectra(tmp_path / "x.png", k, {0.0: _spectra(k, 0.1)}, view="linear")


def test_one_point_distribution_tolerates_paintings_with_non_positive_pixels(tmp_path):
    true, painted = _maps(0), _maps(1)
    painted[0.0] = painted[0.0] - np.median(painted[0.0])  # half the pixels now <= 0
    painted[2.0] = -np.ones((64, 64))  # nothing positive at all
    histograms = {z: one_point(true[z], {"painted": painted[z], "interior": true[z]}) for z in REDSHIFTS}
    assert histograms[2.0]["painted"] == [] and histograms[0.0]["nonpositive_fraction"]["painted"] == 0.5
    path = tmp_path / "one_point.png"
    plot_one_point(path, histograms, units="keV cm$^{-3}$")
    image = _read_png(path)
    assert image.shape[:2] == (340, 1260)
    _nothing_clipped(image)
    _only_file_is(path)


def test_panels_for_each_redshift_or_for_single_maps(tmp_path):
    path = tmp_path / "panels.png"
    painted = {z: m - 0.01 for z, m in _maps(2).items()}  # some painted pixels <= 0 on a log scale
    plot_panels(path, _maps(0), _maps(1), painted, box_size=100.0)
    assert _read_png(path).shape[:2] == (1200, 1380)  # a row per redshift

    rng = np.random.default_rng(3)  # the quickstart's ranges and 12.5 Mpc/h tiles: their labels were cut off once
    scaled = lambda scale: {z: np.exp(1.5 * rng.standard_normal((64, 64))) * scale for z in REDSHIFTS}  # noqa: E731
    plot_panels(path, scaled(1.0), scaled(0.01), scaled(0.01), box_size=12.5)
    _nothing_clipped(_read_png(path))

    with_interior = tmp_path / "interior.png"
    plot_panels(with_interior, _maps(0), _maps(1), painted, interior=_maps(3), box_size=100.0)
    assert _read_png(with_interior).shape[:2] == (1200, 1710)  # a column more

    single = tmp_path / "single.png"
    plot_panels(single, np.ones((64, 64)), _maps(1)[0.0], _maps(2)[0.0], log=False)
    assert _read_png(single).shape[:2] == (330, 1380)

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


def test_compare_colours_a_configuration_and_styles_its_seeds():
    """Issue 21 item 10: seeds of one configuration share a colour, differ in line style, and
    the legend has one entry per configuration naming the styles."""
    from runner.science.figures import run_styles

    names = ["a,seed=0", "a,seed=1", "b,seed=0", "b,seed=1", "c"]
    groups = {"a,seed=0": "a", "a,seed=1": "a", "b,seed=0": "b", "b,seed=1": "b"}
    colors, styles, labels = run_styles(names, groups)
    assert colors["a,seed=0"] == colors["a,seed=1"] != colors["b,seed=0"] == colors["b,seed=1"] != colors["c"]
    assert styles["a,seed=0"] != styles["a,seed=1"] and styles["a,seed=0"] == styles["b,seed=0"]
    assert labels == [
        ("a (2 seeds: solid, dashed)", colors["a,seed=0"]),
        ("b (2 seeds: solid, dashed)", colors["b,seed=0"]),
        ("c", colors["c"]),
    ]
    assert len(set(run_styles(["x", "y"])[0].values())) == 2  # no groups: a colour each
