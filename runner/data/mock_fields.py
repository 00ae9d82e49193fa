"""The physics of the mock maps: projected non-linear power, lognormal density, painted pressure.

Dark matter. A slice of depth L at redshift z is a projection. Its relative density rho = 1 + delta
(mean exactly 1) is a lognormal field whose power spectrum is

    P_L(k, z) = P_2D,L(k, z) W_CIC(k) (1 + (k / K_STAR)^4)^(beta(z) / 4)

P_2D,L is the projection through a top-hat of depth L of the non-linear matter spectrum: halofit
(Takahashi et al. 2012) on the Eisenstein & Hu linear spectrum, normalised to sigma8, computed by
pyccl for BAHAMAS's cosmology at that redshift. W_CIC is the power window of the cloud-in-cell
binning that made the original's maps from particles, sinc^4(k_x a / 2) sinc^4(k_y a / 2) for
pixels of side a, averaged over directions (powerbox takes an isotropic P). With these two alone
the variance on the original's grid is 0.97-0.99 of the original's at all 11 redshifts; the last
factor, a gentle taper whose exponent beta(z) the calibration (mock.py) sets, takes up the rest
and the sample variance of the maps (|beta| < 0.2 on grids of 256 pixels or more). powerbox turns
P into the lognormal field; each slice keeps its Gaussian modes at every redshift, so the maps at
different z are the same structure grown. The stored slice is rho in the original's units
(layout.UNITS):

    dm_L = M(z) (L / 250) rho,        M(z) = the original's mean of a summed sample (~1)

Pressure is a nonlinear, smoothed function of the local density with scatter:

    p_L = A_L(z) exp(gamma_L(z) ln rho_s + SCATTER eps)

rho_s is rho smoothed on SMOOTH Mpc/h, eps a unit-variance Gaussian field smoothed on
SCATTER_SCALE Mpc/h (fixed per slice). gamma_L and A_L are calibrated per depth (mock.py) so that
each depth's mean and variance are its share of the original's (a projection of 2 or 3
independent 50 Mpc/h sheets: 0.4 and 0.6 of both). docs/mock.md explains the choices and limits.
"""

from __future__ import annotations

import atexit
import warnings
from functools import lru_cache

import numpy as np

from runner.data.layout import OMEGA_B, OMEGA_M, PIXEL_SIZE

# BAHAMAS (McCarthy et al. 2017): WMAP9 parameters, as in the original's simulations.
COSMOLOGY = dict(Omega_c=OMEGA_M - OMEGA_B, Omega_b=OMEGA_B, h=0.7, sigma8=0.821, n_s=0.972)
K_STAR = 2.0  # h/Mpc: where the small-scale taper of the power spectrum sets in
SMOOTH = 0.4  # Mpc/h: Gaussian smoothing of the density that the pressure follows
SCATTER = 0.35  # standard deviation of ln p at fixed smoothed density
SCATTER_SCALE = 1.0  # Mpc/h: correlation length of that scatter


@lru_cache(maxsize=1)
def cosmology():
    """The pyccl cosmology of the mock: halofit on Eisenstein & Hu, no Boltzmann code needed."""
    import pyccl

    # freed at exit while pyccl's module is still whole: its __del__ fails noisily at teardown
    atexit.register(cosmology.cache_clear)
    return pyccl.Cosmology(**COSMOLOGY, transfer_function="eisenstein_hu", matter_power_spectrum="halofit")


def nonlinear_power(k: np.ndarray, z: float, linear: bool = False) -> np.ndarray:
    """Halofit P(k, z) in (Mpc/h)^3 for k in h/Mpc (pyccl works in Mpc, hence the h's);
    the linear spectrum with ``linear``."""
    import pyccl

    h = COSMOLOGY["h"]
    k = np.asarray(k, dtype=float)
    power = pyccl.linear_matter_power if linear else pyccl.nonlin_matter_power
    return power(cosmology(), k * h, 1.0 / (1.0 + float(z))) * h**3


