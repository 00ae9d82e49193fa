"""The paper's evaluation protocol, as constants (no imports, so command-line help stays instant).

The paper compares painted and true pressure on test tiles at four redshifts, in 20
log-spaced k bins; :mod:`runner.science.evaluate` carries it out.
"""

from __future__ import annotations

REDSHIFTS = (0.0, 0.5, 1.0, 2.0)  # the redshifts of the paper's figures
TILES = 64  # test samples per redshift at least, by default: the paper's figure (all combinations when there are fewer)
MAX_INDEPENDENT = 512  # by default every independent test tile is painted, up to this many per redshift
QUICK_TILES = 8  # per redshift, for the evaluation at every checkpoint of a run
N_BINS = 20  # log-spaced k bins, as the paper
K_WORST = 5.0  # h/Mpc: the summary's worst |ratio - 1| is taken below this
K_BELOW = (1.0, 2.0, 5.0)  # h/Mpc: the scores table's columns (runner evaluate, bench/science.py)
PAPER_VIEW = 0.35  # the paper's figure shows ratio - 1 within +-35%
QUANTILES = (16, 50, 84)  # percentiles of the per-tile ratios in the summary (the log view's band)


def default_tiles(independent: int) -> int:
    """Test samples per redshift an evaluation paints by default, for a test split with
    ``independent`` tiles per depth and redshift: every one of them up to 512 (the bootstrap
    over tiles then measures the sky, not a few clusters), and never fewer than the paper's 64
    (beyond the independent ones, combinations reuse tiles: runner.science.choice)."""
    return max(TILES, min(int(independent), MAX_INDEPENDENT))
