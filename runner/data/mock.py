"""Mock BAHAMAS-like tile stores: generation, calibration and a cache for tests and quickstarts.

    rows = generate_mock("mock.h5", grid=1024, slices=4)      # the laptop default
    print(format_table(rows))                                   # targets against achieved
    path = ensure_mock_store("~/.cache/archspec", grid=256, slices=3, redshifts=[0, 1, 2])

The layout, units and physical scales are the original's (0.1953125 Mpc/h pixels, 100 and
150 Mpc/h slices, the 11 redshifts, dark matter in layout.UNITS); the physics is in
mock_fields.py. Each redshift is calibrated on the maps it writes, to the original's statistics
(original_stats.py): the summed sample's dark-matter mean and variance, and each depth's pressure mean
and variance (its share, 0.4 or 0.6, of the summed sample's). docs/mock.md explains the model.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

from runner.data import mock_fields as mf
from runner.data import mock_halos as mh
from runner.data.layout import (
    DEFAULT_GRID,
    DEFAULT_SLICES,
    DEPTHS,
    PIXEL_SIZE,
    REDSHIFTS,
    DataError,
    FieldStats,
    depth_share,
)
from runner.data.original_stats import reference
from runner.data.store import open_store
from runner.data.write import StoreWriter, check_output
from runner.runtime import remove_stale_temporaries

MOCK_VERSION = 2  # of the lognormal sky: bump when its output changes; cached stores are then remade
HALO_VERSION = 3  # of the halo sky (the default since v3), likewise
SKIES = ("halo", "lognormal")
# A slice's halos are drawn once up to the largest N(>M_MIN) of these redshifts (it peaks near
# z = 0.2), so that a catalogue does not depend on which redshifts a store holds.
CATALOGUE_REDSHIFTS = tuple(np.linspace(0.0, 2.0, 21))
TOL = 3e-4  # calibration tolerance, in log of achieved over target
# Range of the small-scale taper exponent beta (mock_fields.py). Halofit with the CIC window
# gives 0.97-0.99 of the original's variance at every redshift, so beta stays within +-0.2 on
# grids of 256 pixels or more; tiny test grids (32-64 pixels) stray further by sample variance.
BETA_MIN, BETA_MAX = -6.0, 6.0
GAMMA_MAX = 40.0  # pressure's slope in ln rho_s: the search range is [0, GAMMA_MAX]


@dataclass(frozen=True)
class MockOptions:
    grid: int = DEFAULT_GRID
    slices: int = DEFAULT_SLICES
    redshifts: tuple = REDSHIFTS
    seed: int = 0
    sky: str = "halo"
    oracle: bool = False  # pressure as the halo oracle paints it (:func:`halo_sky`), not the sky's own

    def validated(self) -> MockOptions:
        """Normalised options; every problem in one DataError."""
        zs = tuple(float(z) for z in self.redshifts)
        problems = []
        if int(self.grid) < 16 or int(self.grid) % 2:
            problems.append(f"grid must be even and >= 16 (received {self.grid})")
        if int(self.slices) < 2:
            problems.append(f"slices must be >= 2, a train/test split needs two (received {self.slices})")
        if not zs or list(zs) != sorted(set(zs)) or zs[0] < 0:
            problems.append(f"redshifts must be >= 0, distinct and ascending (received {list(self.redshifts)})")
        if self.sky not in SKIES:
            problems.append(f"sky must be one of {', '.join(SKIES)} (received {self.sky!r})")
        elif self.oracle and self.sky != "halo":
            problems.append(f"only the halo sky has a halo oracle (received sky {self.sky!r})")
        if problems:
            raise DataError("mock: " + "; ".join(problems))
        return MockOptions(int(self.grid), int(self.slices), zs, int(self.seed), self.sky, bool(self.oracle))

    def key(self) -> str:
        """JSON of the options and the generator version: what a cached store must match. The
        lognormal sky's key is what it was before skies had names (its cached stores stay valid)."""
        data = {**asdict(self), "redshifts": list(self.redshifts), "version": MOCK_VERSION}
        if not self.oracle:  # the sky's own store: its key as before there were oracles
            del data["oracle"]
        if self.sky == "lognormal":
            del data["sky"]
        else:
            data["version"] = HALO_VERSION
        return json.dumps(data, sort_keys=True)