@lru_cache(maxsize=16)
def nonlinear_table(z: float, linear: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(log k, log P) of halofit (or linear) at z on 800 points, 1e-4 to 300 h/Mpc."""
    k = np.logspace(-4.0, 2.5, 800)
    return np.log(k), np.log(nonlinear_power(k, z, linear))


@lru_cache(maxsize=64)
def projected_power_table(depth: float, z: float, k_max: float, linear: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(k, P_2D(k)) at z for a slice of `depth` Mpc/h, k in h/Mpc, P in (Mpc/h)^2.

    P_2D(k) = 2 int_0^inf dk_z / (2 pi) P(sqrt(k^2 + k_z^2)) sinc^2(k_z L / 2), the power of
    (1 / L) int delta dz; it tends to P(k) / L (Limber) for k L >> 1.
    """
    lk3, lp3 = nonlinear_table(float(z), linear)
    k = np.logspace(-3.5, np.log10(k_max * 1.05), 240)
    kz = np.linspace(0.0, 200 * np.pi / depth, 6000)  # sinc^2 has fallen to ~1e-5 by the end
    lkk = 0.5 * np.log(k[:, None] ** 2 + kz[None, :] ** 2)
    pk = np.exp(np.interp(lkk, lk3, lp3))
    window = np.sinc(kz * depth / (2 * np.pi)) ** 2
    return k, 2 * np.trapezoid(pk * window, kz, axis=1) / (2 * np.pi)


def cic_window(k: np.ndarray, pixel: float = PIXEL_SIZE) -> np.ndarray:
    """Direction average of the CIC power window sinc^4(k_x a / 2) sinc^4(k_y a / 2) at |k|."""
    theta = (np.arange(48) + 0.5) * (np.pi / 2) / 48  # a quarter circle holds every direction
    x = np.asarray(k, dtype=float)[..., None] * pixel / 2
    w = np.sinc(x * np.cos(theta) / np.pi) * np.sinc(x * np.sin(theta) / np.pi)
    return np.mean(w**4, axis=-1)


def taper(k: np.ndarray, beta: float) -> np.ndarray:
    """(1 + (k / K_STAR)^4)^(beta / 4): 1 at large scales, ~k^beta far above K_STAR."""
    return (1.0 + (np.asarray(k) / K_STAR) ** 4) ** (beta / 4.0)


@lru_cache(maxsize=64)
def model_power_table(depth: float, z: float, k_max: float, linear: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(log k, log of P_2D,L W_CIC): the spectrum before the taper, interpolated by power_2d."""
    k, p = projected_power_table(depth, z, k_max, linear)
    return np.log(k), np.log(p * cic_window(k))


def power_2d(depth: float, k_max: float, z: float, beta: float, linear: bool = False, amplitude: float = 1.0):
    """The callable P_L(k, z) of the module docstring (``linear``: of the linear spectrum,
    times ``amplitude``: the halo mock's background)."""
    lk, lp = model_power_table(float(depth), float(z), float(k_max), linear)

    def pk(k: np.ndarray) -> np.ndarray:
        return amplitude * np.exp(np.interp(np.log(k), lk, lp)) * taper(k, beta)

    return pk


def k_nyquist(grid: int, box: float) -> float:
    return np.sqrt(2.0) * np.pi * grid / box  # the corner of the 2D k grid


def gaussian_modes(grid: int, box: float, seed: int) -> np.ndarray:
    """Unit-variance Hermitian Gaussian modes (grid, grid // 2 + 1): a slice's 'phases'."""
    import powerbox

    return powerbox.PowerBox(shape=(grid, grid), size=(box, box), pk=np.ones_like, seed=seed).gauss_hermitian()


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
            # With this model only corner modes beyond ~15 h/Mpc are, carrying < 1e-3 of the
            # Gaussian power (docs/mock.md).
            warnings.simplefilter("ignore")
            self.amplitude = np.sqrt(self.box.gaussian_power_array())

    def density(self, modes: np.ndarray) -> np.ndarray:
        """rho = 1 + delta with mean exactly 1, float64 (grid, grid)."""
        rho = 1.0 + self.box.delta_x(delta_k=self.amplitude * modes)
        return rho / rho.mean()


def k_grid(grid: int, box: float) -> np.ndarray:
    """|k| (h/Mpc) on the rfft2 grid of a (grid, grid) map of side ``box`` Mpc/h."""
    kx = 2 * np.pi * np.fft.fftfreq(grid, d=box / grid)
    ky = 2 * np.pi * np.fft.rfftfreq(grid, d=box / grid)
    return np.hypot(kx[:, None], ky[None, :])


def gaussian_filter(grid: int, box: float, radius: float) -> np.ndarray:
    """exp(-k^2 r^2 / 2) on the rfft grid."""
    return np.exp(-0.5 * (radius * k_grid(grid, box)) ** 2)


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
    """exp(gamma ln rho_s + SCATTER eps) in float64, before the amplitude A_L."""
    return np.exp(gamma * log_rho.astype(np.float64) + SCATTER * eps)
