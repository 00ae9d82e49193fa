"""What differs between two specs, leaf by leaf over their plain data (defaults resolved), and
what each change costs in parameters and multiply-adds.

    for path, old, new in diff_data(to_data(a), to_data(b)):
        print(f"{path}: {old} -> {new}")
    lines = report(a, b)                          # what `archspec diff` prints

Used by ``archspec diff`` and by the runner's resume check; torch-free. Costs come from the
static shape flow (:func:`archspec.checking.shapes.flow`), the numbers ``archspec show`` prints.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from archspec.checking.shapes import flow
from archspec.checking.traces import Flow, RowTrace
from archspec.language.errors import format_loc
from archspec.language.spec import Spec

ABSENT = "(absent)"  # stands for a key one side lacks


def diff_paths(a: Any, b: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any, Any]]:
    """Yield (path, old, new) for every leaf that differs between two plain-data trees.

    Lists of equal length are compared item by item (``table[3]``); lists of different lengths,
    and values of different types, differ as a whole.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            yield from diff_paths(a.get(key, ABSENT), b.get(key, ABSENT), path + (key,))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from diff_paths(x, y, path + (i,))
    elif a != b:
        yield path, a, b


def diff_data(a: Any, b: Any) -> Iterator[tuple[str, Any, Any]]:
    """:func:`diff_paths` with each path written as ``model.networks.A.table[3]``."""
    for path, old, new in diff_paths(a, b):
        yield (format_loc(path) if path else ""), old, new


# --- what a change costs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    params: int
    macs: int  # multiply-adds per sample


def unit(path: tuple) -> tuple | None:
    """The piece of the model a changed leaf belongs to, whose cost ``archspec diff`` shows:
    ``('row', net, part, i)``, ``('part', net, part)``, ``('network', net)``, ``('block', name)``,
    ``('model',)``; None for what does not shape the model (data, training, name, ...)."""
    if path[:1] != ("model",):
        return None
    if path[:2] == ("model", "networks") and len(path) >= 3:
        net = path[2]
        if len(path) >= 6 and path[4] == "table" and isinstance(path[5], int):
            return ("row", net, path[3], path[5])
        return (
            ("part", net, path[3]) if len(path) >= 5 or (len(path) == 4 and path[3] != "output") else ("network", net)
        )
    if path[:2] == ("model", "blocks") and len(path) >= 3:
        return ("block", path[2])
    return ("model",)


def cost(traced: Flow, piece: tuple) -> Cost | None:
    """What ``piece`` (see :func:`unit`) costs in a traced model; None where it does not exist."""
    kind = piece[0]
    if kind == "model":
        return _sum(r for net in traced.networks.values() for r in net.rows)
    net = traced.networks.get(piece[1]) if kind != "block" else None
    if kind == "block":
        return _sum(r for n in traced.networks.values() for r in _all_rows(n.rows) if r.inner and r.layer == piece[1])
    if net is None:
        return None
    if kind == "network":
        return _sum(net.rows)
    part = net.parts.get(piece[2])
    if part is None:
        return None
    if kind == "part":
        return _sum(part.rows)
    rows = [r for r in part.rows if r.index == (piece[3],)]
    return _sum(rows) if rows else None


def _all_rows(rows: Any) -> Iterator[RowTrace]:
    for row in rows:
        yield row
        yield from _all_rows(row.inner)


def _sum(rows: Any) -> Cost:
    rows = list(rows)
    return Cost(sum(r.params for r in rows), sum(r.macs for r in rows))


def report(old: Spec, new: Spec, old_data: dict, new_data: dict) -> list[str]:
    """``archspec diff``'s lines: each changed leaf, after each piece of the model that changed
    what it costs, then the whole model's cost; empty when the specs mean the same."""
    changes = list(diff_paths(old_data, new_data))
    if not changes:
        return []
    a, b = flow(old), flow(new)
    lines: list[str] = []
    for i, (path, before, after) in enumerate(changes):
        lines.append(f"{format_loc(path)}: {_value(before)} -> {_value(after)}")
        piece = unit(path)
        following = unit(changes[i + 1][0]) if i + 1 < len(changes) else None
        if piece is not None and piece != ("model",) and piece != following:
            lines.append(f"    {_name(piece)}: {_costs(cost(a, piece), cost(b, piece))}")
    lines.append(f"whole model: {_costs(cost(a, ('model',)), cost(b, ('model',)))}")
    return lines


def _name(piece: tuple) -> str:
    kind = piece[0]
    if kind == "row":
        return f"{piece[1]}.{piece[2]} row {piece[3]}"
    if kind == "part":
        return f"{piece[1]}.{piece[2]}"
    if kind == "block":
        return f"block {piece[1]}, all its uses"
    return str(piece[1])


def _costs(a: Cost | None, b: Cost | None) -> str:
    if a is not None and b is not None and a == b:
        return f"parameters {a.params:,}, multiply-adds {a.macs:,} (unchanged)"
    return f"parameters {_change(a and a.params, b and b.params)}; multiply-adds {_change(a and a.macs, b and b.macs)}"


def _change(a: int | None, b: int | None) -> str:
    if a is None or b is None:
        return f"{ABSENT if a is None else f'{a:,}'} -> {ABSENT if b is None else f'{b:,}'}"
    if a == b:
        return f"{a:,} (unchanged)"
    return f"{a:,} -> {b:,} ({b - a:+,}, {_percent(a, b)})"


def _percent(a: int, b: int) -> str:
    if a == 0:
        return "new"
    change = 100 * (b - a) / a
    return f"{change:+.3g}%"


def _value(value: Any) -> str:
    return value if value == ABSENT else json.dumps(value, ensure_ascii=False)
