"""Scores with their uncertainty (runner.science.uncertainty): expected values by hand or by
simulation of a known truth, never from the functions themselves."""

from __future__ import annotations

import numpy as np
import pytest

from runner.science.protocol import default_tiles
from runner.science.uncertainty import (
    band_ratio,
    bootstrap_ratio,
    brightest_share,
    correlation,
    distinguishable,
    seed_spread,
)


def test_an_exact_multiple_has_its_ratio_and_no_width():
    truth = np.random.default_rng(0).exponential(1.0, (50, 6))
    value, lo, hi = bootstrap_ratio(2.0 * truth, truth)
    np.testing.assert_allclose([value, lo, hi], np.ones((3, 6)), rtol=1e-12)


def test_the_interval_covers_the_true_ratio_about_68_percent_of_the_time():
    # tiles whose power scatters as chi^2 with 8 modes (exponential per mode): the painted power is
    # 1.2 x an independent draw, so the true ratio of expectations is 1.2 (ratio - 1 = 0.2)
    rng = np.random.default_rng(1)
    hits, trials = 0, 300
    for _ in range(trials):
        truth = rng.gamma(8, 1 / 8, (40, 1))
        painted = 1.2 * rng.gamma(8, 1 / 8, (40, 1))
        _, lo, hi = bootstrap_ratio(painted, truth, rng, n_boot=300)
        hits += lo[0] <= 0.2 <= hi[0]
    assert 0.58 < hits / trials < 0.78, hits / trials  # 68% nominal; the bootstrap is a little narrow


def test_a_band_weighs_its_bins_by_their_modes():
    # bins of 1 and 3 modes: band means (2*1 + 4*3)/4 = 3.5 and (1*1 + 2*3)/4 = 1.75, ratio - 1 = 1
    est, truth = np.array([[2.0, 4.0, 100.0]]), np.array([[1.0, 2.0, 1.0]])
    value, _, _ = band_ratio(est, truth, n_modes=np.array([1, 3, 5]), k=np.array([0.6, 1.5, 3.0]), band=(0.5, 2.0))
    assert value == pytest.approx(1.0)
    assert np.isnan(band_ratio(est, truth, np.array([1, 3, 5]), np.array([0.6, 1.5, 3.0]), (10.0, 20.0))[0])


def test_r_is_one_for_a_scaled_copy_zero_for_noise_and_one_over_root_two_for_equal_noise():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((4000, 3))
    b = rng.standard_normal((4000, 3))
    # spectra of single Fourier modes: P_aa = |a|^2, P_ab = a b
    r_same = correlation(a * (3 * a), a * a, (3 * a) ** 2)[0]
    r_noise = correlation(a * b, a * a, b * b)[0]
    c = a + b
    r_half = correlation(a * c, a * a, c * c)[0]
    np.testing.assert_allclose(r_same, 1.0, rtol=1e-12)
    assert np.all(np.abs(r_noise) < 0.06)
    np.testing.assert_allclose(r_half, 1 / np.sqrt(2), atol=0.03)


def test_seed_spread_and_distinguishability_by_hand():
    assert seed_spread([1.0, 2.0, 3.0]) == (2.0, 1.0, 3)
    assert distinguishable([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]) is True  # 1.0 apart, spread 0.1
    assert distinguishable([1.0, 1.1, 0.9], [1.1, 1.2, 1.0]) is False  # 0.1 apart
    assert distinguishable([1.0], [2.0, 2.1]) is None


def test_the_brightest_samples_share_of_a_band_by_hand():
    """Three samples, two bins of 1 and 3 modes in the band: band powers (1·1 + 3·1)/4 = 1,
    (1·2 + 3·2)/4 = 2 and (1·5 + 3·1)/4 = 2, so the brightest holds 2/5 (a bin outside the band
    is ignored)."""
    k, n_modes = np.array([0.6, 1.5, 3.0]), np.array([1, 3, 8])
    truth = np.array([[1.0, 1.0, 100.0], [2.0, 2.0, 0.0], [5.0, 1.0, 0.0]])
    assert brightest_share(truth, n_modes, k, (0.5, 2.0)) == pytest.approx(2 / 5)
    assert brightest_share(np.ones((4, 3)), n_modes, k, (0.5, 2.0)) == pytest.approx(1 / 4)


@pytest.mark.parametrize("independent, tiles", [(4, 64), (64, 64), (100, 100), (512, 512), (2048, 512)])
def test_an_evaluation_paints_every_independent_tile_between_64_and_512(independent, tiles):
    assert default_tiles(independent) == tiles
