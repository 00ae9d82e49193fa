"""The original's statistics of a summed 100 + 150 Mpc/h sample, at its 11 redshifts.

    reference("dm", "var", 0.0)          # 1.472509: var_100 + var_150 of the original's maps
    reference("pressure", "mean", 0.3)   # between two table redshifts: linear in z of the log

These are the numbers the original stored for its shift-log transform (mean_100 + mean_150 and
var_100 + var_150, dark matter in the load-time units of layout.UNITS), reproduced in
docs/data.md. The mock calibrates every redshift to them (mock.py) and `runner data info` prints
them beside a store's own statistics. Pure numpy: nothing here costs an import.
"""
from __future__ import annotations

import numpy as np

# z: (dark-matter mean, dark-matter variance, pressure mean, pressure variance)
TABLE = {
    0.0: (1.001776, 1.472509, 0.04423535, 0.13492714),
    0.125: (1.001684, 1.192838, 0.04115529, 0.10697187),
    0.25: (1.001594, 0.974809, 0.03752633, 0.06813702),
    0.375: (1.001504, 0.804829, 0.03399706, 0.04863641),
    0.5: (1.001420, 0.669049, 0.03057353, 0.02898421),
    0.75: (1.001275, 0.474351, 0.02468901, 0.01544838),
    1.0: (1.001141, 0.345349, 0.01977290, 0.00669399),
    1.25: (1.001035, 0.256639, 0.01563459, 0.00302507),
    1.5: (1.000943, 0.194183, 0.01233014, 0.00144609),
    1.75: (1.000865, 0.149478, 0.00968407, 0.00073233),
    2.0: (1.000799, 0.116476, 0.00752851, 0.00038426),
}
COLUMNS = {("dm", "mean"): 0, ("dm", "var"): 1, ("pressure", "mean"): 2, ("pressure", "var"): 3}
_Z = np.array(sorted(TABLE))


def reference(field: str, stat: str, z: float) -> float:
    """The original's `stat` ('mean' or 'var') of `field` for a summed sample at redshift z.

    Exact at the table's redshifts; in between, linear in z of the logarithm (every column is
    smooth and positive); beyond z = 2, extrapolated from the last two rows the same way.
    """
    col = COLUMNS[(field, stat)]
    logs = np.log([TABLE[float(zz)][col] for zz in _Z])
    i = int(np.clip(np.searchsorted(_Z, z, side="right") - 1, 0, len(_Z) - 2))
    slope = (logs[i + 1] - logs[i]) / (_Z[i + 1] - _Z[i])
    return float(np.exp(logs[i] + slope * (float(z) - _Z[i])))


def in_table(z: float) -> bool:
    """Whether z is one of the original's redshifts (then `reference` is the stored number)."""
    return bool(np.any(np.abs(_Z - float(z)) < 5e-4))
