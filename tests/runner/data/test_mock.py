"""The mock generator: physics a user relies on, calibration, determinism and the cache.

Every expected value comes from outside the generator: the original's statistics as docs/data.md
gives them, pyccl's halofit spectrum projected here by its own integral, colossus's growth factor
and Tinker et al. (2008) mass function, the NFW profile's formula written out here.
"""

from __future__ import annotations

import functools

import h5py
import numpy as np
import powerbox
import pyccl
import pytest
from colossus.cosmology import cosmology as colossus

from runner.data import REDSHIFTS, ensure_mock_store, generate_mock, open_store

# docs/data.md: the original's mean and variance of a summed 100 + 150 Mpc/h sample.
#      z: (dm mean, dm var, pressure mean, pressure var)
TABLE = {
    0.0: (1.001776, 1.472509, 0.04423535, 0.13492714),
    0.5: (1.001420, 0.669049, 0.03057353, 0.02898421),
    1.0: (1.001141, 0.345349, 0.01977290, 0.00669399),
    2.0: (1.000799, 0.116476, 0.00752851, 0.00038426),
}
# docs/data.md, all 11 redshifts: (dm mean, dm var, pressure mean, pressure var)
ORIGINAL = {
    0.0: (1.001776, 1.472509, 0.04423535, 0.13492714),
    0.125: (1.001684, 1.192838, 0.04115529, 0.10697187),
    0.25: (1.001594, 0.974809, 0.03752633, 0.06813702),
    0.375: (1.001504, 0.804829, 0.03399706, 0.04863641),
    0.5: (1.001420, 0.669049, 0.03057353, 0.02898421),
    0.75: (1.001275, 0.474351, 0.02468901, 0.01544838),
    1.0: (1.001141, 0.345349, 0.01977290, 0.00669399),
    1.25: (1.001035, 0.256639, 0.01563459, 0.00302507),
    1.5: (1.000943, 0.194183, 0.01233014, 0.00144609),
    1.75: (1.000865, 0.149478, 0.00968407, 0.00073233),
    2.0: (1.000799, 0.116476, 0.00752851, 0.00038426),
}
# BAHAMAS's WMAP9 cosmology (docs/data.md), for the two independent oracles below.
OM, OB, H, S8, NS = 0.2793, 0.0463, 0.7, 0.821, 0.972
GROWTH = colossus.Cosmology(name="oracle", persistence="", flat=True, H0=100 * H, Om0=OM, Ob0=OB, sigma8=S8, ns=NS)
colossus.setCurrent(GROWTH)  # the mass function and concentration oracles below use it


@pytest.fixture(scope="module", params=["halo", "lognormal"])
def store(tmp_path_factory, request):
    # 512 px = 100 Mpc/h: large enough for a few linear modes (k >= 0.063 h/Mpc); ~3-5 s to make
    path = ensure_mock_store(
        tmp_path_factory.mktemp("mock"), grid=512, slices=2, redshifts=tuple(TABLE), sky=request.param
    )
    return open_store(path)


@pytest.fixture(scope="module")
def lognormal(tmp_path_factory):
    """The older sky (mock v2), whose dark matter is a lognormal of the projected halofit P(k)."""
    path = ensure_mock_store(
        tmp_path_factory.mktemp("mock"), grid=512, slices=2, redshifts=tuple(TABLE), sky="lognormal"
    )
    return open_store(path)


def test_layout_physical_scales_and_units(store):
    assert store.pixel_size == 0.1953125 and store.box_size == 100.0  # 512 px of 400/2048 Mpc/h
    assert store.depths == (100, 150) and store.n_slices == 2
    assert REDSHIFTS == (0, 0.125, 0.25, 0.375, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2)
    dm = store.stats("dm", 1.0)  # a projection's mean grows with its depth: 0.4 and 0.6 of ~1
    assert dm.mean == {100: pytest.approx(0.4 * TABLE[1.0][0]), 150: pytest.approx(0.6 * TABLE[1.0][0])}
    with h5py.File(store.path) as f:
        assert "250 Mpc/h (100 + 150) sample has mean ~1" in f["/dm/z1.000/150"].attrs["units"]


