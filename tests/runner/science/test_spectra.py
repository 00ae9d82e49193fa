"""Power spectra: normalisation, recovery of a known spectrum, agreement with powerbox."""

from __future__ import annotations

import re

import numpy as np
import pytest

from runner.science.spectra import Spectrum, log_bins, paper_bins, power_spectrum, ratio_stats


def _lattice_k(n: int, box: float) -> np.ndarray:
    k1 = 2 * np.pi * np.fft.fftfreq(n, d=box / n)
    return np.sqrt(k1[:, None] ** 2 + k1[None, :] ** 2)


def _gaussian_field(rng, n_maps: int, n: int, box: float, pk) -> np.ndarray:
    """Real Gaussian random fields with E[P̂(k)] = pk(k) exactly, mode by mode.

    Filtering white noise W (E|FFT W|² = N) by sqrt(pk·N/V) gives E|FFT δ|² = pk·N²/V, which
    the documented estimator V/N²·|FFT δ|² turns back into pk.
    """
    kmag = _lattice_k(n, box)
    amplitude = np.zeros_like(kmag)
    amplitude[kmag > 0] = np.sqrt(pk(kmag[kmag > 0]) * n * n / box**2)
    white = rng.standard_normal((n_maps, n, n))
    return np.fft.ifft2(np.fft.fft2(white) * amplitude).real


def test_gaussian_random_field_power_law_is_recovered_in_every_bin():
    rng = np.random.default_rng(1)
    n, box, n_maps = 256, 100.0, 16
    pk = lambda k: 30.0 * k**-2.0  # noqa: E731
    maps = _gaussian_field(rng, n_maps, n, box, pk)

    spec = power_spectrum(maps, box_size=box, bins=log_bins(box, (n, n), 16))
    assert spec.power.shape == (n_maps, 16)
    assert np.all(spec.n_modes > 0)
    mean_power = spec.power.mean(axis=0)
    # Relative scatter of the mean of n_maps maps: sqrt(2 / n_modes) per map (k and −k are one
    # complex mode).
    sigma = np.sqrt(2.0 / (n_maps * spec.n_modes))

    # The estimator is unbiased: its expectation is P averaged over the bin's modes.
    kmag = _lattice_k(n, box)
    in_bin = [(kmag >= lo) & (kmag < hi) for lo, hi in zip(spec.edges[:-1], spec.edges[1:])]
    expected = np.array([pk(kmag[mask]).mean() for mask in in_bin])
    deviation = np.abs(mean_power / expected - 1)
    assert np.all(deviation < 4 * sigma), (deviation / sigma).round(2)

    # And the returned k is where to plot it: P(k) differs from the bin average of a k^-2 law
    # by its curvature over a bin 1.32x wide, at most 2.5% here.
    assert np.all(np.abs(mean_power / pk(spec.k) - 1) < 4 * sigma + 0.03)


def test_white_noise_has_flat_spectrum_sigma2_times_pixel_area():
    rng = np.random.default_rng(2)
    n, box, sigma_pix = 128, 50.0, 2.0
    maps = sigma_pix * rng.standard_normal((8, n, n))
    spec = power_spectrum(maps, box_size=box, bins=10)
    expected = sigma_pix**2 * box**2 / n**2
    relative_error = np.sqrt(2.0 / (8 * spec.n_modes))
    assert np.all(np.abs(spec.power.mean(axis=0) / expected - 1) < 4 * relative_error)


def _lognormal_maps(rng, shape):
    """Positive, skewed maps with a non-zero mean, like projected density or pressure."""
    base = rng.standard_normal(shape)
    kernel = np.exp(-200 * np.add.outer(*(np.fft.fftfreq(s) ** 2 for s in shape)))
    smooth = np.fft.ifft2(np.fft.fft2(base) * kernel).real
    return np.exp(3 * smooth / smooth.std())


@pytest.mark.parametrize(
    "shape, box, bins",
    [((512, 512), 100.0, paper_bins()), ((96, 64), (30.0, 20.0), 12), ((128, 128), 75.0, 10)],
)
def test_auto_and_cross_agree_with_powerbox(shape, box, bins):
    # Bins whose interior edges miss the mode lattice: a mode exactly on an interior edge goes to
    # the upper bin here but to either bin in powerbox, as the last bit of |k| falls.
    powerbox = pytest.importorskip("powerbox")
    rng = np.random.default_rng(3)
    a = _lognormal_maps(rng, shape)
    b = 0.5 * a + _lognormal_maps(rng, shape)
    auto = power_spectrum(a, box_size=box, bins=bins)
    cross = power_spectrum(a, b, box_size=box, bins=bins)
    # dimensionless=False: powerbox would otherwise divide by the mean; nthreads=1: numpy FFT.
    options = dict(bins=auto.edges, dimensionless=False, nthreads=1)
    pb_auto = powerbox.get_power(a, box, **options)
    pb_cross = powerbox.get_power(a, box, deltax2=b, **options)

    np.testing.assert_allclose(auto.power, pb_auto.power, rtol=1e-6)
    np.testing.assert_allclose(cross.power, pb_cross.power, rtol=1e-6)
    np.testing.assert_allclose(auto.k, pb_auto.bin_avg, rtol=1e-6)
    np.testing.assert_array_equal(auto.n_modes, pb_auto.nsamples)


