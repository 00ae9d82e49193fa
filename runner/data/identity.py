"""A tile store's identity: where it is, how big it is, and a hash of what it declares.

A run folder records the identity of the store it trains on (``<run>/data.json``), so that a
resume on another store, or on the same path after the file was rewritten, is noticed. The
hash covers the store's header and statistics: every root attribute but the creation time,
and every group's and dataset's name, shape, dtype and attributes (the per-depth mean,
variance, min and max among them). It reads no map values, so it costs milliseconds on a
10 GiB store; any rewrite of the maps through :class:`runner.data.write.StoreWriter` changes
their statistics, hence the hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from runner.data.check import open_h5

VOLATILE = ("created",)  # root attributes that differ between two writes of the same content


def _plain(value: Any) -> Any:
    """An attribute value as JSON-able data, the same for the same value however h5py returns it."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (np.ndarray, np.generic)):
        return _plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return "nan"
    return value


def header(f: h5py.File) -> dict:
    """Everything the store declares, without map values: {"/": root attrs, name: {...}}."""
    out: dict[str, Any] = {"/": {k: _plain(f.attrs[k]) for k in sorted(f.attrs) if k not in VOLATILE}}

    def visit(name: str, obj) -> None:
        entry: dict[str, Any] = {"attrs": {k: _plain(obj.attrs[k]) for k in sorted(obj.attrs)}}
        if isinstance(obj, h5py.Dataset):
            entry.update(shape=list(obj.shape), dtype=str(obj.dtype))
        out[name] = entry

    f.visititems(visit)
    return out


def store_identity(path: str | os.PathLike) -> dict:
    """{"path", "size", "sha256"} of a store (``sha256`` of its :func:`header`)."""
    path = Path(path)
    with open_h5(path) as f:
        text = json.dumps(header(f), sort_keys=True, default=str)
    return {
        "path": str(path.resolve()),
        "size": path.stat().st_size,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


def describe_identity(identity: dict) -> str:
    """'/data/store.h5 (1,234,567 bytes, header sha256 3f2a9c1b0d4e)'."""
    return (
        f"{identity.get('path')} ({int(identity.get('size', 0)):,} bytes, header sha256 "
        f"{str(identity.get('sha256'))[:12]})"
    )


def same_content(a: dict, b: dict) -> bool:
    return a.get("sha256") == b.get("sha256") and a.get("size") == b.get("size")