@pytest.mark.parametrize("z", list(TABLE))
def test_summed_sample_has_the_originals_mean_and_variance(store, z):
    dm, p = store.stats("dm", z), store.stats("pressure", z)
    dm_mean, dm_var, p_mean, p_var = TABLE[z]
    assert dm.sum_mean == pytest.approx(dm_mean, rel=1e-6)
    assert dm.sum_var == pytest.approx(dm_var, rel=1e-3)  # calibrated to 3e-4 in log
    assert p.sum_mean == pytest.approx(p_mean, rel=1e-3)
    assert p.sum_var == pytest.approx(p_var, rel=1e-3)


@pytest.mark.parametrize("z", list(TABLE))
def test_150_mpc_slices_hold_one_and_a_half_times_the_100_mpc_ones(store, z):
    # projections of 3 and 2 independent 50 Mpc/h sheets: mean and variance both x 1.5
    dm, p = store.stats("dm", z), store.stats("pressure", z)
    assert dm.mean[150] / dm.mean[100] == pytest.approx(1.5, rel=1e-6)
    assert dm.var[150] / dm.var[100] == pytest.approx(1.5, rel=0.1)  # from the projected P(k)
    if "halo" in store.path.name:
        # checked, not fitted: the halos of 2 slices of (100 Mpc/h)^2 are few (seeds 0-2: mean
        # 1.50-1.64, variance 1.6-1.9, a cluster in one 150 Mpc/h slice decides)
        assert p.mean[150] / p.mean[100] == pytest.approx(1.5, rel=0.15)
        assert 1.0 < p.var[150] / p.var[100] < 2.5
    else:  # the lognormal sky calibrates each depth on its own
        assert p.mean[150] / p.mean[100] == pytest.approx(1.5, rel=2e-3)
        assert p.var[150] / p.var[100] == pytest.approx(1.5, rel=2e-3)


@functools.lru_cache(maxsize=8)
def halofit_2d(z: float, depth: float) -> tuple[np.ndarray, np.ndarray]:
    """pyccl's halofit P(k) projected through a top-hat of `depth` Mpc/h: (k, P) on 80 log-spaced
    k from 0.04 to 30 h/Mpc, P in (Mpc/h)^2, as
    (1/pi) int dk_z P(sqrt(k^2 + k_z^2)) sinc^2(k_z L / 2), integrated in u = k_z L / 2."""
    halofit = pyccl.Cosmology(
        Omega_c=OM - OB,
        Omega_b=OB,
        h=H,
        sigma8=S8,
        n_s=NS,
        transfer_function="eisenstein_hu",
        matter_power_spectrum="halofit",
    )
    k, u = np.geomspace(0.04, 30.0, 80), np.linspace(0.0, 200.0, 8001)
    kk = np.hypot(k[:, None], 2 * u[None, :] / depth)
    p3 = pyccl.nonlin_matter_power(halofit, kk.ravel() * H, 1 / (1 + z)).reshape(kk.shape) * H**3
    return k, np.trapezoid(p3 * np.sinc(u / np.pi) ** 2, 2 * u / depth, axis=1) / np.pi


def binned(store, z: float, depth: float, edges: np.ndarray) -> np.ndarray:
    """The model averaged over the grid's modes in each bin, as a measured P averages them:
    halofit_2d times the power window of the original's cloud-in-cell binning,
    sinc^4(k_x a / 2) sinc^4(k_y a / 2) for pixels of side a."""
    kx = 2 * np.pi * np.fft.fftfreq(store.grid, d=store.pixel_size)
    kk = np.hypot(kx[:, None], kx[None, :]).ravel()
    window = (
        np.sinc(kx[:, None] * store.pixel_size / (2 * np.pi)) * np.sinc(kx[None, :] * store.pixel_size / (2 * np.pi))
    ).ravel() ** 4
    keep = (kk >= edges[0]) & (kk < edges[-1])
    kk, window = kk[keep], window[keep]
    k, p = halofit_2d(z, depth)
    v = np.exp(np.interp(np.log(kk), np.log(k), np.log(p))) * window  # log-log: 1e-3 accurate
    which = np.digitize(kk, edges) - 1
    return np.array([v[which == i].mean() for i in range(len(edges) - 1)])