def test_paper_bins_are_twenty_log_bins_from_fundamental_to_nyquist_of_a_512_tile():
    edges = paper_bins()
    assert len(edges) == 21
    assert edges[0] == pytest.approx(2 * np.pi / 100)
    assert edges[-1] == pytest.approx(2 * np.pi / 100 * 256)
    np.testing.assert_allclose(np.diff(np.log(edges)), np.log(256) / 20)
    np.testing.assert_allclose(log_bins(100.0, (512, 512), 20), edges)
    # The fundamental modes sit on the first edge; they must be counted, not lost to rounding.
    spec = power_spectrum(np.ones((512, 512)), box_size=100.0, bins=edges)
    assert spec.n_modes[0] == 4


def test_batch_axes_give_the_spectra_of_each_map_and_cross_is_bilinear():
    rng = np.random.default_rng(4)
    maps = rng.standard_normal((3, 2, 64, 64)).astype(np.float32)
    batch = power_spectrum(maps, box_size=25.0, bins=8)
    assert batch.power.shape == (3, 2, 8)
    for i in range(3):
        for j in range(2):
            single = power_spectrum(maps[i, j], box_size=25.0, bins=8)
            np.testing.assert_allclose(batch.power[i, j], single.power)
    a = maps[0, 0]
    auto = power_spectrum(a, box_size=25.0, bins=8)
    np.testing.assert_allclose(power_spectrum(a, a, box_size=25.0, bins=8).power, auto.power)
    np.testing.assert_allclose(power_spectrum(a, -3 * a, box_size=25.0, bins=8).power, -3 * auto.power)


def test_spectrum_unpacks_as_k_and_power_and_marks_empty_bins():
    noise = np.random.default_rng(5).standard_normal((32, 32))
    k, power = spec = power_spectrum(noise, box_size=10.0, bins=[0.5, 0.55, 2.0])
    assert isinstance(spec, Spectrum)
    assert spec.n_modes[0] == 0 and np.isnan(power[0]) and 0.5 < k[0] < 0.55  # no mode in 0.5..0.55
    assert spec.n_modes[1] > 0 and np.isfinite(power[1])


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(6).standard_normal((2, 32, 32)).astype(np.float32)
    from_torch = power_spectrum(torch.from_numpy(x), box_size=10.0, bins=5)
    np.testing.assert_allclose(from_torch.power, power_spectrum(x, box_size=10.0, bins=5).power)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(a=np.zeros((8, 8)), b=np.zeros((8, 9)), box_size=1.0, bins=3), "same shape"),
        (dict(a=np.zeros(8), box_size=1.0, bins=3), "(..., H, W)"),
        (dict(a=np.zeros((8, 8)), box_size=1.0, bins=[1.0, 0.5]), "increasing"),
        (dict(a=np.zeros((8, 8)), box_size=-1.0, bins=3), "box_size"),
        (dict(a=np.full((8, 8), np.nan), box_size=1.0, bins=3), "NaN"),
    ],
)
def test_bad_inputs_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        power_spectrum(**kwargs)


def test_ratio_stats_is_mean_and_sample_scatter_of_ratio_minus_one_over_tiles():
    truth = np.array([[1.0, 2.0], [4.0, 8.0]])
    mean, std = ratio_stats(truth * np.array([[1.1], [0.9]]), truth)
    np.testing.assert_allclose(mean, [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(std, [np.sqrt(0.02), np.sqrt(0.02)])  # ddof = 1: (0.1² + 0.1²) / (2 − 1)
    three = ratio_stats(np.array([[1.0], [2.0], [3.0]]), np.ones((3, 1)))
    np.testing.assert_allclose(three, [[1.0], [1.0]])  # ratios − 1 of 0, 1, 2: mean 1, sample std 1
    one_mean, one_std = ratio_stats(np.array([[2.0, 3.0]]), np.array([[1.0, 1.0]]))
    np.testing.assert_allclose(one_mean, [1.0, 2.0])
    assert np.isnan(one_std).all()  # one tile has no scatter


def test_the_worst_bin_is_the_largest_departure_whichever_its_sign():
    from runner.science.scores import worst_below

    k = [0.1, 0.5, 1.0, 3.0]
    assert worst_below(k, [-0.6, 0.2, None, -0.9], 2.0) == 0.6  # too little power counts as much as too much
    assert worst_below(k, [0.1, -0.3, 0.25, 0.0], 2.0) == 0.3
    assert worst_below(k, [float("nan"), None, None, 1.0], 2.0) is None
