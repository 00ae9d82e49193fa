"""The dark matter's power spectrum in a store against the mock's model (docs/mock.md).

    python scripts/mock_power.py STORE.h5 [--redshifts 0,1,2]

For each redshift and depth, the power of the relative density dm / mean - 1, averaged over
every slice, divided by the model (pyccl's halofit projected over the slice depth, times the
original's CIC binning window) and by halofit alone, in log-spaced k bins from the box's
fundamental to the Nyquist frequency; then k^2 P relative to its value at 3 h/Mpc. On a mock
store the first ratio should sit at 1 up to sample variance and the calibrated taper; on the
original's BAHAMAS maps (`runner data import-npy`) it says how far the mock's model is from them.
"""

from __future__ import annotations

import argparse

import numpy as np

from runner.data import mock_fields as mf
from runner.data.store import open_store
from runner.science.spectra import power_spectrum


def binned_model(store, z: float, depth: int, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Halofit and halofit x CIC window, each averaged over the grid's modes in every bin (as a
    measured power averages them; the window is the exact sinc^4(k_x a/2) sinc^4(k_y a/2))."""
    kx = 2 * np.pi * np.fft.fftfreq(store.grid, d=store.pixel_size)
    kk = np.hypot(kx[:, None], kx[None, :]).ravel()
    sx = np.sinc(kx * store.pixel_size / (2 * np.pi))
    window = ((sx[:, None] * sx[None, :]) ** 4).ravel()
    k0, p0 = mf.projected_power_table(float(depth), float(z), mf.k_nyquist(store.grid, store.box_size))
    which = np.digitize(kk, edges) - 1
    keep = (which >= 0) & (which < len(edges) - 1) & (kk > 0)
    h = np.exp(np.interp(np.log(kk[keep]), np.log(k0), np.log(p0)))
    count = np.bincount(which[keep], minlength=len(edges) - 1)
    mean = lambda v: np.bincount(which[keep], weights=v, minlength=len(edges) - 1) / count  # noqa: E731
    return mean(h), mean(h * window[keep])


def table(store, z: float, depth: int, n_bins: int = 12) -> list[str]:
    maps = np.stack([store.read_slice("dm", z, depth, s) for s in range(store.n_slices)])
    maps = maps.astype(np.float64) / maps.mean(axis=(1, 2), keepdims=True) - 1.0
    edges = np.geomspace(2 * np.pi / store.box_size, np.pi / store.pixel_size, n_bins + 1)
    spec = power_spectrum(maps, box_size=store.box_size, bins=edges)
    k, p = spec.k, spec.power.mean(axis=0)
    halofit, model = binned_model(store, z, depth, edges)
    k3 = int(np.argmin(np.abs(k - 3.0)))
    rows = [
        ("k [h/Mpc]", k, "{:7.3g}"),
        ("P / model", p / model, "{:7.2f}"),
        ("P / halofit", p / halofit, "{:7.2f}"),
        ("k2P / at 3", k**2 * p / (k[k3] ** 2 * p[k3]), "{:7.2g}"),
    ]
    return [f"  {name:<12}" + "".join(fmt.format(v) for v in values) for name, values, fmt in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store")
    parser.add_argument("--redshifts", help="comma-separated; default every stored redshift")
    args = parser.parse_args()
    with open_store(args.store, scan=False) as store:
        zs = [float(z) for z in args.redshifts.split(",")] if args.redshifts else store.redshifts
        for z in zs:
            for depth in store.depths:
                print(
                    f"z = {z:g}, {depth} Mpc/h, mean of {store.n_slices} slices of "
                    f"{store.grid}^2 ({store.box_size:g} Mpc/h)"
                )
                print("\n".join(table(store, z, depth)))


if __name__ == "__main__":
    main()
