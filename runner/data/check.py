"""Validation of a tile store's layout, statistics and (optionally) values.

Every problem is collected, then reported once, on one line: the file's name, then each problem
as "what: found, expected". No KeyError and no traceback reach the user.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from runner.data.layout import (
    DEPTHS,
    FIELDS,
    FORMAT,
    FORMAT_VERSION,
    ROOT_ATTRS,
    SCAN_LIMIT_BYTES,
    STAT_ATTRS,
    UNITS,
    DataError,
    FieldStats,
    dataset_path,
    z_key,
)

MAX_SHOWN = 4  # problems spelled out in the one-line message; the rest are counted


def fail(path: Path, problems: list[str]) -> DataError:
    """One DataError for all problems, one line."""
    shown = "; ".join(problems[:MAX_SHOWN])
    more = f" (and {len(problems) - MAX_SHOWN} more)" if len(problems) > MAX_SHOWN else ""
    return DataError(f"{path}: {shown}{more}")  # the path as given: with two stores, which one


def h5_reason(exc: BaseException) -> str:
    """h5py's OSError text without its boilerplate, e.g. 'truncated file: eof = 1000, ...'."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "(" in text and text.endswith(")"):
        text = text[text.index("(") + 1 : -1]
    return text


def open_h5(path: Path, error_cls: type[Exception] = DataError, label: str | None = None) -> h5py.File:
    """``path`` opened read-only, or ``error_cls`` with one line starting with ``label`` (default:
    the file's name) that says whether it is missing, a folder, or not readable HDF5."""
    path = Path(path)
    label = str(path) if label is None else label
    where = "" if label == str(path) else f" ({path})"
    if path.is_dir():
        raise error_cls(f"{label}: is a folder, not an HDF5 file{where}")
    if not path.exists():
        raise error_cls(f"{label}: no such file{where}")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise error_cls(f"{label}: not a readable HDF5 file ({h5_reason(exc)})") from None


def read_root_attrs(path: Path, f: h5py.File) -> dict:
    attrs = {k: f.attrs[k] for k in f.attrs}
    missing = [k for k in ROOT_ATTRS if k not in attrs]
    if "format" in attrs and str(attrs["format"]) != FORMAT:
        raise fail(path, [f"not an archspec tile store (format={attrs['format']!r}, expected {FORMAT!r})"])
    if missing:
        raise fail(
            path,
            [
                f"missing root attribute(s) {', '.join(missing)}: not an archspec "
                f"tile store (write one with `runner data mock` or `import-npy`)"
            ],
        )
    problems = []
    for key, convert in _CONVERT.items():
        try:
            attrs[key] = convert(attrs[key])
        except (TypeError, ValueError, OverflowError):
            problems.append(f"root attribute {key} must be {_KIND[key]}, found {attrs[key]!r}")
    if problems:
        raise fail(path, problems)
    if attrs["format_version"] > FORMAT_VERSION:
        raise fail(
            path, [f"format_version {attrs['format_version']} is newer than this runner reads ({FORMAT_VERSION})"]
        )
    if attrs["format_version"] < FORMAT_VERSION:
        raise fail(
            path,
            [
                f"format_version {attrs['format_version']} stores dark matter in an "
                f"older convention (mean 1 per depth, or raw npy sums), expected "
                f"{FORMAT_VERSION}: {UNITS['dm']}; write it again with `runner data "
                f"mock` or `runner data import-npy`"
            ],
        )
    return attrs


def _ints(value) -> np.ndarray:
    a = np.ravel(np.asarray(value))
    if not np.issubdtype(a.dtype, np.number):
        a = a.astype(float)  # strings that spell numbers; ValueError otherwise
    if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
        raise ValueError("not integers")
    return a.astype(int)


# root attributes read as numbers: converted (and refused) in one place, before any check uses them
_CONVERT = {
    "format_version": int,
    "grid": int,
    "n_slices": int,
    "box_size": float,
    "pixel_size": float,
    "redshifts": lambda v: np.ravel(np.asarray(v, dtype=float)),
    "depths": _ints,
}
_KIND = {
    "format_version": "an integer",
    "grid": "an integer",
    "n_slices": "an integer",
    "box_size": "a number",
    "pixel_size": "a number",
    "redshifts": "a list of numbers",
    "depths": "a list of integers",
}


