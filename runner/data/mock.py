"""Mock BAHAMAS-like tile stores: generation, calibration and a cache for tests and quickstarts.

    rows = generate_mock("mock.h5", grid=1024, slices=4)      # the laptop default
    print(format_table(rows))                                   # targets against achieved
    path = ensure_mock_store("~/.cache/archspec", grid=256, slices=3, redshifts=[0, 1, 2])

The layout and physical scales are the original's (0.1953125 Mpc/h pixels, 100 and 150 Mpc/h
slices, the 11 redshifts); the physics is in mock_fields.py. Each redshift is calibrated on the
maps it writes: dark-matter variance and pressure mean and variance of a summed 100 + 150 Mpc/h
sample hit the table of docs/data.md (interpolated linearly in log between z = 0, 1, 2).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

from runner.data import mock_fields as mf
from runner.data.layout import DEFAULT_GRID, DEFAULT_SLICES, DEPTHS, PIXEL_SIZE, REDSHIFTS, DataError
from runner.data.store import open_store
from runner.data.write import StoreWriter, check_output
from runner.runtime import remove_stale_temporaries

MOCK_VERSION = 1  # bump when the generator's output changes; cached stores are then remade
# Statistics of the summed 100 + 150 Mpc/h sample at z = 0, 1, 2 (docs/data.md).
TARGETS = {
    "dm_var": (1.4725, 0.3453, 0.1165),
    "p_mean": (0.04424, 0.01977, 0.00753),
    "p_var": (0.1349, 0.00669, 0.000384),
}
TARGET_Z = (0.0, 1.0, 2.0)
TOL = 3e-4  # calibration tolerance, in log of achieved over target
# Range of the small-scale reshaping exponent beta (mock_fields.py). At z = 2 the target
# variance lies below what linear theory gives on a 200-400 Mpc/h grid of 0.195 Mpc/h pixels,
# so beta goes strongly negative there (about -5 at 1024^2, -7 at 2048^2); at -40 the
# expected variance is ~13% under the target, leaving room for cosmic variance.
BETA_MIN, BETA_MAX = -40.0, 8.0


def target(name: str, z: float) -> float:
    """A calibration target at z: linear in z of its logarithm, extrapolated linearly."""
    logs = np.log(TARGETS[name])
    i = int(np.clip(np.searchsorted(TARGET_Z, z) - 1, 0, len(TARGET_Z) - 2))
    slope = (logs[i + 1] - logs[i]) / (TARGET_Z[i + 1] - TARGET_Z[i])
    return float(np.exp(logs[i] + slope * (z - TARGET_Z[i])))


@dataclass(frozen=True)
class MockOptions:
    grid: int = DEFAULT_GRID
    slices: int = DEFAULT_SLICES
    redshifts: tuple = REDSHIFTS
    seed: int = 0

    def validated(self) -> "MockOptions":
        """Normalised options; every problem in one DataError."""
        zs = tuple(float(z) for z in self.redshifts)
        problems = []
        if int(self.grid) < 16 or int(self.grid) % 2:
            problems.append(f"grid must be even and >= 16 (received {self.grid})")
        if int(self.slices) < 2:
            problems.append(f"slices must be >= 2, a train/test split needs two "
                            f"(received {self.slices})")
        if not zs or list(zs) != sorted(set(zs)) or zs[0] < 0:
            problems.append(f"redshifts must be >= 0, distinct and ascending "
                            f"(received {list(self.redshifts)})")
        if problems:
            raise DataError("mock: " + "; ".join(problems))
        return MockOptions(int(self.grid), int(self.slices), zs, int(self.seed))

    def key(self) -> str:
        """JSON of the options and the generator version: what a cached store must match."""
        return json.dumps({**asdict(self), "redshifts": list(self.redshifts),
                           "version": MOCK_VERSION}, sort_keys=True)


@dataclass
class Row:
    """One redshift's calibration: parameters, targets and (after writing) achieved values."""

    z: float
    beta: float
    gamma: float
    amplitude: float
    dm_var: tuple = (0.0, 0.0)  # (target, achieved)
    p_mean: tuple = (0.0, 0.0)
    p_var: tuple = (0.0, 0.0)


def seed_int(seed: int, depth: int, s: int, stream: int) -> int:
    """An independent seed per (depth, slice, stream); independent of grid and redshifts."""
    return int(np.random.SeedSequence([seed, depth, s, stream]).generate_state(1)[0])