@dataclass
class Row:
    """One redshift's calibration: its parameters and (after writing) the stored statistics."""

    z: float
    params: dict  # name -> value: what the calibration set (see format_table's header)
    dm: FieldStats | None = None  # read back from the written file
    pressure: FieldStats | None = None


def seed_int(seed: int, depth: int, s: int, stream: int) -> int:
    """An independent seed per (depth, slice, stream); independent of grid and redshifts."""
    return int(np.random.SeedSequence([seed, depth, s, stream]).generate_state(1)[0])


class Slices:
    """The per-slice randomness of a mock, fixed across redshifts: Gaussian modes and scatter."""

    def __init__(self, opt: MockOptions):
        self.grid, self.box = opt.grid, opt.grid * PIXEL_SIZE
        self.k_max = mf.k_nyquist(self.grid, self.box)
        rng = range(opt.slices)
        self.modes = {
            d: [mf.gaussian_modes(self.grid, self.box, seed_int(opt.seed, d, s, 0)) for s in rng] for d in DEPTHS
        }
        self.eps = {
            d: [mf.scatter_field(self.grid, self.box, seed_int(opt.seed, d, s, 1)) for s in rng] for d in DEPTHS
        }
        self.kernel = mf.gaussian_filter(self.grid, self.box, mf.SMOOTH)

    def expected_variance(self, depth: int, z: float, beta: float) -> float:
        """Variance of rho the power spectrum implies on this grid (no maps, no FFT)."""
        return mf.expected_variance(self.grid, self.box, mf.power_2d(depth, self.k_max, z, beta))

    def density(self, z: float, beta: float) -> dict:
        """depth -> list of rho = 1 + delta maps (float64, mean 1) at z and taper beta."""
        out = {}
        for depth in DEPTHS:
            synth = mf.LognormalSynth(self.grid, self.box, mf.power_2d(depth, self.k_max, z, beta))
            out[depth] = [synth.density(m) for m in self.modes[depth]]
        return out


def pooled(maps) -> tuple[float, float]:
    """Mean and variance over all pixels of equally sized maps, without stacking them."""
    ms, vs = zip(*((float(m.mean()), float(m.var())) for m in maps))
    return float(np.mean(ms)), float(np.mean(vs) + np.var(ms))


def solve_increasing(
    f, x0: float, step: float, lo: float, hi: float, tol: float, what: str, x1: float | None = None
) -> float:
    """x in [lo, hi] with |f(x)| < tol for an increasing f (inf where x is too large).

    Secant steps from x0 (a good guess) and x1 (default x0 -/+ step), then, if those fail, a
    bracket widened from the points seen and Brent's method.
    """
    seen: dict[float, float] = {}

    def g(x: float) -> float:
        x = float(min(max(x, lo), hi))
        if x not in seen:
            seen[x] = f(x)
        return seen[x]

    xa, xb = x0, x1 if x1 is not None and x1 != x0 else x0 - step if g(x0) > 0 else x0 + step
    for _ in range(10):
        fa, fb = g(xa), g(xb)
        if abs(fb) < tol or abs(fa) < tol:
            return xb if abs(fb) < tol else xa
        if not np.isfinite(fa + fb) or fa == fb:
            break
        xa, xb = xb, xb - fb * (xb - xa) / (fb - fa)
        if not lo <= xb <= hi:
            break
    below = max((x for x, v in seen.items() if v < 0), default=None)
    above = min((x for x, v in seen.items() if v > 0), default=None)
    width = step
    while below is None:  # widen downwards until f < 0
        width *= 2
        x = max(lo, (x0 if above is None else above) - width)
        below = x if g(x) < 0 else _unreachable(what, x, g(x), x == lo)
    width = step
    while above is None:  # widen upwards until f > 0
        width *= 2
        x = min(hi, below + width)
        above = x if g(x) > 0 else _unreachable(what, x, g(x), x == hi)
    return float(brentq(lambda x: min(g(x), 1e3), below, above, xtol=1e-7, rtol=1e-10))


def _unreachable(what: str, x: float, excess: float, at_limit: bool) -> None:
    """None while the search may go on; DataError once the parameter's limit is reached."""
    if not at_limit:
        return None
    got = "not realisable" if not np.isfinite(excess) else f"{np.exp(excess):.3g} x the target"
    raise DataError(f"cannot reach {what}: at the parameter's limit {x:g} it is {got} (try a larger --grid)")


