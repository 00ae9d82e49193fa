"""The halo-model sky: dark matter and pressure painted from the same halos (pyccl.halos).

Why halos. On BAHAMAS the gas pressure sits in the halos that the dark matter shows, so the
conditional mean E[p | dark matter] carries nearly all the pressure power (the original's
latent collapsed and its painting still matched the spectra). A lognormal field has no halos:
its pressure had to be a steep power of each slice's own density, which the summed input
cannot determine, so no painter could reach the spectra (docs/mock.md). Here a slice is

    rho_L  = f_bg rho_bg + sum_i M_i u_NFW(x - x_i | M_i) / (rho_m A_pix L)
    p_L    ∝ (1 - f_d) sum_i w_i y_GNFW(x - x_i | M_i) + f_d (diffuse)

- Halos above M_MIN (M_200c in Msun/h) follow Tinker et al. (2008)'s mass function in the
  slice's volume (box^2 x L). Each slice keeps one catalogue at every redshift: halos are
  points of a Poisson process in "cumulative count" N(>M, z) V, drawn once, and at redshift z
  the halo at count c has the mass M with N(>M, z) V = c. So the i-th most massive halo of a
  slice is the same object at every z, grown; those whose count exceeds N(>M_MIN, z) V do not
  exist yet. Positions are drawn once, with probability ∝ rho_bg(z=0)^b, b the Tinker et al.
  (2010) bias of the halo's z = 0 mass (a lognormal tracer of bias b), uniform inside the pixel.
- Dark matter: truncated NFW profiles (at R_200c, Duffy et al. 2008 concentrations) plus a
  lognormal background of the projected *linear* spectrum times an amplitude that the
  calibration sets so that the summed sample's variance is the original's; f_bg keeps the
  mean density at exactly 1.
- Pressure: the GNFW profile of Arnaud et al. (2010) with Planck (2013) parameters as pyccl
  has it (P ∝ M_500c^(5/3 + α_p) E(z)^(8/3), hydrostatic bias 1 - b = 0.8, truncated at
  X_OUT R_500c), times a per-halo lognormal scatter exp(σ ε_i - σ²/2), σ = SIGMA_LNP, ε_i fixed
  per halo; plus a diffuse component ∝ rho_bg² (warm gas: n T with T rising with n). The
  calibration sets the pressure amplitude (mean) and the diffuse fraction f_d (variance).
- Painting is in Fourier space: halos are binned by mass (BIN_DEX wide), each bin's masses
  (or pressure weights) deposited on the grid at their pixels, Fourier transformed, multiplied
  by the bin's profile transform (the 2-D transform of a projected profile is the 3-D
  transform at k_z = 0) and by the cloud-in-cell window the original's particle maps carry;
  one inverse transform per field.

A halo's weight within its bin follows its own mass (M for dark matter, M^(5/3 + α_p) for
pressure); only the profile's shape is that of the bin's centre, an error below 2% in the
radius for 0.1 dex bins.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from runner.data import mock_fields as mf

M_MIN = 1e12  # Msun/h, M_200c: lighter halos are part of the lognormal background
M_MAX = 3e16  # Msun/h: the mass function's table ends here (none is expected above 1e16)
BIN_DEX = 0.1  # width of the mass bins that share one profile
SIGMA_LNP = 0.2  # per-halo scatter of ln pressure at fixed mass (Arnaud et al. 2010: ~0.2)
MASS_BIAS = 0.8  # hydrostatic mass bias (1 - b) of the GNFW profile (Planck 2013)
X_OUT = 4.0  # GNFW profiles truncated at X_OUT R_500c
ALPHA_P = 0.12  # the GNFW mass slope's correction: P ∝ M^(5/3 + ALPHA_P) (pyccl's default)
RHO_CRIT = 2.77536627e11  # critical density today, h^2 Msun / Mpc^3 (so Msun/h per (Mpc/h)^3)
H = mf.COSMOLOGY["h"]


def rho_mean() -> float:
    """Comoving mean matter density, (Msun/h) / (Mpc/h)^3."""
    return RHO_CRIT * (mf.COSMOLOGY["Omega_c"] + mf.COSMOLOGY["Omega_b"])


@lru_cache(maxsize=1)
def _halo_model():
    import pyccl

    hm = pyccl.halos
    conc = hm.ConcentrationDuffy08(mass_def="200c")
    return dict(
        mass_function=hm.MassFuncTinker08(mass_def="200c"),
        bias=hm.HaloBiasTinker10(mass_def="200c"),
        nfw=hm.HaloProfileNFW(mass_def="200c", concentration=conc, truncated=True, fourier_analytic=True),
        to_500c=hm.mass_translator(mass_in="200c", mass_out="500c", concentration=conc),
        gnfw=hm.HaloProfilePressureGNFW(mass_def="500c", mass_bias=MASS_BIAS, x_out=X_OUT, alpha_P=ALPHA_P),
    )


LOG_M = np.linspace(np.log10(M_MIN), np.log10(M_MAX), 400)  # log10 M_200c in Msun/h


@lru_cache(maxsize=32)
def cumulative_density(z: float) -> np.ndarray:
    """n(>M, z) in (h/Mpc)^3 on LOG_M: Tinker 2008, integrated from the top."""
    hm = _halo_model()
    dn = hm["mass_function"](mf.cosmology(), 10**LOG_M / H, 1 / (1 + z)) / H**3  # dn/dlog10M
    steps = 0.5 * (dn[1:] + dn[:-1]) * np.diff(LOG_M)
    return np.concatenate([np.cumsum(steps[::-1])[::-1], [0.0]])


def mass_at_count(counts: np.ndarray, volume: float, z: float) -> np.ndarray:
    """M_200c (Msun/h) whose expected number above it in `volume` is `counts` (NaN past M_MIN)."""
    n = cumulative_density(z) * volume  # decreasing in M
    out = np.interp(np.asarray(counts), n[::-1], LOG_M[::-1], left=np.nan, right=np.nan)
    return 10**out


def halo_bias(mass: np.ndarray, z: float) -> np.ndarray:
    return _halo_model()["bias"](mf.cosmology(), np.asarray(mass) / H, 1 / (1 + z))


@dataclass
class Catalogue:
    """One slice's halos, fixed across redshifts: count-space positions, pixels, scatter."""

    counts: np.ndarray  # (n,) ascending: a Poisson process of unit rate
    ix: np.ndarray  # (n,) pixel rows
    iy: np.ndarray  # (n,) pixel columns
    eps: np.ndarray  # (n,) unit Gaussian: the halo's pressure scatter

    def masses(self, volume: float, z: float) -> np.ndarray:
        """(n,) M_200c at z; NaN for halos lighter than M_MIN there (not yet formed)."""
        return mass_at_count(self.counts, volume, z)


