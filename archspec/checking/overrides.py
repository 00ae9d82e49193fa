"""Overrides that change nothing: a ``--set`` whose spec means the same with it as without it.

``--set model.defaults.activation=ELU`` on a spec whose rows all write ``ReLU`` themselves is
accepted, validated, and does nothing; a run made with it would be labelled ELU and be ReLU.
:func:`unused_overrides` compares what the spec means (every row with its defaults applied, the
defaults sections themselves dropped) with and without each override, and warns where nothing
differs, naming the rows that set the value themselves.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from archspec.checking.load import Loaded, check_file, parse_override, spec_with, trusted
from archspec.language.dump import to_data
from archspec.language.errors import Problem, format_loc
from archspec.language.resolve import DEFAULTED, PLACEHOLDER, block_chain, part_chain, resolve
from archspec.language.spec import LayerRow, Spec

_COLUMNS = DEFAULTED  # every column a defaults section gives (padding_mode, spectral_norm, init too)
_LISTED = 8  # rows named by line before "and N more"


def meaning(spec: Spec) -> dict:
    """The spec as plain data with every row's defaults applied and the defaults sections dropped:
    two specs that build the same model and train it the same way mean the same."""
    data = to_data(spec)
    model = data["model"]
    model.pop("defaults", None)
    for name, block in spec.model.blocks.items():
        _resolve_rows(model["blocks"][name], block.table, block_chain(spec, name))
    for net, network in spec.model.networks.items():
        for part_name, part in network.parts.items():
            _resolve_rows(model["networks"][net][part_name], part.table, part_chain(spec, net, part_name))
    return data


def _resolve_rows(node: dict, table: list, chain: tuple) -> None:
    node.pop("defaults", None)
    for row, plain in zip(table, node["table"]):
        if isinstance(row, LayerRow):
            resolved = resolve(row, chain)
            plain.update({column: getattr(resolved, column) for column in _COLUMNS})


def load_with_warnings(
    path: str | os.PathLike, overrides: Sequence[str] = (), among: Sequence[str] | None = None
) -> tuple[Spec, list[Problem]]:
    """:func:`archspec.load`, and its warnings: the overrides (of ``among``, default all) that
    change nothing. The file is read and checked once; :func:`archspec.build` trusts the spec."""
    found = check_file(path, overrides)
    spec = trusted(found)
    return spec, unused_overrides(found, overrides, among) if overrides else []


def unused_overrides(found: Loaded, overrides: Sequence[str], among: Sequence[str] | None = None) -> list[Problem]:
    """A warning for each override (of ``among``, default all) without which the spec of
    ``found`` (one :func:`archspec.checking.load.check_text` with ``overrides``) means exactly the same.
    The file is not read or checked again: each spec without one override is built from the
    composed document through the form stage only (:func:`archspec.checking.load.spec_with`)."""
    if found.problems or found.checked is None or found.checked.spec is None:
        return []
    full = meaning(found.checked.spec)
    warnings = []
    for i, item in enumerate(overrides):
        if among is not None and item not in among:
            continue
        without = spec_with(found, [o for j, o in enumerate(overrides) if j != i])
        if without is None or meaning(without) != full:
            continue
        path, value = parse_override(item)
        message, fix = _why(path, value, found)
        warnings.append(
            Problem(
                "unused_override",
                path,
                f"this override changes nothing: {message}",
                fix,
                file=f"--set {item}",
                line=0,
                severity="warning",
            )
        )
    return warnings


def _why(path: tuple, value: Any, loaded: Any) -> tuple[str, str | None]:
    """Why nothing changed: the rows that write the value themselves, or the value it already had."""
    if len(path) >= 2 and path[-2] == "defaults" and path[-1] in _COLUMNS:
        column = path[-1]
        rows = [r for r in _reached(loaded.doc.data, path[:-2]) if _sets(r[1], column)]
        if rows:
            lines = sorted({loaded.doc.position(r[0])[0] for r in rows})
            shown = ", ".join(map(str, lines[:_LISTED])) + (
                f" and {len(lines) - _LISTED} more" if len(lines) > _LISTED else ""
            )
            return (
                f"the {len(rows)} row{'s' if len(rows) != 1 else ''} it reaches write {column} themselves "
                f"(line{'s' if len(lines) != 1 else ''} {shown})",
                f"write _ in a row's {column} column to take the default",
            )
        if not _reached(loaded.doc.data, path[:-2]):
            return f"nothing below {format_loc(path[:-2])} takes {column} from it", None
        # rows take it, none writes it: the value is what they had (from this section or by default)
    return f"{format_loc(path)} is {value!r} already", None


def _reached(data: Any, owner: tuple) -> list[tuple[tuple, Any]]:
    """(path, row) of the rows whose defaults chain passes through ``owner``'s defaults (the
    model's, a part's or a block's), rows with nearer defaults included."""
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict):
        return []
    tables = []
    for name, block in (model.get("blocks") or {}).items():
        tables.append((("model", "blocks", name), block))
    for net, network in (model.get("networks") or {}).items():
        for part_name, part in (network or {}).items():
            if isinstance(part, dict):
                tables.append((("model", "networks", net, part_name), part))
    rows = []
    for where, node in tables:
        if owner != ("model",) and owner != where:
            continue
        for i, row in enumerate(node.get("table") or []):
            rows.append((where + ("table", i), row))
    return rows


def _sets(row: Any, column: str) -> bool:
    from archspec.language.columns import ROW_COLUMNS

    value = (
        row[ROW_COLUMNS.index(column)]
        if isinstance(row, list) and column in ROW_COLUMNS and ROW_COLUMNS.index(column) < len(row)
        else row.get(column)
        if isinstance(row, dict)
        else None
    )
    return value is not None and value != PLACEHOLDER