def dm_scale(depth: int, z: float) -> float:
    """Stored dark matter per unit rho: the depth's share of the original's summed mean."""
    return depth_share(depth) * reference("dm", "mean", z)


def calibrate_dm(sl: Slices, z: float, beta0: float) -> tuple[float, dict]:
    """beta such that the stored maps' var_100 + var_150 is the original's; and those rho maps.

    Maps cost FFTs, so beta is first found for the expected variance (a sum over the power
    spectrum), then corrected on the maps by secant steps: usually two or three sets of maps.
    """
    goal, last = reference("dm", "var", z), {}
    weight = {dp: dm_scale(dp, z) ** 2 for dp in DEPTHS}  # variance of stored per variance of rho

    def expected(beta: float, goal: float) -> float:  # log(expected / goal)
        return float(np.log(sum(weight[dp] * sl.expected_variance(dp, z, beta) for dp in DEPTHS) / goal))

    def excess(beta: float) -> float:  # log(achieved / target); unrealisable counts as too high
        try:
            maps = sl.density(z, beta)
        except ValueError:
            return np.inf
        last.clear()
        last[beta] = maps
        return float(np.log(sum(weight[dp] * pooled(maps[dp])[1] for dp in DEPTHS) / goal))

    what = f"the mock dark-matter variance {goal:.4g} at z={z:g}"
    span = dict(lo=BETA_MIN, hi=BETA_MAX, what=what)
    guess = solve_increasing(lambda b: expected(b, goal), beta0, 0.1, tol=1e-3, **span)
    miss = excess(guess)
    if abs(miss) < TOL:
        return guess, last[guess]
    # the maps' next guess: where the expected variance is off by what the maps missed by
    second = (
        solve_increasing(lambda b: expected(b, goal / np.exp(miss)), guess, 0.1, tol=1e-3, **span)
        if np.isfinite(miss)
        else guess - 0.2
    )
    beta = solve_increasing(excess, guess, 0.1, tol=TOL, x1=second, **span)
    return beta, last[beta] if beta in last else sl.density(z, beta)


def calibrate_pressure(sl: Slices, logrho: dict, z: float, gamma0: dict) -> tuple[dict, dict]:
    """Per depth, gamma_L and A_L such that the depth's pressure mean and variance are its share
    of the original's summed sample: depth -> gamma, depth -> A."""
    mean_t, var_t = reference("pressure", "mean", z), reference("pressure", "var", z)
    gammas, amps = {}, {}
    for depth in DEPTHS:
        share = depth_share(depth)
        rel_goal = share * var_t / (share * mean_t) ** 2  # variance / mean^2 of this depth

        def moments(gamma: float) -> tuple[float, float]:  # mean and variance at A = 1
            return pooled(mf.pressure_shape(u, e, gamma) for u, e in zip(logrho[depth], sl.eps[depth]))  # noqa: B023 (called within this iteration)

        def excess(gamma: float) -> float:  # log of (var / mean^2), achieved over target
            m, v = moments(gamma)
            return float(np.log(v / m**2 / rel_goal)) if m > 0 and v < np.inf else np.inf  # noqa: B023 (called within this iteration)

        gammas[depth] = solve_increasing(
            excess,
            gamma0[depth],
            step=0.1,
            lo=0.0,
            hi=GAMMA_MAX,
            tol=TOL,
            what=f"the mock pressure variance/mean^2 of the {depth} Mpc/h slices at z={z:g}",
        )
        amps[depth] = share * mean_t / moments(gammas[depth])[0]
    return gammas, amps


