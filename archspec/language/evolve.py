"""Specs that evolve without orphaning old runs.

A run folder keeps the spec it was trained from as plain data (in every checkpoint and in
``spec.yaml``). When the language grows, an old spec is read under today's schema: a field
added since takes its default, and a field removed or renamed since is
dropped or moved by :data:`CHANGES`, with a one-line note naming it (:func:`upgrade_data`;
:func:`archspec.checking.load.load_saved` then validates the result). So resuming, painting or
evaluating an old run never fails because the language moved on; only a real change of what was
trained does.

A spec *file* that still uses a removed field is an error that says where the field went
(:func:`change_for`), at its line and column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from archspec.language.errors import format_loc


@dataclass(frozen=True)
class Change:
    """A field that left the spec language (``to``: None) or moved to another path."""

    path: tuple[str, ...]
    to: tuple[str, ...] | None
    why: str  # where it went, in a user's words
    since: str  # the archspec version that made the change


CHANGES: tuple[Change, ...] = (
    Change(
        ("data", "on_device"),
        None,
        "a run option now, not part of what is trained: `runner train --data-on-device`",
        "0.2.0",
    ),
)


RUN_SPEC = "spec.yaml"  # what a run folder keeps of its spec (the runner writes it: runner/train/runlog.py)


def run_spec(folder: str | Path) -> tuple[str, str, list[str]]:
    """The spec a run folder saved, as text under today's language: (text, its path, notes).
    Raises FileNotFoundError for a folder that is not a run folder."""
    path = Path(folder) / RUN_SPEC
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is a folder without {RUN_SPEC}: not a run folder")
    text = path.read_text(encoding="utf-8")
    data, notes = upgrade_data(yaml.safe_load(text), label=str(path))
    return (yaml.safe_dump(data, sort_keys=False) if notes else text), str(path), notes


def change_for(loc: tuple) -> Change | None:
    """The change that removed or moved the field at ``loc``, if any."""
    return next((c for c in CHANGES if tuple(loc) == c.path), None)


def upgrade_data(data: Any, label: str = "the saved spec") -> tuple[Any, list[str]]:
    """A saved spec's plain data with :data:`CHANGES` applied, and one note per field moved or
    removed. Validation under today's schema is :func:`archspec.checking.load.load_saved`'s."""
    data = _copy(data)
    notes = []
    for change in CHANGES:
        found, value = _pop(data, change.path)
        if not found:
            continue
        if change.to is not None:
            _put(data, change.to, value)
        notes.append(
            f"note: {label}: {format_loc(change.path)} ({value!r}) is no longer part of a spec "
            f"since archspec {change.since}: {change.why}"
        )
    return data, notes


def _copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_copy(v) for v in data]
    return data


def _pop(data: Any, path: tuple) -> tuple[bool, Any]:
    node = data
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    if isinstance(node, dict) and path[-1] in node:
        return True, node.pop(path[-1])
    return False, None


def _put(data: dict, path: tuple, value: Any) -> None:
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node.setdefault(path[-1], value)
