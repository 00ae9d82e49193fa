"""Which test samples an evaluation paints, and the dark matter around them.

    idx = choose_samples(space, z_index, 64, rng)      # 64 combinations at one redshift
    for z, zi, idx in evaluation_samples(space, [0.0, 2.0], "auto", seed=0): ...   # runner evaluate's
    parts = read_windows(data, idx, margin=16)          # raw tiles with 16 pixels of context

A test sample is a tile of a 100 Mpc/h slice plus a tile of a 150 Mpc/h slice (as in
training). With M test tiles per depth and redshift there are M² combinations, but only M of
them can be independent: two combinations that share a tile share 40-60% of their summed maps.
:func:`choose_samples` therefore takes combinations whose tiles are all distinct first (up to
M), and only beyond M reuses tiles, in rounds that pair every 100 Mpc/h tile with a new
150 Mpc/h tile (a Latin square), so that no combination repeats and every tile is used
equally often. The paper drew 64 combinations at random from its 48 × 48 (so some of its tiles
were used twice); the scatter over tiles is the same statistic either way, and
:func:`describe_choice` says how many independent tiles stand behind it.

:func:`read_windows` cuts each tile with ``margin`` pixels of its own slice around it. A slice
is a projection through the whole, periodic simulation box (BAHAMAS's 400 Mpc/h, and the
mock's fields, made by FFT), so the window wraps around; a store whose root attribute
``periodic`` is 0 (cut-outs of a larger map) is mirrored at its edges instead.
"""

from __future__ import annotations

import numpy as np

from runner.data.layout import DataError
from runner.data.tiles import PARTS

MAX_MARGIN_STEPS = 64  # how far context_margin looks for a window size the model accepts