def measured(store, z, depth, edges) -> np.ndarray:
    """Power of the relative density dm / mean - 1, averaged over the slices."""
    ps = []
    for s in range(store.n_slices):
        m = store.read_slice("dm", z, depth, s).astype(np.float64)
        ps.append(
            powerbox.get_power(
                m / m.mean() - 1, store.box_size, bins=edges, dimensionless=False, bins_upto_boxlen=True
            ).power
        )
    return np.mean(ps, axis=0)


@pytest.mark.parametrize("z", [0.0, 2.0])
def test_dark_matter_power_is_projected_halofit_below_1_h_per_mpc(lognormal, z):
    # Tolerance: seeds 0-4 and a 256^2 store measure the mean ratio at 0.93-1.13, bins 0.84-1.21
    # (2 slices x 2 depths of 100 Mpc/h: few modes). A linear-theory mock measures 0.54.
    edges = np.array([0.1, 0.2, 0.35, 0.6, 1.0])
    ratios = np.array([measured(lognormal, z, d, edges) / binned(lognormal, z, d, edges) for d in (100, 150)])
    assert ratios.mean() == pytest.approx(1.0, abs=0.15)
    assert np.all(np.abs(ratios.mean(axis=0) - 1) < 0.3), ratios


@pytest.mark.parametrize("z", [0.0, 2.0])
def test_no_high_k_collapse_and_monotone_power(lognormal, z):
    # The old generator's k^2 P fell by 1e3-1e8 from 3 h/Mpc to the Nyquist at z = 2. Now the
    # power there follows halofit x CIC window (seeds 0-4: 0.91-1.23 of it; the taper that
    # calibrates the variance stays small) and k^2 P falls only as that window does (to 0.3-0.5).
    store = lognormal
    nyquist = np.pi / store.pixel_size
    edges = np.geomspace(0.3, nyquist, 12)
    high = edges[:-1] >= 3.0
    k = np.sqrt(edges[1:] * edges[:-1])
    for depth in (100, 150):
        p = measured(store, z, depth, edges)
        assert np.all(np.diff(p) < 0), p  # smooth and falling, as a projected P(k) is
        ratio = p / binned(store, z, depth, edges)
        assert np.all((ratio[high] > 0.7) & (ratio[high] < 1.5)), ratio
        k2p = (k**2 * p)[high]
        assert k2p.min() > 0.2 * k2p[0], k2p / k2p[0]


def test_dark_matter_power_grows_as_d_squared_at_linear_scales(lognormal):
    store = lognormal
    edges = np.array([0.05, 0.1])  # halofit is linear theory to 2% here
    for z in (1.0, 2.0):
        ratio = np.mean([measured(store, z, d, edges) / measured(store, 0.0, d, edges) for d in (100, 150)])
        d2 = (GROWTH.growthFactor(z) / GROWTH.growthFactor(0.0)) ** 2
        assert ratio == pytest.approx(d2, rel=0.15)  # seeds 0-4 measure +2% to +12%
        variance_ratio = TABLE[z][1] / TABLE[0.0][1]  # what it would be if P were merely rescaled
        assert abs(ratio - variance_ratio) > 0.3 * d2


def log_maps(store, field, z, depth=100, s=0):
    return np.log(store.read_slice(field, z, depth, s).astype(np.float64) + 1e-30).ravel()


def test_same_structure_grown_across_redshift_and_independent_slices(store):
    same_slice = np.corrcoef(log_maps(store, "dm", 0.0), log_maps(store, "dm", 2.0))[0, 1]
    other_slice = np.corrcoef(log_maps(store, "dm", 0.0), log_maps(store, "dm", 0.0, s=1))[0, 1]
    assert same_slice > 0.8 and abs(other_slice) < 0.2


def test_pressure_follows_density_but_is_no_pixelwise_function_of_it(store):
    lp, ld = log_maps(store, "pressure", 1.0), log_maps(store, "dm", 1.0)
    assert np.corrcoef(lp, ld)[0, 1] > 0.6
    residual = lp - np.polyval(np.polyfit(ld, lp, 1), ld)
    assert residual.std() > 0.2 * lp.std()  # smoothing and scatter: a real conditional problem