def generate_mock(
    out,
    grid: int = DEFAULT_GRID,
    slices: int = DEFAULT_SLICES,
    redshifts=REDSHIFTS,
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
    sky: str = "halo",
    oracle: bool = False,
) -> list[Row]:
    """Write a calibrated mock store to `out` (atomically). Deterministic for a seed.

    Args:
        out: output file; refused if it exists unless `force`.
        grid: pixels per side (pixel 0.1953125 Mpc/h). slices: per depth (>= 2).
        redshifts: ascending, >= 0. seed: the randomness of every slice.
        progress: a tqdm bar on stderr, one step per redshift.
        sky: 'halo' (mock_halos.py, the default) or 'lognormal' (mock_fields.py, mock v2).
        oracle: write the halo oracle's pressure (:func:`halo_sky`) beside the sky's own dark
            matter: the store a ceiling reads, never one to train on.
    Returns:
        One Row per redshift: the parameters found and the statistics read back from the file.
    """
    from tqdm import tqdm

    opt = MockOptions(grid, slices, tuple(redshifts), seed, sky, oracle).validated()
    out = Path(out)
    check_output(out, force)
    bar = tqdm(total=len(opt.redshifts), desc=f"mock {out.name}", unit="z", disable=not progress)
    bar.set_postfix_str("drawing slices")
    write = _write_halo if opt.sky == "halo" else _write_lognormal
    with (
        bar,
        StoreWriter(
            out,
            grid=opt.grid,
            n_slices=opt.slices,
            redshifts=opt.redshifts,
            provenance=(ORACLE if opt.oracle else "") + PROVENANCE[opt.sky].format(seed=opt.seed),
            force=force,
            attrs={"mock_options": opt.key(), "cosmology": mf.COSMOLOGY},
        ) as w,
    ):
        rows = write(w, opt, bar)
    with open_store(out, scan=False) as store:
        for row in rows:
            row.dm, row.pressure = store.stats("dm", row.z), store.stats("pressure", row.z)
    return rows


PROVENANCE = {
    "lognormal": (
        f"archspec mock v{MOCK_VERSION}: lognormal dark matter (pyccl halofit P(k) projected "
        "over the slice depth, CIC window, powerbox), pressure painted from smoothed density; "
        "seed {seed}"
    ),
    "halo": (
        f"archspec mock v{HALO_VERSION}: halo model (pyccl.halos: Tinker 2008 halos above "
        f"{mh.M_MIN:.0e} Msun/h, NFW dark matter on a lognormal background, Arnaud 2010 GNFW "
        f"pressure with {mh.SIGMA_LNP} lognormal scatter per halo, a diffuse component); seed {{seed}}"
    ),
}


ORACLE = "the halo oracle's pressure (each halo without its scatter) of "


def _write_lognormal(w: StoreWriter, opt: MockOptions, bar) -> list[Row]:
    """mock v2: lognormal dark matter, pressure a function of the smoothed density (mock_fields.py)."""
    sl, rows, beta, gamma = Slices(opt), [], 0.0, {d: 3.0 for d in DEPTHS}
    for z in opt.redshifts:
        bar.set_postfix_str(f"z={z:g}")
        beta, rho = calibrate_dm(sl, z, beta)
        logrho = {}
        for depth in DEPTHS:
            for s, r in enumerate(rho[depth]):
                w.write("dm", z, depth, s, dm_scale(depth, z) * r)
            logrho[depth] = [mf.log_smoothed_density(r, sl.kernel) for r in rho[depth]]
        del rho
        gamma, amp = calibrate_pressure(sl, logrho, z, gamma)
        for depth in DEPTHS:
            for s, (u, e) in enumerate(zip(logrho[depth], sl.eps[depth])):
                w.write("pressure", z, depth, s, amp[depth] * mf.pressure_shape(u, e, gamma[depth]))
        rows.append(Row(z, {"beta": beta, "g100": gamma[100], "g150": gamma[150]}))
        bar.update(1)
    return rows