class Slices:
    """The per-slice randomness of a mock, fixed across redshifts: Gaussian modes and scatter."""

    def __init__(self, opt: MockOptions):
        self.grid, self.box = opt.grid, opt.grid * PIXEL_SIZE
        self.k_max = mf.k_nyquist(self.grid, self.box)
        rng = range(opt.slices)
        self.modes = {d: [mf.gaussian_modes(self.grid, self.box, seed_int(opt.seed, d, s, 0))
                          for s in rng] for d in DEPTHS}
        self.eps = {d: [mf.scatter_field(self.grid, self.box, seed_int(opt.seed, d, s, 1))
                        for s in rng] for d in DEPTHS}
        self.kernel = mf.gaussian_filter(self.grid, self.box, mf.SMOOTH)

    def expected_variance(self, depth: int, d: float, beta: float) -> float:
        """Variance the power spectrum implies on this grid (no maps, no FFT)."""
        return mf.expected_variance(self.grid, self.box, mf.power_2d(depth, self.k_max, d, beta))

    def density(self, d: float, beta: float) -> dict:
        """depth -> list of 1 + delta maps (float64) at growth d and reshaping beta."""
        out = {}
        for depth in DEPTHS:
            synth = mf.LognormalSynth(self.grid, self.box, mf.power_2d(depth, self.k_max, d, beta))
            out[depth] = [synth.density(m) for m in self.modes[depth]]
        return out


def pooled(maps) -> tuple[float, float]:
    """Mean and variance over all pixels of equally sized maps, without stacking them."""
    ms, vs = zip(*((float(m.mean()), float(m.var())) for m in maps))
    return float(np.mean(ms)), float(np.mean(vs) + np.var(ms))


def solve_increasing(f, x0: float, step: float, lo: float, hi: float, tol: float,
                     what: str, x1: float | None = None) -> float:
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
    raise DataError(f"cannot reach {what}: at the parameter's limit {x:g} it is {got} "
                    f"(try a larger --grid)")


def calibrate_dm(sl: Slices, z: float, beta0: float) -> tuple[float, dict]:
    """beta such that the maps' var_100 + var_150 is the target; and those maps.

    Maps cost FFTs, so beta is first found for the expected variance (a sum over the power
    spectrum), then corrected on the maps by secant steps: usually two or three sets of maps.
    """
    d, goal, last = mf.growth(z), target("dm_var", z), {}

    def expected(beta: float, goal: float) -> float:  # log(expected / goal)
        return float(np.log(sum(sl.expected_variance(dp, d, beta) for dp in DEPTHS) / goal))

    def excess(beta: float) -> float:  # log(achieved / target); unrealisable counts as too high
        try:
            maps = sl.density(d, beta)
        except ValueError:
            return np.inf
        last.clear()
        last[beta] = maps
        return float(np.log(sum(pooled(maps[dp])[1] for dp in DEPTHS) / goal))

    what = f"the mock dark-matter variance {goal:.4g} at z={z:g}"
    span = dict(lo=BETA_MIN, hi=BETA_MAX, what=what)
    guess = solve_increasing(lambda b: expected(b, goal), beta0, 0.1, tol=1e-3, **span)
    miss = excess(guess)
    if abs(miss) < TOL:
        return guess, last[guess]
    # the maps' next guess: where the expected variance is off by what the maps missed by
    second = (solve_increasing(lambda b: expected(b, goal / np.exp(miss)), guess, 0.1, tol=1e-3,
                               **span) if np.isfinite(miss) else guess - 0.2)
    beta = solve_increasing(excess, guess, 0.1, tol=TOL, x1=second, **span)
    return beta, last[beta] if beta in last else sl.density(d, beta)


def calibrate_pressure(sl: Slices, logrho: dict, z: float, gamma0: float) -> tuple[float, float]:
    """gamma and amplitude A such that the summed sample's pressure mean and variance hit."""
    mean_t, var_t = target("p_mean", z), target("p_var", z)

    def moments(gamma: float) -> tuple[float, float]:  # summed mean and variance at A = 1
        m = v = 0.0
        for depth in DEPTHS:
            w = depth / 100.0  # pressure integrates along the slice: 150 Mpc/h holds 1.5x
            dm, dv = pooled(w * mf.pressure_shape(u, e, gamma)
                            for u, e in zip(logrho[depth], sl.eps[depth]))
            m, v = m + dm, v + dv
        return m, v

    def excess(gamma: float) -> float:  # log of (var / mean^2), achieved over target
        m, v = moments(gamma)
        return float(np.log(v / m ** 2 / (var_t / mean_t ** 2))) if m > 0 and v < np.inf else np.inf

    gamma = solve_increasing(excess, gamma0, step=0.1, lo=0.0, hi=40.0, tol=TOL,
                             what=f"the mock pressure variance/mean^2 at z={z:g}")
    return gamma, mean_t / moments(gamma)[0]


