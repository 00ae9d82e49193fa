"""The statistics the original stored for its transform, at its 11 redshifts (docs/data.md).

For each field, the mean and the variance of a summed 100 + 150 Mpc/h sample (mean_100 +
mean_150, var_100 + var_150), dark matter after the original's load-time scaling, so its mean is
about 1. They are the fiducial model's transform: sigma_z = sqrt(var), the mock's calibration
targets (mock.py), and what `runner data info` prints beside a store's own statistics. ``tests``
keep this table and the one in docs/data.md identical.

    reference("dm", "var", 0.0)          # 1.472509
    reference("pressure", "mean", 0.3)   # between two table redshifts: linear in z of the log
"""

from __future__ import annotations

import numpy as np

# z: (dm mean, dm var, pressure mean, pressure var)
ORIGINAL_STATS: dict[float, tuple[float, float, float, float]] = {
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


_COLUMNS = {("dm", "mean"): 0, ("dm", "var"): 1, ("pressure", "mean"): 2, ("pressure", "var"): 3}
_Z = np.array(sorted(ORIGINAL_STATS))


def reference(field: str, stat: str, z: float) -> float:
    """The original's `stat` ('mean' or 'var') of `field` for a summed sample at redshift z.

    Exact at the table's redshifts; in between, linear in z of the logarithm (every column is
    smooth and positive); beyond z = 2, extrapolated from the last two rows the same way.
    """
    col = _COLUMNS[(field, stat)]
    logs = np.log([ORIGINAL_STATS[float(zz)][col] for zz in _Z])
    i = int(np.clip(np.searchsorted(_Z, z, side="right") - 1, 0, len(_Z) - 2))
    slope = (logs[i + 1] - logs[i]) / (_Z[i + 1] - _Z[i])
    return float(np.exp(logs[i] + slope * (float(z) - _Z[i])))


def in_table(z: float) -> bool:
    """Whether z is one of the original's redshifts (then `reference` is the stored number)."""
    return bool(np.any(np.abs(_Z - float(z)) < 5e-4))


def original_stats() -> dict[str, dict[float, dict[str, float]]]:
    """{field: {z: {"mean": m, "var": v}}}: the layout the original's own statistics have."""
    out: dict[str, dict[float, dict[str, float]]] = {"dm": {}, "pressure": {}}
    for z, (dm_mean, dm_var, p_mean, p_var) in ORIGINAL_STATS.items():
        out["dm"][z] = {"mean": dm_mean, "var": dm_var}
        out["pressure"][z] = {"mean": p_mean, "var": p_var}
    return out


def transforms_from_stats(stats: dict) -> dict:
    """{"dm", "pressure"} -> ShiftLog (with the means) from {field: {z: {"mean", "var"}}}."""
    from runner.data.transforms import ShiftLog

    out = {}
    for field in ("dm", "pressure"):
        zs = sorted(stats[field])
        out[field] = ShiftLog(
            zs,
            [float(np.sqrt(stats[field][z]["var"])) for z in zs],
            field,
            [float(stats[field][z]["mean"]) for z in zs],
        )
    return out