class HaloSlices:
    """The per-slice randomness of a halo sky, fixed across redshifts: the background's Gaussian
    modes and each slice's halo catalogue (mock_halos.py)."""

    def __init__(self, opt: MockOptions):
        self.grid, self.box = opt.grid, opt.grid * PIXEL_SIZE
        self.k_max = mf.k_nyquist(self.grid, self.box)
        rng = range(opt.slices)
        self.modes = {
            d: [mf.gaussian_modes(self.grid, self.box, seed_int(opt.seed, d, s, 0)) for s in rng] for d in DEPTHS
        }
        most = max(mh.cumulative_density(float(z))[0] for z in CATALOGUE_REDSHIFTS + opt.redshifts)
        self.halos = {}
        for d in DEPTHS:
            # positions follow the z = 0 background (its Gaussian field is the same at every z)
            rho0 = self.background(d, 0.0, 0.0)
            self.halos[d] = [
                mh.draw_catalogue(
                    np.random.default_rng(seed_int(opt.seed, d, s, 2)),
                    self.volume(d),
                    most * self.volume(d) * 1.05,
                    np.log(r),
                )
                for s, r in enumerate(rho0)
            ]

    def volume(self, depth: int) -> float:
        return self.box**2 * depth

    def background(self, depth: int, z: float, beta: float) -> list:
        """Lognormal rho_bg maps (mean 1) of the projected linear spectrum, times the taper
        (1 + (k / K_STAR)^4)^(beta / 4) of mock_fields.py (1 on large scales)."""
        pk = mf.power_2d(depth, self.k_max, z, beta, linear=True)
        synth = mf.LognormalSynth(self.grid, self.box, pk)
        return [synth.density(m) for m in self.modes[depth]]

    def halo_maps(self, depth: int, z: float, scatter: bool = True) -> tuple[list, list]:
        """(the dark matter's Fourier sums, in units of the mean density; pressure maps in
        profile units) of the halos; ``scatter=False``: each halo's pressure without its own
        scatter (the halo oracle's), and no dark matter (an empty list)."""
        dm, p = [], []
        for cat in self.halos[depth]:
            mass = cat.masses(self.volume(depth), z)
            if scatter:
                dm.append(mh.fourier_sum("dm", cat, mass, mass, z, self.grid, self.box) / (mh.rho_mean() * depth))
            weight = mh.pressure_weights(cat, mass, scatter)
            p.append(mh.paint("pressure", cat, mass, weight, z, self.grid, self.box))
        return dm, p


def knob(x: float) -> tuple[float, float]:
    """The dark matter's one calibration parameter as (the background's small-scale taper beta,
    the halos' smoothing in Mpc/h), increasing in variance. The large scales are the linear
    spectrum's whatever x is. x > 0 raises the background's power above K_STAR (beta = x: the
    non-linear power of the haloes lighter than M_MIN); x < 0 smooths the halos' centres by -x
    Mpc/h instead (where a slice's massive halos alone carry more than the original's variance;
    feedback does the same on BAHAMAS)."""
    return max(x, 0.0), max(-x, 0.0)


def calibrate_halo_dm(sl: HaloSlices, halo_dm: dict, z: float, x0: float) -> tuple[float, dict, dict]:
    """The :func:`knob` x such that the stored dark matter's var_100 + var_150 is the
    original's: (x, depth -> rho maps of mean 1, depth -> background maps)."""
    goal, last = reference("dm", "var", z), {}
    weight = {dp: dm_scale(dp, z) ** 2 for dp in DEPTHS}
    pixel_area = (sl.box / sl.grid) ** 2  # the k = 0 mode is the sum over pixels of the deposit
    halo_mean = {dp: float(np.mean([h[0, 0].real for h in halo_dm[dp]])) / sl.grid**2 / pixel_area for dp in DEPTHS}

    def total(x: float) -> tuple[dict, dict]:
        beta, smooth = knob(x)
        rho, bgs = {}, {}
        for dp in DEPTHS:
            bg = sl.background(dp, z, beta)
            halos = [mh.to_real(h, sl.grid, sl.box, smooth) for h in halo_dm[dp]]
            maps = [(1 - halo_mean[dp]) * b + h for b, h in zip(bg, halos)]
            mean = pooled(maps)[0]
            rho[dp], bgs[dp] = [m / mean for m in maps], bg
        return rho, bgs

    def excess(x: float) -> float:
        try:
            rho, bgs = total(x)
        except ValueError:
            return np.inf
        last.clear()
        last[x] = rho, bgs
        return float(np.log(sum(weight[dp] * pooled(rho[dp])[1] for dp in DEPTHS) / goal))

    x = solve_increasing(
        excess, x0, 0.1, lo=-3.0, hi=BETA_MAX, tol=TOL, what=f"the mock dark-matter variance {goal:.4g} at z={z:g}"
    )
    rho, bgs = last[x] if x in last else total(x)
    return x, rho, bgs


