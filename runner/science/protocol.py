"""The paper's evaluation protocol, as constants (no imports, so command-line help stays instant).

The paper compares painted and true pressure on test tiles at four redshifts, in 20
log-spaced k bins; :mod:`runner.science.evaluate` carries it out.
"""

from __future__ import annotations

REDSHIFTS = (0.0, 0.5, 1.0, 2.0)  # the redshifts of the paper's figures
TILES = 64  # test samples per redshift by default: the paper's figure (all combinations when there are fewer)
QUICK_TILES = 8  # per redshift, for the evaluation at every checkpoint of a run
N_BINS = 20  # log-spaced k bins, as the paper
K_WORST = 5.0  # h/Mpc: the summary's worst |ratio - 1| is taken below this
K_BELOW = (1.0, 2.0, 5.0)  # h/Mpc: the scores table's columns (runner evaluate, bench/science.py)
PAPER_VIEW = 0.35  # the paper's figure shows ratio - 1 within +-35%
QUANTILES = (16, 50, 84)  # percentiles of the per-tile ratios in the summary (the log view's band)