def draw_catalogue(rng: np.random.Generator, volume: float, z_max_count: float, log_rho0: np.ndarray) -> Catalogue:
    """Halos of a slice: counts up to `z_max_count` (the largest N(>M_MIN) V over the
    redshifts), placed with probability ∝ rho_bg^b at z = 0 (`log_rho0` = ln rho_bg(z=0))."""
    n = rng.poisson(z_max_count)
    counts = np.sort(rng.uniform(0.0, z_max_count, n))  # a unit-rate Poisson process on [0, N]
    mass0 = np.nan_to_num(mass_at_count(counts, volume, 0.0), nan=M_MIN)
    bias = halo_bias(mass0, 0.0)
    grid = log_rho0.shape[0]
    ix, iy = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    flat = (log_rho0 - log_rho0.max()).ravel()
    groups = np.clip(np.round(bias * 4).astype(int), 0, None)  # biases to the nearest 0.25
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        weight = np.exp((g / 4) * flat)
        pix = rng.choice(weight.size, size=members.size, p=weight / weight.sum())
        ix[members], iy[members] = np.divmod(pix, grid)
    return Catalogue(counts, ix, iy, rng.standard_normal(n))


def cic_window_2d(grid: int, box: float) -> np.ndarray:
    """The cloud-in-cell amplitude window sinc²(k_x a/2) sinc²(k_y a/2) on the rfft2 grid."""
    sx = np.sinc(np.fft.fftfreq(grid))  # frequency f in cycles per pixel: k a / 2 = π f
    sy = np.sinc(np.fft.rfftfreq(grid))
    return (sx[:, None] ** 2) * (sy[None, :] ** 2)