def calibrate_halo_pressure(halo_p: dict, bgs: dict, z: float) -> tuple[float, float, float, dict]:
    """The diffuse fraction f and amplitude A with the original's summed mean and variance:
    p_L = A ((1 - f) H_L + f D_L), H the halos' pressure and D = rho_bg² (each scaled so that
    the two depths' means add up to 1, D in the depths' 0.4 / 0.6 shares).

    Where the halos give too little variance even alone (grids too small to hold a cluster,
    under ~40 Mpc/h), f = 0 and the halos' pressure is raised to the power q > 1 that reaches
    it. Returns (f, q, A, depth -> (H maps, D maps))."""
    goal = reference("pressure", "var", z) / reference("pressure", "mean", z) ** 2
    diffuse = {}  # D_L: rho_bg², its depth's share of a unit mean; the same whatever q is
    for dp in DEPTHS:
        squares = [bg**2 for bg in bgs[dp]]
        mean = pooled(squares)[0]
        diffuse[dp] = [depth_share(dp) * sq / mean for sq in squares]

    def units(q: float) -> dict:
        powered = {dp: [h**q for h in halo_p[dp]] for dp in DEPTHS} if q != 1 else halo_p
        total_h = sum(pooled(powered[dp])[0] for dp in DEPTHS)
        return {dp: ([h / total_h for h in powered[dp]], diffuse[dp]) for dp in DEPTHS}

    unit = units(1.0)
    # Σ_L var((1 - f) H + f D) = (1 - f)² a + 2 f (1 - f) b + f² c, all pooled over slices
    a = b = c = 0.0
    for hs, ds in unit.values():
        var_h, var_d = pooled(hs)[1], pooled(ds)[1]
        a, c = a + var_h, c + var_d
        b += (pooled([h + d for h, d in zip(hs, ds)])[1] - var_h - var_d) / 2  # the covariance
    # (a - 2b + c) f² + 2 (b - a) f + a - goal = 0: the smallest root in [0, 1]
    roots = np.roots([a - 2 * b + c, 2 * (b - a), a - goal])
    fs = sorted(float(r.real) for r in roots if abs(r.imag) < 1e-12 and -1e-12 <= r.real <= 1)
    if fs:
        return max(fs[0], 0.0), 1.0, reference("pressure", "mean", z), unit

    def excess(q: float) -> float:
        var = sum(pooled(units(q)[dp][0])[1] for dp in DEPTHS)
        return float(np.log(var / goal)) if np.isfinite(var) and var > 0 else np.inf

    q = solve_increasing(
        excess,
        1.5,
        0.25,
        lo=1.0,
        hi=GAMMA_MAX,
        tol=TOL,
        what=f"the mock pressure variance/mean^2 {goal:.4g} at z={z:g}",
    )
    return 0.0, q, reference("pressure", "mean", z), units(q)


def _write_halo(w: StoreWriter, opt: MockOptions, bar) -> list[Row]:
    """The halo sky (mock_halos.py), calibrated per redshift; with ``opt.oracle`` its pressure is
    the halo oracle's (:func:`halo_sky`)."""
    rows = []
    for z, dm, pressure, row in halo_sky(opt, bar):
        for field, maps in (("dm", dm), ("pressure", pressure)):
            for depth in DEPTHS:
                for s, m in enumerate(maps[depth]):
                    w.write(field, z, depth, s, m)
        rows.append(row)
    return rows


def halo_sky(opt: MockOptions, bar=None):
    """Per redshift (z, dark matter, pressure, Row): depth -> the slices' maps in store units.

    With ``opt.oracle`` the pressure is the **halo oracle**: what a painter that knows every
    halo (its position and mass) and the background, but not the halo's own scatter, paints
    best. Each halo's pressure weight is M^(5/3 + α_p) instead of that times its lognormal
    scatter exp(σ ε − σ²/2), whose mean is 1; the calibration (f, q, A and the units) is the
    sky's own, fitted on the scattered halos. Where q = 1 (every store of 40 Mpc/h and more) the
    oracle is E[p | halos, background] exactly; where q > 1 it is (E[H])^q, close to it. The
    dark matter is the sky's own."""
    sl, x = HaloSlices(opt), 0.0
    for z in opt.redshifts:
        if bar is not None:
            bar.set_postfix_str(f"z={z:g}")
        halo_dm, halo_p = {}, {}
        for depth in DEPTHS:
            halo_dm[depth], halo_p[depth] = sl.halo_maps(depth, z)
        x, rho, bgs = calibrate_halo_dm(sl, halo_dm, z, x)  # the last z's x starts the next search
        dm = {depth: [dm_scale(depth, z) * r for r in rho[depth]] for depth in DEPTHS}
        del rho, halo_dm
        f, q, amp, unit = calibrate_halo_pressure(halo_p, bgs, z)
        if opt.oracle:  # the same units, the halos' pressure without its scatter
            total = sum(pooled([h**q for h in halo_p[depth]])[0] for depth in DEPTHS)
            for depth in DEPTHS:
                unit[depth] = ([h**q / total for h in sl.halo_maps(depth, z, scatter=False)[1]], unit[depth][1])
        pressure = {depth: [amp * ((1 - f) * h + f * d) for h, d in zip(*unit[depth])] for depth in DEPTHS}
        n_halos = sum(int(np.isfinite(c.masses(sl.volume(dp), z)).sum()) for dp in DEPTHS for c in sl.halos[dp])
        beta, smooth = knob(x)
        yield z, dm, pressure, Row(z, {"beta": beta, "smooth": smooth, "diffuse": f, "q": q, "halos": n_halos})
        if bar is not None:
            bar.update(1)