def test_same_seed_same_file_other_seed_other_maps(tmp_path):
    kw = dict(grid=64, slices=2, redshifts=(0.0, 1.0), progress=False)
    generate_mock(tmp_path / "a.h5", seed=4, **kw)
    generate_mock(tmp_path / "b.h5", seed=4, **kw)
    generate_mock(tmp_path / "c.h5", seed=5, **kw)
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b, h5py.File(tmp_path / "c.h5") as c:
        for name in ("/dm/z1.000/150", "/pressure/z0.000/100"):
            assert np.array_equal(a[name][...], b[name][...])
            assert not np.allclose(a[name][...], c[name][...])


def test_cache_reuses_a_valid_store_and_remakes_a_broken_one_saying_so(tmp_path, capsys):
    kw = dict(grid=32, slices=2, redshifts=(0.0, 2.0), seed=0)
    path = ensure_mock_store(tmp_path, **kw)
    stamp = path.stat().st_mtime_ns
    assert ensure_mock_store(tmp_path, **kw) == path and path.stat().st_mtime_ns == stamp
    assert "making it again" not in capsys.readouterr().err
    other = ensure_mock_store(tmp_path, **{**kw, "seed": 1})
    assert other != path
    path.write_bytes(path.read_bytes()[:1000])  # truncated, e.g. by a killed process
    assert ensure_mock_store(tmp_path, **kw) == path
    assert open_store(path).grid == 32
    assert f"the cached mock store {path} cannot be used" in capsys.readouterr().err
    path.write_bytes(other.read_bytes())  # another seed's file at this path
    assert ensure_mock_store(tmp_path, **kw) == path
    assert f"the cached mock store {path} was made with other options: making it again" in capsys.readouterr().err


# --- the halo sky: its parts against independent oracles -------------------------------------


def test_halo_abundance_is_tinkers_mass_function_as_colossus_computes_it():
    from colossus.lss import mass_function
    from scipy.integrate import quad

    from runner.data import mock_halos as mh

    volume = 2e7  # (Mpc/h)^3: ~7e4 halos above 1e12 Msun/h
    rng = np.random.default_rng(3)
    cat = mh.draw_catalogue(rng, volume, mh.cumulative_density(0.0)[0] * volume * 1.05, np.zeros((8, 8)))
    for z in (0.0, 1.0):
        mass = cat.masses(volume, z)
        for lo, hi in ((1e12, 1e13), (1e13, 1e14), (1e14, 1e15)):

            def dn_dlnm(lnm):
                return mass_function.massFunction(np.exp(lnm), z, mdef="200c", model="tinker08", q_out="dndlnM")  # noqa: B023 (called within this iteration)

            expected = volume * quad(dn_dlnm, np.log(lo), np.log(hi))[0]
            found = np.count_nonzero((mass >= lo) & (mass < hi))
            # pyccl's and colossus's linear spectra differ by ~2% (Eisenstein-Hu both, other
            # integrators): 6% allowed beside 3 Poisson sigmas
            assert abs(found - expected) < 0.06 * expected + 3 * np.sqrt(expected), (z, lo, found, expected)