def check_root(attrs: dict) -> list[str]:
    """Consistency of the root attributes among themselves."""
    problems = []
    grid, n_slices = int(attrs["grid"]), int(attrs["n_slices"])
    if grid < 1 or n_slices < 1:
        problems.append(f"grid={grid} and n_slices={n_slices} must both be >= 1")
    zs = np.asarray(attrs["redshifts"], dtype=float).ravel()
    if zs.size == 0 or np.any(np.diff(zs) <= 0) or not np.all(np.isfinite(zs)):
        problems.append(f"redshifts must be finite and strictly ascending, found {zs.tolist()}")
    depths = tuple(int(d) for d in np.ravel(attrs["depths"]))
    if depths != DEPTHS:
        problems.append(f"depths {list(depths)}, expected {list(DEPTHS)} (Mpc/h)")
    fields = tuple(str(x) for x in np.ravel(attrs["fields"]))
    if fields != FIELDS:
        problems.append(f"fields {list(fields)}, expected {list(FIELDS)}")
    box, pix = float(attrs["box_size"]), float(attrs["pixel_size"])
    if not abs(box - grid * pix) <= 1e-6 * max(box, 1.0):
        problems.append(f"box_size {box:g} != grid {grid} x pixel_size {pix:g}")
    return problems


def check_dataset(f: h5py.File, name: str, shape: tuple) -> tuple[list[str], dict | None]:
    """Shape, dtype and statistics attributes of one dataset."""
    group = name.rsplit("/", 1)[0]
    if group not in f:
        return [f"missing {group} (redshift {float(group.rsplit('/z', 1)[1]):g})"], None
    if name not in f or not isinstance(f[name], h5py.Dataset):
        return [f"missing {name}"], None
    ds = f[name]
    problems = []
    if ds.shape != shape:
        problems.append(f"{name} has shape {ds.shape}, expected {shape}")
    if ds.dtype != np.float32:
        problems.append(f"{name} has dtype {ds.dtype}, expected float32")
    missing = [k for k in STAT_ATTRS if k not in ds.attrs]
    if missing:
        problems.append(f"{name} lacks statistics attribute(s) {', '.join(missing)}")
        return problems, None
    stats = {k: float(ds.attrs[k]) for k in STAT_ATTRS}
    if not all(np.isfinite(v) for v in stats.values()):
        problems.append(f"{name} has non-finite statistics {stats} (NaN/inf in the data?)")
    elif stats["variance"] < 0:
        problems.append(f"{name} has negative variance {stats['variance']:g}")
    return problems, stats


def scan_values(f: h5py.File, name: str, stats: dict | None = None) -> list[str]:
    """Read a dataset slice by slice: count NaN/inf values, and compare the values' mean and
    variance with the stored statistics (a mismatch: the maps were changed or corrupted after
    the statistics were written; raw chunks carry no checksum, so this is how it shows)."""
    ds, bad, first = f[name], 0, None
    n, total, total2 = 0, 0.0, 0.0
    try:
        for s in range(ds.shape[0]):
            a = ds[s]
            finite = np.isfinite(a)
            k = int(a.size - np.count_nonzero(finite))
            if k and first is None:
                first = s
            bad += k
            if not k:
                a64 = a.astype(np.float64)
                n, total, total2 = n + a.size, total + float(a64.sum()), total2 + float(np.square(a64).sum())
    except OSError as exc:  # data blocks lost to truncation or corruption
        return [f"cannot read {name} ({h5_reason(exc)})"]
    if bad:
        return [f"{name} has {bad} NaN/inf values (first in slice {first})"]
    return _compare_statistics(name, stats, n, total, total2) if stats and n else []


STATS_RTOL = 1e-6  # stored (float64, summed slice by slice) against recomputed statistics


