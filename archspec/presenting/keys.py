"""Every key a spec's ``--set`` accepts, with the value it holds (`archspec show SPEC --keys`).

The keys are the resolved spec's own fields, walked from the parsed spec rather than from its
dumped data: fields that were added to the language later and hold their defaults are left out
of a spec's data (so that old hashes stand) but can still be set, and they are listed here too.
Rows are listed cell by cell (``model.networks.generator.B.table[3].repeat``), channels as
``in/out``; a value is printed as it would be written after ``=`` (JSON, which YAML reads).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from archspec.language.spec import BatchStep, BlockRow, Channels, LayerRow, Spec

SKIPPED = ("archspec",)  # the language version: not a knob


def keys(spec: Spec) -> list[tuple[str, Any]]:
    """(dotted key, plain value) for every leaf of the spec, in the spec's order."""
    return [(key, value) for key, value in _walk(spec, "") if key.split(".")[0] not in SKIPPED]


def keys_text(spec: Spec) -> str:
    pairs = keys(spec)
    width = min(max(len(k) for k, _ in pairs), 64)
    lines = [f"{k:<{width}} = {format_value(v)}" for k, v in pairs]
    return "\n".join(lines + [f"({len(pairs)} keys; set any with --set KEY=VALUE)"])


def format_value(value: Any) -> str:
    """The value as it is written after ``--set KEY=``."""
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) or _needs_quotes(value) else value


def _needs_quotes(text: str) -> bool:
    """Would YAML read this string as something else (a number, a boolean, null, a list)?"""
    import yaml

    try:
        return yaml.safe_load(text) != text
    except yaml.YAMLError:
        return True


def _walk(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Channels):
        yield prefix, str(node)
    elif isinstance(node, BaseModel):
        fields = [(f.alias or name, getattr(node, name)) for name, f in type(node).model_fields.items()]
        fields += list((node.__pydantic_extra__ or {}).items())
        for key, value in fields:
            yield from _walk(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(node, list) and any(isinstance(v, (LayerRow, BlockRow)) for v in node):
        for i, value in enumerate(node):  # a table: row by row, cell by cell
            yield from _walk(value, f"{prefix}[{i}]")
    elif isinstance(node, list) and node and all(isinstance(v, BatchStep) for v in node):
        yield prefix, [[_number(v.at), v.size] for v in node]  # the schedule is set whole, as written
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{prefix}.{key}")
    else:
        yield prefix, _plain(node)


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
