"""The physics of the mock maps: projected linear power, lognormal density, painted pressure.

Dark matter of a slice of depth L at redshift z is a lognormal projected density (1 + delta,
mean exactly 1) whose power spectrum is

    P(k, z) = D(z)^2 P_2D,L(k) (1 + (k / K_STAR)^4)^(beta(z) / 4)

P_2D,L is the projection of colossus' linear P(k) through a top-hat of depth L; D(z) is the
linear growth factor. The last factor reshapes small scales (by under 2% at k < 0.6 h/Mpc
while |beta| < 10) and is what calibrates the one-point variance (beta > 0: a nonlinear-like
boost; beta < 0: suppression, which z >~ 1.5 needs because its target variance is below what
linear theory gives at 0.195 Mpc/h pixels). powerbox turns P into the lognormal field; each
slice keeps its Gaussian modes at every redshift, so the maps at different z are the same
structure grown.

Pressure is a nonlinear, smoothed function of the local density with scatter:

    p = A(z) (L / 100) exp(gamma(z) ln rho_s + SCATTER eps)

rho_s is the density smoothed on SMOOTH Mpc/h, eps a unit-variance Gaussian field smoothed on
SCATTER_SCALE Mpc/h (fixed per slice), gamma(z) and A(z) are calibrated (mock.py).
"""
from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

# BAHAMAS (McCarthy et al. 2017): WMAP9 parameters, as in the original's simulations.
COSMOLOGY = dict(flat=True, H0=70.0, Om0=0.2793, Ob0=0.0463, sigma8=0.821, ns=0.972)
K_STAR = 2.0  # h/Mpc: where the small-scale reshaping of the power spectrum sets in
SMOOTH = 0.4  # Mpc/h: Gaussian smoothing of the density that the pressure follows
SCATTER = 0.35  # standard deviation of ln p at fixed smoothed density
SCATTER_SCALE = 1.0  # Mpc/h: correlation length of that scatter


@lru_cache(maxsize=1)
def cosmology():
    """The colossus cosmology of the mock (no global state, no cache files)."""
    from colossus.cosmology import cosmology as cc

    return cc.Cosmology(name="bahamas-wmap9", persistence="", **COSMOLOGY)


def growth(z: float) -> float:
    """Linear growth factor normalised to D(0) = 1."""
    c = cosmology()
    return float(c.growthFactor(float(z)) / c.growthFactor(0.0))


@lru_cache(maxsize=8)
def projected_power_table(depth: float, k_max: float) -> tuple[np.ndarray, np.ndarray]:
    """(k, P_2D(k)) at z = 0 for a slice of `depth` Mpc/h, k in h/Mpc, P in (Mpc/h)^2.

    P_2D(k) = 2 int_0^inf dk_z / (2 pi) P(sqrt(k^2 + k_z^2)) sinc^2(k_z L / 2), the power of
    (1 / L) int delta dz; it tends to P(k) / L (Limber) for k L >> 1.
    """
    k = np.logspace(-3.5, np.log10(k_max * 1.05), 240)
    kz = np.linspace(0.0, 200 * np.pi / depth, 6000)  # sinc^2 has fallen to ~1e-5 by the end
    kk = np.sqrt(k[:, None] ** 2 + kz[None, :] ** 2)
    pk = cosmology().matterPowerSpectrum(kk.ravel(), z=0.0).reshape(kk.shape)
    window = np.sinc(kz * depth / (2 * np.pi)) ** 2
    return k, 2 * np.trapezoid(pk * window, kz, axis=1) / (2 * np.pi)


def power_2d(depth: float, k_max: float, d: float, beta: float):
    """The callable P(k, z) of the module docstring, for growth d = D(z)."""
    k0, p0 = projected_power_table(float(depth), float(k_max))
    lk, lp = np.log(k0), np.log(p0)

    def pk(k: np.ndarray) -> np.ndarray:
        lin = np.exp(np.interp(np.log(k), lk, lp))
        return d * d * lin * (1.0 + (k / K_STAR) ** 4) ** (beta / 4.0)

    return pk


def k_nyquist(grid: int, box: float) -> float:
    return np.sqrt(2.0) * np.pi * grid / box  # the corner of the 2D k grid


def gaussian_modes(grid: int, box: float, seed: int) -> np.ndarray:
    """Unit-variance Hermitian Gaussian modes (grid, grid // 2 + 1): a slice's 'phases'."""
    import powerbox

    return powerbox.PowerBox(shape=(grid, grid), size=(box, box), pk=np.ones_like,
                             seed=seed).gauss_hermitian()


def expected_variance(grid: int, box: float, pk) -> float:
    """xi(0) = sum of the power over the grid's modes: the expected variance of the field."""
    import powerbox

    return powerbox.LogNormalPowerBox(shape=(grid, grid), size=(box, box), pk=pk).variance


class LognormalSynth:
    """Lognormal maps of one power spectrum from given Gaussian modes (powerbox)."""

    def __init__(self, grid: int, box: float, pk):
        import powerbox

        self.box = powerbox.LogNormalPowerBox(shape=(grid, grid), size=(box, box), pk=pk)
        with warnings.catch_warnings():
            # powerbox warns when it zeroes a few slightly negative modes of the Gaussian
            # power (|mode| < 1e-3 of the largest); it raises ValueError if the field is
            # not realisable at all, which the calibration treats as "too much variance".
            warnings.simplefilter("ignore")
            self.amplitude = np.sqrt(self.box.gaussian_power_array())

    def density(self, modes: np.ndarray) -> np.ndarray:
        """1 + delta with mean exactly 1, float64 (grid, grid)."""
        rho = 1.0 + self.box.delta_x(delta_k=self.amplitude * modes)
        return rho / rho.mean()


def gaussian_filter(grid: int, box: float, radius: float) -> np.ndarray:
    """exp(-k^2 r^2 / 2) on the rfft grid."""
    kx = 2 * np.pi * np.fft.fftfreq(grid, d=box / grid)
    ky = 2 * np.pi * np.fft.rfftfreq(grid, d=box / grid)
    return np.exp(-0.5 * radius ** 2 * (kx[:, None] ** 2 + ky[None, :] ** 2))


def smooth(a: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return np.fft.irfft2(np.fft.rfft2(a) * kernel, s=a.shape)


def scatter_field(grid: int, box: float, seed: int) -> np.ndarray:
    """eps: smoothed Gaussian noise of unit variance, float32 (grid, grid)."""
    noise = np.random.default_rng(seed).standard_normal((grid, grid))
    eps = smooth(noise, gaussian_filter(grid, box, SCATTER_SCALE))
    return ((eps - eps.mean()) / eps.std()).astype(np.float32)


def log_smoothed_density(rho: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """ln rho_s, float32 (grid, grid); rho_s is clipped at 1e-6 against FFT ringing."""
    return np.log(np.maximum(smooth(rho, kernel), 1e-6)).astype(np.float32)


def pressure_shape(log_rho: np.ndarray, eps: np.ndarray, gamma: float) -> np.ndarray:
    """exp(gamma ln rho_s + SCATTER eps) in float64, before amplitude and depth factor."""
    return np.exp(gamma * log_rho.astype(np.float64) + SCATTER * eps)
