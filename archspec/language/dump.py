"""A spec back to text and to a hash: what a run folder saves and what identifies a run.

:func:`dump` writes YAML that :func:`archspec.checking.load.loads` reads back to an equal spec, rows one
line each as they are written by hand; :func:`spec_hash` hashes what the spec means (its
resolved data), not its formatting.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from archspec.language.spec import ROW_COLUMNS, Spec


def to_data(spec: Spec) -> dict:
    """The spec as plain data (what YAML or JSON would hold), defaults resolved."""
    return spec.model_dump(mode="json", by_alias=True)


def dump(spec: Spec) -> str:
    """YAML text that :func:`loads` reads back to an equal spec; rows stay one line each."""
    header = "# yaml-language-server: $schema=schema.json\n"
    data = _compact(to_data(spec))
    return header + yaml.dump(
        data, Dumper=_SpecDumper, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False
    )


class _FlowList(list):
    """A list the dumper writes on one line, as tables are written by hand."""


class _FlowRow(_FlowList):
    """A table row: one line each, the table itself a block list (one row a line)."""


class _SpecDumper(yaml.SafeDumper):
    pass


for _flow in (_FlowList, _FlowRow):
    _SpecDumper.add_representer(_flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def _compact(data: Any) -> Any:
    """Resolved data -> the hand-written form: rows as ``[Conv, 1/8, 4, 2, F, T, ReLU]``, no nulls."""
    if isinstance(data, dict):
        if set(data) >= {"layer", "channels", "kernel"}:
            return _row_as_list(data)
        if set(data) == {"in", "out"}:
            return f"{'' if data['in'] is None else data['in']}/{data['out']}"
        if set(data) == {"at", "size"}:  # a batch-size step
            return _FlowList([_compact(data["at"]), data["size"]])
        return {k: _compact(v) for k, v in data.items() if v is not None and v != {}}
    if isinstance(data, float) and data.is_integer() and abs(data) < 1e15:
        return int(data)  # pseudo-epochs read 8, not 8.0; loading turns them back into floats
    if isinstance(data, list):
        items = [_compact(v) for v in data]
        flat = all(
            not isinstance(v, (dict, list)) or (isinstance(v, _FlowList) and not isinstance(v, _FlowRow)) for v in items
        )
        return _FlowList(items) if flat else items
    return data


def _row_as_list(row: dict) -> Any:
    if any(row.get(name) for name in ("output_padding", "padding_mode", "spectral_norm", "init")) or (
        row.get("spectral_norm") is False
    ):  # columns only a mapping row can write
        return {k: _compact(v) for k, v in row.items() if v is not None}
    columns = [_compact(row[name]) for name in ROW_COLUMNS]
    while columns and columns[-1] is None:
        columns.pop()
    if None in columns:  # a gap in the columns cannot be written as a list
        return {k: _compact(v) for k, v in row.items() if v is not None}
    return _FlowRow(columns)


def dump_resolved(spec: Spec) -> str:
    """:func:`dump` with the spec's hash on its second line: a run folder's ``spec.yaml``, and
    what ``archspec show --resolved`` prints."""
    head, _, body = dump(spec).partition("\n")
    return f"{head}\n# spec_hash: {spec_hash(spec)}\n{body}"


def spec_hash(spec: Spec) -> str:
    """A short, stable hash of what the spec means (not of its formatting)."""
    canonical = json.dumps(to_data(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