def format_table(rows: list[Row]) -> str:
    """The original's statistics against those read back from the file, with relative errors,
    and the 150/100 Mpc/h ratios of each field's mean and variance (1.5 for 3 vs 2 sheets)."""
    cols = [
        ("dm", "mean", 8, ".4f"),
        ("dm", "var", 8, ".4f"),
        ("pressure", "mean", 9, ".4g"),
        ("pressure", "var", 9, ".4g"),
    ]
    names = list(rows[0].params) if rows else []
    head = f"{'z':>6}" + "".join(f" {n:>7}" for n in names)
    for fld, stat, width, _ in cols:
        head += f" | {('p' if fld == 'pressure' else fld) + ' ' + stat:>{width}} {'orig.':>{width}} {'err':>6}"
    head += " | 150/100: dm m/v, p m/v"
    lines = [
        "the summed 100 + 150 Mpc/h sample against the original's (mock = read back from the file)",
        head,
        "-" * len(head),
    ]
    for r in rows:
        line = f"{r.z:>6.3f}" + "".join(f" {r.params[n]:>7.3g}" for n in names)
        for fld, stat, width, fmt in cols:
            st = r.dm if fld == "dm" else r.pressure
            got, want = st.sum_mean if stat == "mean" else st.sum_var, reference(fld, stat, r.z)
            line += f" | {got:>{width}{fmt}} {want:>{width}{fmt}} {(got / want - 1):>+6.1%}"
        ratios = [d[150] / d[100] for st in (r.dm, r.pressure) for d in (st.mean, st.var)]
        line += " | " + " ".join(f"{x:.2f}" for x in ratios)
        lines.append(line)
    return "\n".join(lines)


def mock_path(cache_dir, opt: MockOptions) -> Path:
    digest = hashlib.sha1(opt.key().encode()).hexdigest()[:10]
    sky = "" if opt.sky == "lognormal" else f"{opt.sky}-"
    sky += "oracle-" if opt.oracle else ""
    name = f"mock-{sky}g{opt.grid}-s{opt.slices}-z{len(opt.redshifts)}-seed{opt.seed}-{digest}.h5"
    return Path(cache_dir).expanduser() / name


def ensure_mock_store(
    cache_dir,
    grid: int = 256,
    slices: int = 3,
    redshifts=REDSHIFTS,
    seed: int = 0,
    progress: bool = False,
    sky: str = "halo",
    oracle: bool = False,
) -> Path:
    """A mock store with these options in `cache_dir`: reused if valid, else generated.

    The file name carries a digest of the options and the generator version, and the file's
    own `mock_options` attribute is checked too, so a stale or broken file is remade. Safe to
    call from several processes at once: each writes its own temporary, the last rename wins.
    """
    opt = MockOptions(grid, slices, tuple(redshifts), seed, sky, oracle).validated()
    path = mock_path(cache_dir, opt)
    if path.exists():
        try:
            with open_store(path, scan=False) as store:  # StoreWriter refused NaN/inf when it wrote the file
                if store.attrs.get("mock_options") == opt.key():
                    return path
            why = "was made with other options"
        except DataError as exc:
            why = f"cannot be used ({str(exc)[:160]})"
        print(f"runner: the cached mock store {path} {why}: making it again", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, depth=0)  # what a generation killed mid-way left (hundreds of MiB)
    options = {"progress": progress, "sky": opt.sky, "oracle": opt.oracle}
    generate_mock(path, opt.grid, opt.slices, opt.redshifts, opt.seed, force=True, **options)
    return path