def generate_mock(out, grid: int = DEFAULT_GRID, slices: int = DEFAULT_SLICES,
                  redshifts=REDSHIFTS, seed: int = 0, force: bool = False,
                  progress: bool = True) -> list[Row]:
    """Write a calibrated mock store to `out` (atomically). Deterministic for a seed.

    Args:
        out: output file; refused if it exists unless `force`.
        grid: pixels per side (pixel 0.1953125 Mpc/h). slices: per depth (>= 2).
        redshifts: ascending, >= 0. seed: the randomness of every slice.
        progress: a tqdm bar on stderr, one step per redshift.
    Returns:
        One Row per redshift: the parameters found and target/achieved statistics, the
        achieved ones read back from the written file.
    """
    from tqdm import tqdm

    opt = MockOptions(grid, slices, tuple(redshifts), seed).validated()
    out = Path(out)
    check_output(out, force)
    bar = tqdm(total=len(opt.redshifts), desc=f"mock {out.name}", unit="z", disable=not progress)
    bar.set_postfix_str("drawing slices")
    sl, rows, beta, gamma = Slices(opt), [], 0.0, 3.0
    provenance = (f"archspec mock v{MOCK_VERSION}: lognormal dark matter (colossus linear P(k), "
                  f"powerbox), pressure painted from smoothed density; seed {opt.seed}")
    with bar, StoreWriter(out, grid=opt.grid, n_slices=opt.slices, redshifts=opt.redshifts,
                          provenance=provenance, force=force,
                          attrs={"mock_options": opt.key(), "cosmology": mf.COSMOLOGY}) as w:
        for z in opt.redshifts:
            bar.set_postfix_str(f"z={z:g}")
            beta, rho = calibrate_dm(sl, z, beta)
            logrho = {}
            for depth in DEPTHS:
                for s, r in enumerate(rho[depth]):
                    w.write("dm", z, depth, s, r)
                logrho[depth] = [mf.log_smoothed_density(r, sl.kernel) for r in rho[depth]]
            del rho
            gamma, amp = calibrate_pressure(sl, logrho, z, gamma)
            for depth in DEPTHS:
                for s, (u, e) in enumerate(zip(logrho[depth], sl.eps[depth])):
                    w.write("pressure", z, depth, s, amp * depth / 100.0 * mf.pressure_shape(u, e, gamma))
            rows.append(Row(z, beta, gamma, amp))
            bar.update(1)
    with open_store(out, scan=False) as store:
        for row in rows:
            dm, p = store.stats("dm", row.z), store.stats("pressure", row.z)
            row.dm_var = (target("dm_var", row.z), dm.sum_var)
            row.p_mean = (target("p_mean", row.z), p.sum_mean)
            row.p_var = (target("p_var", row.z), p.sum_var)
    return rows


def format_table(rows: list[Row]) -> str:
    """Targets against the statistics read back from the file, with relative errors."""
    head = (f"{'z':>6} {'beta':>6} {'gamma':>6} {'A':>9} | {'dm var':>8} {'target':>8} {'err':>6} | "
            f"{'p mean':>9} {'target':>9} {'err':>6} | {'p var':>9} {'target':>9} {'err':>6}")
    lines = ["calibration of the summed 100 + 150 Mpc/h sample (achieved = read back from the file)",
             head, "-" * len(head)]
    for r in rows:
        cells = [f"{r.z:>6.3f} {r.beta:>6.2f} {r.gamma:>6.2f} {r.amplitude:>9.3g}"]
        for (t, a), fmt in ((r.dm_var, ">8.4f"), (r.p_mean, ">9.4g"), (r.p_var, ">9.4g")):
            cells.append(f"{a:{fmt}} {t:{fmt}} {(a / t - 1):>+6.1%}")
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def mock_path(cache_dir, opt: MockOptions) -> Path:
    digest = hashlib.sha1(opt.key().encode()).hexdigest()[:10]
    name = f"mock-g{opt.grid}-s{opt.slices}-z{len(opt.redshifts)}-seed{opt.seed}-{digest}.h5"
    return Path(cache_dir).expanduser() / name


def ensure_mock_store(cache_dir, grid: int = 256, slices: int = 3, redshifts=REDSHIFTS,
                      seed: int = 0, progress: bool = False) -> Path:
    """A mock store with these options in `cache_dir`: reused if valid, else generated.

    The file name carries a digest of the options and the generator version, and the file's
    own `mock_options` attribute is checked too, so a stale or broken file is remade. Safe to
    call from several processes at once: each writes its own temporary, the last rename wins.
    """
    opt = MockOptions(grid, slices, tuple(redshifts), seed).validated()
    path = mock_path(cache_dir, opt)
    if path.exists():
        try:
            with open_store(path, scan=False) as store:  # StoreWriter refused NaN/inf when it wrote the file
                if store.attrs.get("mock_options") == opt.key():
                    return path
        except DataError:
            pass  # broken or foreign: regenerate below
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, depth=0)  # what a generation killed mid-way left (hundreds of MiB)
    generate_mock(path, opt.grid, opt.slices, opt.redshifts, opt.seed, force=True,
                  progress=progress)
    return path