def _compare_statistics(name: str, stats: dict, n: int, total: float, total2: float) -> list[str]:
    mean = total / n
    var = max(total2 / n - mean * mean, 0.0)
    scale = max(abs(stats["mean"]), np.sqrt(max(stats["variance"], 0.0)), 1e-30)
    off = [
        f"{k} stored {stats[k]:.6g}, computed {v:.6g}"
        for k, v, tol in (("mean", mean, STATS_RTOL * scale), ("variance", var, 1e-4 * max(stats["variance"], 1e-30)))
        if not abs(v - stats[k]) <= tol
    ]
    return [f"{name}: values do not match their statistics ({'; '.join(off)}): changed or corrupt"] if off else []


def check_transform(field: str, z: float, st: FieldStats) -> list[str]:
    """ln(v / sigma + 1) needs every summed value above -sigma."""
    low = sum(st.min.values())
    if st.sigma <= 0:
        return [f"{field} at z={z:g} has zero variance: the shift-log transform needs sigma_z > 0"]
    if low <= -st.sigma:
        return [
            f"{field} at z={z:g} reaches {low:g}, at or below -sigma_z={-st.sigma:g}, "
            f"where the shift-log transform is undefined"
        ]
    return []


# What h5py raises on damaged metadata (a bad object header, an attribute message of another
# version, a broken B-tree): measured by flipping header bytes of a store, tests/runner/data/test_fuzz.py
H5_ERRORS = (KeyError, RuntimeError, OSError, TypeError, ValueError, AttributeError, IndexError, SystemError)


def damaged(path: Path, where: str, exc: BaseException) -> DataError:
    """One line for an HDF5 error on open or read: the path as given, the object, HDF5's words."""
    return DataError(
        f"{path}: damaged HDF5 metadata at {where} ({type(exc).__name__}: {h5_reason(exc)}); "
        "the file cannot be used: write it again (`runner data mock` or `import-npy`)"
    )


def check_file(path: Path, scan: bool | None = None) -> tuple[dict, dict]:
    """Validate a store. Returns (root attributes, {(field, z index): FieldStats}).

    Raises:
        DataError: one line, for every problem found and for any error HDF5 raises while reading
            the file's structure (naming the object it was reading).
    """
    where = ["the root attributes"]
    try:
        return _check_file(Path(path), scan, where)
    except DataError:
        raise
    except H5_ERRORS as exc:
        raise damaged(path, where[0], exc) from None


def _check_file(path: Path, scan: bool | None, where: list) -> tuple[dict, dict]:
    with open_h5(path) as f:
        attrs = read_root_attrs(path, f)
        problems = check_root(attrs)
        if problems:
            raise fail(path, problems)
        grid, n = int(attrs["grid"]), int(attrs["n_slices"])
        zs = [float(z) for z in np.ravel(attrs["redshifts"])]
        if scan is None:
            scan = len(FIELDS) * len(zs) * len(DEPTHS) * n * grid * grid * 4 <= SCAN_LIMIT_BYTES
        stats: dict = {}
        for field in FIELDS:
            where[0] = f"/{field}"
            if field not in f:
                problems.append(f"missing group /{field}")
                continue
            for zi, z in enumerate(zs):
                per_depth = {}
                for depth in DEPTHS:
                    name = dataset_path(field, z, depth)
                    where[0] = name
                    found, st = check_dataset(f, name, (n, grid, grid))
                    if scan and not found:
                        found = scan_values(f, name, st)
                    problems += found
                    if st is not None and not found:
                        per_depth[depth] = st
                if len(per_depth) == len(DEPTHS):
                    st = FieldStats(field, z, *({d: s[k] for d, s in per_depth.items()} for k in STAT_ATTRS))
                    problems += check_transform(field, z, st)
                    stats[(field, zi)] = st
        if problems:
            raise fail(path, problems)
    return attrs, stats


def read_error(path: Path, name: str, exc: OSError) -> DataError:
    """A read of dataset ``name`` that HDF5 refused (a corrupt chunk, a damaged index): one line."""
    return DataError(
        f"{path}: cannot read {name} ({h5_reason(exc)}): the file is damaged; "
        f"`runner data info {path}` checks it, or write it again"
    )


__all__ = ["check_file", "fail", "h5_reason", "open_h5", "read_error", "z_key"]