def profile_table(kind: str, log_m: np.ndarray, z: float, k: np.ndarray) -> np.ndarray:
    """(n_mass, n_k) Fourier transforms at k (h/Mpc) of a halo of each mass 10^log_m (Msun/h):
    'dm': NFW normalised to 1 at k = 0; 'pressure': GNFW of M_500c divided by the halo's
    M_200c^(5/3 + α_p), in arbitrary units (the calibration sets the pressure's amplitude):
    times a halo's own M_200c^(5/3 + α_p) (:func:`pressure_weights`) it scales within a bin
    as the profile's amplitude does."""
    hm, cosmo, a = _halo_model(), mf.cosmology(), 1 / (1 + z)
    mass = 10 ** np.asarray(log_m) / H  # Msun
    kk = np.asarray(k) * H  # 1/Mpc
    if kind == "dm":
        u = hm["nfw"].fourier(cosmo, kk, mass, a)
        return np.atleast_2d(u / mass[:, None])
    m500 = hm["to_500c"](cosmo, mass, a)
    u = np.atleast_2d(hm["gnfw"].fourier(cosmo, kk, m500, a))
    return u / (10 ** np.asarray(log_m)[:, None]) ** (5 / 3 + ALPHA_P)


def fourier_sum(
    kind: str, cat: Catalogue, mass: np.ndarray, weight: np.ndarray, z: float, grid: int, box: float
) -> np.ndarray:
    """rfft2 of Σ_i weight_i profile(x − x_i | M_i), before the pixel window (complex128).

    'dm': weight M_i (Msun/h) gives projected mass; 'pressure': weight M_i^(5/3+α_p) times the
    scatter (:func:`pressure_weights`) gives projected pressure in the profile table's units.
    Halos with NaN mass are left out."""
    alive = np.isfinite(mass)
    lm = np.log10(mass[alive])
    edges = np.arange(np.log10(M_MIN), np.log10(M_MAX) + BIN_DEX, BIN_DEX)
    which = np.clip(np.digitize(lm, edges) - 1, 0, len(edges) - 2)
    used = np.unique(which)
    kmag = mf.k_grid(grid, box)
    k_tab = np.geomspace(np.pi / box, kmag.max() * 1.01, 256)
    table = profile_table(kind, edges[used] + BIN_DEX / 2, z, k_tab) if used.size else None
    total = np.zeros(kmag.shape, dtype=np.complex128)
    ix, iy, w = cat.ix[alive], cat.iy[alive], weight[alive]
    for row, b in enumerate(used):
        sel = which == b
        deposit = np.bincount(ix[sel] * grid + iy[sel], weights=w[sel], minlength=grid * grid)
        # the profile at k = 0 is the total: the log-log interpolation keeps the shape smooth
        u = np.interp(np.log(np.maximum(kmag, k_tab[0])), np.log(k_tab), table[row])
        total += np.fft.rfft2(deposit.reshape(grid, grid)) * u
    return total


def to_real(total: np.ndarray, grid: int, box: float, smooth: float = 0.0) -> np.ndarray:
    """A :func:`fourier_sum` as a map per unit area ((Mpc/h)^-2), float64 (grid, grid): times
    the cloud-in-cell window of the original's particle maps and a Gaussian of `smooth` Mpc/h."""
    window = cic_window_2d(grid, box)
    if smooth > 0:
        window = window * mf.gaussian_filter(grid, box, smooth)
    out = np.fft.irfft2(total * window, s=(grid, grid)) / (box / grid) ** 2
    # a truncated profile's transform rings: tiny negative values around halos; a projected
    # mass or pressure is never negative
    return np.maximum(out, 0.0, out=out)


def paint(
    kind: str,
    cat: Catalogue,
    mass: np.ndarray,
    weight: np.ndarray,
    z: float,
    grid: int,
    box: float,
    smooth: float = 0.0,
) -> np.ndarray:
    """Σ_i weight_i profile(x − x_i | M_i) per unit area, float64 (grid, grid)."""
    return to_real(fourier_sum(kind, cat, mass, weight, z, grid, box), grid, box, smooth)


def pressure_weights(cat: Catalogue, mass: np.ndarray, scatter: bool = True) -> np.ndarray:
    """M_200c^(5/3 + α_p) times the halo's lognormal scatter exp(σ ε − σ²/2) (mean 1);
    ``scatter=False``: without it, its mean (the halo oracle's weight)."""
    weight = mass ** (5 / 3 + ALPHA_P)
    return weight * np.exp(SIGMA_LNP * cat.eps - SIGMA_LNP**2 / 2) if scatter else weight