def test_a_painted_halo_is_the_projected_truncated_nfw_profile():
    from colossus.halo import concentration
    from scipy.integrate import quad

    from runner.data import mock_halos as mh

    grid, box, mass, z = 512, 100.0, 1e15, 0.0  # R_200c = 8 pixels: a profile, not a pixel
    pixel = box / grid
    cat = mh.Catalogue(np.zeros(1), np.array([grid // 2]), np.array([grid // 2]), np.zeros(1))
    sigma = mh.paint("dm", cat, np.array([mass]), np.array([mass]), z, grid, box)
    # mass kept; clipping the transform's ringing (negative values) adds < 1%
    assert sigma.sum() * pixel**2 == pytest.approx(mass, rel=0.01)
    # NFW truncated at R_200c, written out: rho_crit today is 2.775e11 h^2 Msun / Mpc^3
    r200 = (3 * mass / (4 * np.pi * 200 * 2.77536627e11)) ** (1 / 3)
    c = concentration.concentration(mass, "200c", z, model="duffy08")
    rs = r200 / c
    norm = mass / (4 * np.pi * rs**3 * (np.log(1 + c) - c / (1 + c)))

    def projected(r):  # 2 int_0^sqrt(R200^2 - r^2) rho(sqrt(r^2 + l^2)) dl
        def rho(l):  # noqa: E741 (the line-of-sight coordinate, as in the formula above)
            x = np.hypot(r, l) / rs
            return norm / (x * (1 + x) ** 2)

        return 2 * quad(rho, 0, np.sqrt(r200**2 - r**2))[0]

    idx = np.arange(grid) - grid // 2
    rr = np.hypot(idx[:, None], idx[None, :]) * pixel
    # annuli >= 2 pixels out, inside R_200c; the pixel window (cloud in cell) smooths ~1 pixel
    for lo, hi in ((0.4, 0.6), (0.6, 0.9 * r200)):
        ring = (rr >= lo) & (rr < hi)
        expected = np.mean([projected(r) for r in rr[ring]])
        assert sigma[ring].mean() == pytest.approx(expected, rel=0.05), (lo, hi)


def test_the_halo_sky_holds_the_originals_statistics_at_all_eleven_redshifts(tmp_path):
    rows = generate_mock(tmp_path / "all.h5", grid=128, slices=2, progress=False)
    with open_store(tmp_path / "all.h5") as store:
        for z in REDSHIFTS:
            dm, p = store.stats("dm", z), store.stats("pressure", z)
            ref = ORIGINAL[z]
            assert (dm.sum_mean, dm.sum_var, p.sum_mean, p.sum_var) == pytest.approx(ref, rel=1e-3), z
    assert len(rows) == 11


def test_pressure_sits_in_the_halos_the_dark_matter_shows():
    """The property the paper relied on: painting that knows every halo (not its scatter) has
    nearly all the pressure power; the lognormal sky's best local painting missed by ~0.2-0.6."""
    from runner.data import mock_halos as mh
    from runner.data.mock import DEPTHS, HaloSlices, MockOptions, calibrate_halo_dm, calibrate_halo_pressure

    sl = HaloSlices(MockOptions(512, 2, (0.0, 1.0), 0).validated())  # 100 Mpc/h: q = 1 there
    x = 0.0
    edges = np.array([0.5, 1.0, 2.0])
    for z in (0.0, 1.0):
        halo_dm, halo_p = {}, {}
        for d in DEPTHS:
            halo_dm[d], halo_p[d] = sl.halo_maps(d, z)
        x, _, bgs = calibrate_halo_dm(sl, halo_dm, z, x)
        f, q, amp, unit = calibrate_halo_pressure(halo_p, bgs, z)
        for s in range(2):
            true = sum((1 - f) * unit[d][0][s] + f * unit[d][1][s] for d in DEPTHS)
            oracle = 0
            for d in DEPTHS:
                cat = sl.halos[d][s]
                mass = cat.masses(sl.volume(d), z)
                no_scatter = mh.paint("pressure", cat, mass, mass ** (5 / 3 + mh.ALPHA_P), z, sl.grid, sl.box)
                oracle = (
                    oracle
                    + (1 - f) * (no_scatter**q) * (unit[d][0][s].sum() / (halo_p[d][s] ** q).sum())
                    + f * unit[d][1][s]
                )
            pt = powerbox.get_power(true - true.mean(), sl.box, bins=edges, bins_upto_boxlen=True).power
            po = powerbox.get_power(oracle - oracle.mean(), sl.box, bins=edges, bins_upto_boxlen=True).power
            pc = powerbox.get_power(
                true - true.mean(), sl.box, deltax2=oracle - oracle.mean(), bins=edges, bins_upto_boxlen=True
            ).power
            assert np.all(np.abs(po / pt - 1) < 0.1), (z, po / pt)
            assert np.all(np.abs(pc / pt - 1) < 0.05), (z, pc / pt)


def test_a_spec_chooses_its_sky(tmp_path, monkeypatch):
    import archspec
    from runner.data.open import store_path
    from tests.spec_texts import BASE

    monkeypatch.setenv("ARCHSPEC_CACHE", str(tmp_path))
    paths = {}
    for sky in ("halo", "lognormal"):
        spec = archspec.loads(
            BASE, overrides=["data.mock.grid=32", "data.mock.redshifts=[0.0]", f"data.mock.sky={sky}"]
        )
        paths[sky] = store_path(spec.data)
        with h5py.File(paths[sky]) as f:
            assert ("halo model" in f.attrs["provenance"]) == (sky == "halo")
    assert paths["halo"] != paths["lognormal"]
