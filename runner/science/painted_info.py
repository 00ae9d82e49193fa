"""What a painted file holds, read back without torch (`runner data info PAINTED.h5`).

The format's name and version are defined here, the one place both the writer
(:mod:`runner.science.painted_files`) and this reader take them from.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from runner.data.check import open_h5
from runner.data.layout import DataError

FORMAT = "archspec-painted"
FORMAT_VERSION = 1

_SHOWN = (
    "checkpoint",
    "samples_seen",
    "spec_name",
    "spec_hash",
    "calibration",
    "precision",
    "latent",
    "created",
    "input",
)


def is_painted(path: str | os.PathLike) -> bool:
    """True for a file `runner paint` wrote (its root 'format' attribute), False for anything else."""
    try:
        with h5py.File(path, "r") as f:
            return str(f.attrs.get("format", "")) == FORMAT
    except (OSError, ValueError):
        return False


def describe_painted(path: str | os.PathLike) -> str:
    """What a painted file holds: where the painting came from, its units, and each painted
    dataset's shape, redshift and statistics (read in full: painted files are maps, not stores)."""
    path = Path(path)
    with open_h5(path, DataError, label=str(path)) as f:
        attrs = dict(f.attrs)
        version = _plain_attr(attrs.get("format_version", "?"))
        lines = [f"{path}: pressure painted by `runner paint` (format {FORMAT} {version})"]
        lines += [f"  {key}: {_plain_attr(attrs[key])}" for key in _SHOWN if key in attrs]
        lines.append(f"  units: {_plain_attr(attrs.get('units', '?'))}")
        lines.append("  dataset                         shape            redshift      mean         min          max")

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name.startswith("pressure"):
                values = obj[()]
                z = np.ravel(obj.attrs.get("redshift", np.nan))
                zs = f"{z[0]:g}" if z.size == 1 else f"{z.min():g}-{z.max():g}"
                lines.append(
                    f"  /{name:<30} {str(tuple(obj.shape)):<16} {zs:<12} "
                    f"{values.mean(dtype=np.float64):<12.4g} {values.min():<12.4g} {values.max():.4g}"
                )

        f.visititems(visit)
    return "\n".join(lines)


def _plain_attr(value) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value.item()) if isinstance(value, np.generic) else str(value)


__all__ = ["FORMAT", "FORMAT_VERSION", "describe_painted", "is_painted"]