def choose_samples(space, z_index: int, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct combinations at one redshift (all M² when ``n`` is None or larger).

    The first min(n, M) combinations use every tile at most once; each further round of M
    pairs tile ``a[i]`` with ``b[(i + r) % M]``, a new partner for every tile.

    Args:
        space: the test split's ``SampleSpace``.
        z_index: the redshift's index in ``space.redshifts``.
        n: combinations wanted; None for all of them.
        rng: the random stream of the choice.

    Returns:
        Sample indices of ``space`` (int64), in the order described.
    """
    m = space.per_depth
    n = m * m if n is None else min(int(n), m * m)
    if n < 1:
        raise ValueError(f"at least one test sample per redshift is needed. Received: n={n}")
    a = rng.permutation(m)  # tiles of the 100 Mpc/h slices
    b = rng.permutation(m)  # tiles of the 150 Mpc/h slices
    rounds = -(-n // m)
    pairs = np.concatenate([np.stack([a, np.roll(b, -r)], axis=1) for r in range(rounds)])[:n]  # (n, 2)
    return (z_index * m + pairs[:, 0].astype(np.int64)) * m + pairs[:, 1]


def evaluation_samples(space, redshifts, n: int | str | None, seed: int) -> list[tuple[float, int, np.ndarray]]:
    """The test samples ``runner evaluate --tiles n --seed seed`` scores, and anything scored
    beside it (the halo oracle, the ceiling): (z, its index in ``space.redshifts``, sample
    indices) for each of the stored ``redshifts`` in ascending order, all drawn from one
    generator seeded ``seed`` in that order. ``n``: as :func:`choose_samples`, or "auto" for
    :func:`runner.science.protocol.default_tiles` of the split."""
    from runner.science.protocol import default_tiles

    n = default_tiles(space.per_depth) if n == "auto" else n
    rng = np.random.default_rng(seed)
    indices = [(z, space.redshifts.index(z)) for z in sorted(redshifts)]
    return [(z, zi, choose_samples(space, zi, n, rng)) for z, zi in indices]


def describe_choice(space, idx: np.ndarray) -> dict:
    """How independent a choice of samples is: combinations, distinct tiles of each depth,
    the most uses of one tile, and ``independent``: the number of combinations that share no
    tile with each other (min of the distinct tiles of the two depths)."""
    d = space.decode(idx)
    m = space.per_depth
    tiles = {depth: d[f"pos_{depth}"] * space.per_slice + d[f"tile_{depth}"] for depth in (100, 150)}
    distinct = {depth: int(len(np.unique(t))) for depth, t in tiles.items()}
    uses = max(int(np.bincount(t, minlength=m).max()) for t in tiles.values())
    return {
        "combinations": int(len(idx)),
        "tiles_per_depth": int(m),
        "available": int(m * m),
        "distinct_100": distinct[100],
        "distinct_150": distinct[150],
        "max_uses_of_a_tile": uses,
        "independent": min(distinct.values()),
    }


def read_windows(data, idx, margin: int) -> dict:
    """Raw (N, T + 2·margin, T + 2·margin) float32 windows of each (field, depth), centred on the
    tiles of the samples ``idx``; ``margin = 0`` gives the tiles themselves.

    Args:
        data: a dataset with ``.space`` and ``.store`` (``TileDataset``).
        idx: sample indices of ``data.space``.
        margin: pixels of context on every side (at most the grid).
    """
    space, store = data.space, data.store
    d = space.decode(np.asarray(idx, dtype=np.int64))
    t, margin = space.tile, int(margin)
    if margin < 0 or margin > store.grid:
        raise ValueError(f"margin must be in [0, {store.grid}]. Received: margin={margin}")
    periodic = bool(int(store.attrs.get("periodic", 1)))
    size = t + 2 * margin
    out = {key: np.empty((len(d["z"]), size, size), dtype=np.float32) for key in PARTS}
    cache: dict = {}  # one read of each slice this call needs
    for k in range(len(d["z"])):
        z = space.redshifts[int(d["z"][k])]
        for field, depth in PARTS:
            s = int(space.slices[int(d[f"pos_{depth}"][k])])
            key = (field, depth, z, s)
            if key not in cache:
                ds = store.dataset(field, z, depth)
                cache[key] = np.asarray(store.read(ds, s))
                if not np.isfinite(cache[key]).all():
                    raise DataError(f"{store.path.name}: {ds.name}[{s}] has NaN/inf values")
            rows = _axis(int(d[f"row_{depth}"][k]) * t - margin, size, store.grid, periodic)
            cols = _axis(int(d[f"col_{depth}"][k]) * t - margin, size, store.grid, periodic)
            out[(field, depth)][k] = cache[key][np.ix_(rows, cols)]
    return out


def _axis(start: int, size: int, grid: int, periodic: bool) -> np.ndarray:
    """Pixel indices start .. start + size − 1 of a slice of ``grid`` pixels, wrapped
    (periodic) or mirrored at the edges (edge pixels not repeated)."""
    i = np.arange(start, start + size)
    if periodic:
        return i % grid
    period = 2 * (grid - 1)
    i = np.abs(i) % period
    return np.where(i >= grid, period - i, i)


def centre(maps: np.ndarray, margin: int) -> np.ndarray:
    """The tile at the centre of (..., T + 2·margin, T + 2·margin) windows."""
    if margin == 0:
        return maps
    return maps[..., margin:-margin, margin:-margin]


def context_margin(spec, tile: int, requested: int | None = None) -> int:
    """The context, in pixels on each side, with which the evaluation paints a tile's interior.

    Default (``requested`` None): half the widest receptive field in y of the spec's networks
    (the generator's and the prior's for a cvae), so that no pixel of the tile reads the zero
    padding at the window's border; measured on the quickstart (docs/evaluation.md), that
    leaves the interior within 2e-3 of a painting with three times the context, against a
    painting error of 0.025 (network units). The margin is rounded up to the model's size
    step q (the smallest m with tile + m a size the whole model accepts: 8 for the
    quickstart, 32 for the paper), so the window keeps the tile's alignment with the strided
    layers and the latent grid. 0 means no interior painting.

    Raises:
        ValueError: ``requested`` < 0, or no window up to 64 steps larger flows.
    """
    from archspec.checking.shapes import flow, scaled_shapes

    reference = next(iter(spec.model.shapes))

    def valid(size: int) -> bool:
        shapes = scaled_shapes(spec.model.shapes, reference, size)
        return shapes is not None and not flow(spec, shapes).problems

    if requested is not None and requested < 0:
        raise ValueError(f"the context margin must be >= 0 pixels. Received: {requested}")
    if requested == 0:
        return 0
    if requested is None:
        rf = [row_rf.get("y", 0) for net in flow(spec).networks.values() if net.rows for row_rf in [net.rows[-1].rf]]
        requested = max(1, -(-max(rf, default=2) // 2))
    step = next((m for m in range(1, tile + 1) if valid(tile + m)), None)
    if step is not None:
        margin = -(-requested // step) * step
        for candidate in range(margin, margin + MAX_MARGIN_STEPS * step, step):
            if valid(tile + 2 * candidate):
                return candidate
    raise ValueError(
        f"{spec.name}: no window of {tile} + 2 x margin pixels (margin >= {requested}) that the "
        f"model accepts was found; paint the interior with --context 0 (none)"
    )
