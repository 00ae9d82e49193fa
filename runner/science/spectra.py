"""Binned auto and cross power spectra of 2-D maps, as the paper evaluates painted pressure.

Convention (the standard cosmological one, and powerbox's default): for a map ``a`` of
``N = H·W`` pixels covering an area ``V = L_y·L_x`` [(Mpc/h)²],

    P_ab(k) = < Re(Â(k) · conj(B̂(k))) >_bin · V / N²,      Â = numpy.fft.fft2(a) (unnormalised)

averaged over the FFT modes whose |k| falls in each bin. Units: (Mpc/h)² × (map units)²; k in
h/Mpc. White noise of variance σ² has P = σ²·V/N (the pixel area times σ²).

Relation to powerbox: this equals ``powerbox.get_power(a, L, deltax2=b, bins=edges,
dimensionless=False)`` with its default Fourier convention (a = b = 1), which computes
``|Vx·fftn(a)|² / V`` with the cell area ``Vx = V/N`` — the same quantity. powerbox's default
``dimensionless=True`` would divide the maps by their mean first; we never do. Its ``bin_avg``
is our ``k`` and its ``nsamples`` our ``n_modes``. We keep our own numpy FFT because it takes
a batch of maps in one call and assigns modes on a bin edge deterministically (see
``_bin_index``: powerbox puts a mode that lies exactly on an edge on either side, as rounding
falls). ``tests/runner/science/test_spectra.py`` checks agreement with powerbox to 1e-6 relative (measured:
~1e-14) for bins whose edges miss the lattice of modes, the paper's bins included.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

# Relative tolerance on bin edges: a mode whose |k| equals an edge up to rounding (the
# fundamental 2π/L is the first paper edge) always goes to the bin above, whatever the last bit
# of 2π/L happens to be.
_EDGE_RTOL = 1e-9


@dataclass(frozen=True)
class Spectrum:
    """A binned power spectrum. Unpacks as ``k, P = power_spectrum(...)``.

    Attributes:
        k: (n_bins,) mean |k| of the modes in each bin [h/Mpc]; the geometric bin centre
            where a bin holds no mode.
        power: (..., n_bins) binned power [(Mpc/h)² × map units²]; NaN in empty bins. The
            leading axes are those of the input maps.
        n_modes: (n_bins,) number of FFT grid modes in each bin, k and −k both counted (as
            powerbox's ``nsamples``). For a real Gaussian field the relative standard
            deviation of ``power`` is sqrt(2 / n_modes).
        edges: (n_bins + 1,) the bin edges [h/Mpc]; bins are half-open [lo, hi).
    """

    k: np.ndarray
    power: np.ndarray
    n_modes: np.ndarray
    edges: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        # Two-value unpacking keeps call sites short; n_modes and edges are read by name.
        return iter((self.k, self.power))


def paper_bins(box_size: float = 100.0, n: int = 20) -> np.ndarray:
    """The paper's k binning: ``n`` log-spaced bins from 2π/L to 256·2π/L.

    256·2π/L is the Nyquist frequency of a 512² tile of side L (100 Mpc/h in the paper).

    Args:
        box_size: side L of the tile [Mpc/h].
        n: number of bins.

    Returns:
        (n + 1,) bin edges [h/Mpc].
    """
    k_fundamental = 2 * np.pi / box_size
    return np.geomspace(k_fundamental, 256 * k_fundamental, n + 1)


def log_bins(box_size: float | Sequence[float], shape: Sequence[int], n: int) -> np.ndarray:
    """``n`` log-spaced bin edges from the fundamental mode to the Nyquist frequency.

    Args:
        box_size: side length(s) (L_y, L_x) or one L for both [Mpc/h].
        shape: map shape (H, W) in pixels.
        n: number of bins.

    Returns:
        (n + 1,) bin edges [h/Mpc]; equal to ``paper_bins`` for a 512² map of side 100.
    """
    lengths = _box_lengths(box_size)
    k_min = 2 * np.pi / max(lengths)
    k_max = min(np.pi * s / length for s, length in zip(shape, lengths))
    return np.geomspace(k_min, k_max, n + 1)


def power_spectrum(
    a,
    b=None,
    *,
    box_size: float | Sequence[float],
    bins: int | Sequence[float] | np.ndarray,
) -> Spectrum:
    """Binned auto (``b is None``) or cross power spectrum of 2-D maps.

    Args:
        a: (..., H, W) maps: numpy arrays, or anything ``np.asarray`` takes (a torch tensor is
            detached and moved to the CPU). Leading axes are a batch: each map gets its own
            spectrum. Computed in float64 whatever the input dtype.
        b: None for the auto spectrum of ``a``, else maps of ``a``'s shape for the cross
            spectrum Re<a b*>.
        box_size: side length of the maps [Mpc/h], one for both axes or (L_y, L_x).
        bins: number of log-spaced bins from the fundamental to the Nyquist frequency
            (``log_bins``), or increasing bin edges [h/Mpc] (e.g. ``paper_bins()``).

    Returns:
        A ``Spectrum``; ``power`` has shape (..., n_bins).
    """
    a = _as_float64(a, "a")
    b = None if b is None else _as_float64(b, "b")
    if a.ndim < 2:
        raise ValueError(f"power_spectrum needs maps of shape (..., H, W). Received: shape={a.shape}")
    if b is not None and b.shape != a.shape:
        raise ValueError(f"a and b must have the same shape. Received: a.shape={a.shape}, b.shape={b.shape}")
    shape = a.shape[-2:]
    edges = _normalise_bins(bins, box_size, shape)
    kmag = _k_magnitude(shape, box_size)  # (H, W) [h/Mpc]
    index = _bin_index(kmag, edges)  # (H, W) in 0..n_bins, n_bins = outside every bin
    n_bins = len(edges) - 1

    fa = np.fft.fft2(a)  # (..., H, W) complex
    cross = fa * np.conj(fa if b is None else np.fft.fft2(b))
    volume = float(np.prod(_box_lengths(box_size)))
    n_pix = shape[0] * shape[1]
    mode_power = cross.real * (volume / n_pix**2)  # (..., H, W) [(Mpc/h)² × units²]

    n_modes = np.bincount(index.ravel(), minlength=n_bins + 1)[:n_bins]
    k_sum = np.bincount(index.ravel(), weights=kmag.ravel(), minlength=n_bins + 1)[:n_bins]
    power_sum = _batched_bincount(mode_power, index, n_bins)  # (..., n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        power = power_sum / n_modes  # NaN where a bin is empty
        k = np.where(n_modes > 0, k_sum / n_modes, np.sqrt(edges[:-1] * edges[1:]))
    return Spectrum(k=k, power=power, n_modes=n_modes, edges=edges)


def ratio_stats(estimate: np.ndarray, truth: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over tiles of estimate/truth − 1, as the paper plots them.

    Args:
        estimate: (n_tiles, n_bins) spectra of painted maps.
        truth: (n_tiles, n_bins) spectra of the true maps, tile for tile.
        axis: the tile axis.

    Returns:
        (mean, std), each (n_bins,). The std is the scatter between tiles with ddof = 1 (the
        sample standard deviation, as the paper's figure), not the error of the mean; NaN with
        a single tile, where no scatter can be measured.
    """
    estimate, truth = np.asarray(estimate, float), np.asarray(truth, float)
    if estimate.shape != truth.shape:
        raise ValueError(f"estimate and truth must have the same shape. Received: {estimate.shape} and {truth.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = estimate / truth - 1.0
    if ratio.shape[axis] < 2:
        return ratio.mean(axis=axis), np.full(np.delete(ratio.shape, axis), np.nan)
    return ratio.mean(axis=axis), ratio.std(axis=axis, ddof=1)


def _as_float64(x, name: str) -> np.ndarray:
    # Duck-typed torch support, so this module never imports torch.
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _box_lengths(box_size: float | Sequence[float]) -> tuple[float, float]:
    lengths = (float(box_size),) * 2 if np.isscalar(box_size) else tuple(float(v) for v in box_size)
    if len(lengths) != 2 or min(lengths) <= 0:
        raise ValueError(f"box_size must be a positive length or (L_y, L_x). Received: box_size={box_size}")
    return lengths


def _normalise_bins(bins, box_size, shape) -> np.ndarray:
    if np.isscalar(bins):
        if int(bins) != bins or bins < 1:
            raise ValueError(f"bins must be a positive integer or an array of edges. Received: bins={bins}")
        return log_bins(box_size, shape, int(bins))
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0) or edges[0] < 0:
        raise ValueError(
            f"bin edges must be a 1-D increasing array of at least 2 non-negative values. Received: {edges}"
        )
    return edges


def _k_magnitude(shape: Sequence[int], box_size) -> np.ndarray:
    """|k| of every FFT mode in numpy's (unshifted) order [h/Mpc], computed as powerbox does."""
    ky, kx = (2 * np.pi * np.fft.fftfreq(n, d=length / n) for n, length in zip(shape, _box_lengths(box_size)))
    return np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)


def _bin_index(kmag: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of every mode, n_bins for modes outside [edges[0], edges[-1])."""
    nudged = edges * (1 - _EDGE_RTOL)
    index = np.searchsorted(nudged, kmag, side="right") - 1  # -1 below, n_bins at or above the top
    return np.where((index < 0) | (index >= len(edges) - 1), len(edges) - 1, index)


def _batched_bincount(values: np.ndarray, index: np.ndarray, n_bins: int) -> np.ndarray:
    """Sum (..., H, W) values into (..., n_bins) bins with one bincount over the whole batch."""
    batch_shape = values.shape[:-2]
    flat = values.reshape(-1, index.size)  # (B, H·W)
    stride = n_bins + 1  # one spare slot per map collects the modes outside every bin
    offsets = (np.arange(flat.shape[0]) * stride)[:, None]
    slots = (index.ravel()[None, :] + offsets).ravel()
    sums = np.bincount(slots, weights=flat.ravel(), minlength=flat.shape[0] * stride)
    return sums.reshape(flat.shape[0], stride)[:, :n_bins].reshape(*batch_shape, n_bins)
