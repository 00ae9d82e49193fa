"""What a spec that ``extends:`` another changes in it: keys read as edits, applied to the base.

A key of such a spec is a path, relative to the mapping it is written in::

    KEY  := ['~' | '+'] NAME ('.' NAME | '[' INDEX ']')*
    generator.B.table[9]            a row, by index
    generator.B.table[9].kernel     one cell, by column name (or table[9][2], by position)
    ~generator.B.table[9]           remove a row (or any key); the value stays empty
    +generator.B.table[4]           insert a row, or a list of rows, before row 4 (at 11, after the last of 11)

A mapping written at a path where the base has a mapping merges into it key by key; anything
else (a number, a row, a whole table) replaces what the base has there. Every part, network,
block, model tensor and row a path passes through must exist in the base; only its last key
may be new (a key the base leaves at its default, or a whole new part).

Indices count the base's items, however many rows the same file inserts or removes elsewhere, so
edits never shift one another; two edits of one row (replaced and removed, removed and edited
cell by cell, ...) are an error rather than an order to guess. :func:`collect` reads a child's
keys into :class:`Edit` s against the base (each error at the child's key), :func:`apply`
performs them on the base's located tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from archspec.language.errors import Problem, did_you_mean, format_loc, one_of
from archspec.language.spec import ROW_COLUMNS
from archspec.text.located import Node, Where, plain

_KEY = re.compile(r"^([~+]?)([A-Za-z0-9_-]+)((?:\.[A-Za-z0-9_-]+|\[[0-9]+\])*)$")
_STEP = re.compile(r"\.([A-Za-z0-9_-]+)|\[([0-9]+)\]")
_OPS = {"": "set", "~": "remove", "+": "insert"}
_ROW_KEYS = ROW_COLUMNS + ("output_padding",)


@dataclass(frozen=True)
class Edit:
    op: str  # "set", "remove" or "insert"
    path: tuple  # from the spec's root; an index counts the base's items
    node: Node | None  # set: the value written; insert: a list node of the items; remove: None
    key: Where  # where the key that asks for it stands
    text: str  # the key as written


def is_path_key(key: Any) -> bool:
    """Does ``key`` say more than one plain name (a dot, an index, ``~`` or ``+``)?"""
    return isinstance(key, str) and any(c in key for c in ".[]~+")


def parse_key(key: Any) -> tuple[str, tuple]:
    """``'~generator.B.table[9]'`` -> ``('remove', ('generator', 'B', 'table', 9))``.

    Raises:
        ValueError: a key that is neither a plain name nor a well-formed path.
    """
    if not is_path_key(key):
        return "set", (key,)
    match = _KEY.match(key)
    if not match:
        raise ValueError(
            f"expected a key or a path such as generator.B.table[9] or table[4].repeat, after ~ to remove or + to "
            f"insert, found {key!r}"
        )
    steps = [match[2]] + [name if name else int(index) for name, index in _STEP.findall(match[3])]
    return _OPS[match[1]], tuple(steps)


# --- reading a child's keys -------------------------------------------------------------------


class _Stop(Exception):
    def __init__(self, message: str, fix: str | None = None, append_at: int | None = None, rows: list | None = None):
        self.message, self.fix, self.append_at = message, fix, append_at
        self.rows = rows  # the base's table, for an index past its end
        self.path: tuple = ()  # filled in by _follow


def collect(child: Node, base: Node) -> tuple[list[Edit], list[Problem]]:
    """The edits ``child`` (a mapping, its ``extends`` key aside) makes to ``base``."""
    edits: list[Edit] = []
    problems: list[Problem] = []
    _collect(child, (), base, edits, problems)
    return edits, problems


def _collect(child: Node, prefix: tuple, base: Node | None, edits: list[Edit], problems: list[Problem]) -> None:
    for key, node in child.value.items():
        if not prefix and key == "extends":
            continue
        where = node.key_at or node.at
        try:
            op, steps = parse_key(key)
        except ValueError as exc:
            problems.append(
                _at(
                    where,
                    "override_syntax",
                    prefix + (str(key),),
                    str(exc),
                    "write a path of names and [row] indices, e.g. generator.B.table[9].activation",
                )
            )
            continue
        try:
            path, target, parent = _follow(op, prefix, steps, base)
            _edit(op, path, target, parent, node, where, str(key), edits, problems)
        except _Stop as stop:
            fix = stop.fix
            if stop.append_at is not None:  # say the key that appends, in the form this key was written
                fix = (
                    "to add a row after the last, insert one: "
                    f"+{format_loc(stop.path[len(prefix) : -1])}[{stop.append_at}]: [...]"
                )
                same = _rows_like(node, stop.rows or [])
                if same:  # the row written is like one the base has: the index was likely off by some
                    table = format_loc(stop.path[len(prefix) : -1])
                    fix = (
                        f"the base's row {same[-1]} is {_row_text(stop.rows[same[-1]])}, like the row written here: to "
                        f"change it, write {table}[{same[-1]}]; {fix}"
                    )
            problems.append(_at(where, "override_missing", stop.path, stop.message, fix))


def _follow(op: str, prefix: tuple, steps: tuple, base: Node | None) -> tuple[tuple, Node | None, Node | None]:
    """Walk ``steps`` from ``base`` (at ``prefix``): the full path (column names of a flow-list
    row become positions), the base's node there (None where the base has none) and its parent."""
    path, node, parent = prefix, base, None
    for i, step in enumerate(steps):
        parent = node
        last = i == len(steps) - 1
        try:
            step, node = _step(node, path, step, last, op)
        except _Stop as stop:
            stop.path = path + (step,)
            raise
        path += (step,)
    return path, node, parent


def _step(node: Node | None, path: tuple, step: Any, last: bool, op: str) -> tuple[Any, Node | None]:
    where = format_loc(path)
    if node is None:
        if isinstance(step, int):
            raise _Stop(
                f"the base does not write {where} (it takes its default), so it has no item [{step}]",
                f"write {where} whole",
            )
        return step, None
    value = node.value
    if isinstance(value, dict):
        if isinstance(step, int) and _is_row(path) and step < len(ROW_COLUMNS):
            step = ROW_COLUMNS[step]  # a row written as a mapping: a cell by position is its column
        if isinstance(step, int):
            raise _Stop(
                f"the base has a mapping here, so [{step}] names nothing in it; expected a key",
                f"one of {one_of(map(str, value))}",
            )
        if step in value:
            return step, value[step]
        kind = _open_kind(path)
        if kind is not None and (not last or op == "remove"):
            raise _missing(where, kind, step, [k for k in value if not (kind == "part" and k == "output")])
        if op == "remove":
            raise _Stop(
                "nothing to remove: the base does not write this key (it takes its default)", "delete this line"
            )
        return step, None
    if isinstance(value, list):
        return _list_step(value, path, step, last, op)
    raise _Stop(
        f"the base has {_describe(value)} at {where}, not a mapping or a list: there is nothing inside it to change",
        f"set {where} whole",
    )


def _list_step(items: list, path: tuple, step: Any, last: bool, op: str) -> tuple[Any, Node | None]:
    where, row = format_loc(path), _is_row(path)
    if isinstance(step, str):
        if row and step in ROW_COLUMNS:  # a cell of a flow-list row, by its column's name
            index = ROW_COLUMNS.index(step)
            if index < len(items):
                return index, items[index]
            if op == "remove":
                raise _Stop(f"nothing to remove: the base's row does not write its {step}", "delete this line")
            return index, None
        if row and step == "output_padding" and last and op == "set":
            return step, None  # no column: the row is rewritten as a mapping
        if row:
            raise _Stop(
                f"a row has no column {step!r}; expected one of {', '.join(_ROW_KEYS)}", did_you_mean(step, _ROW_KEYS)
            )
        raise _Stop(f"the base has a list at {where}, so .{step} names nothing in it; expected an index such as [0]")
    if step < len(items):
        return step, items[step]
    if op == "insert" and last and step == len(items):
        return step, None
    what = "rows" if path and path[-1] == "table" else "items"
    top = len(items) if op == "insert" else len(items) - 1
    raise _Stop(
        f"expected an index from 0 to {top} (the base's {path[-1]} has {len(items)} {what}), found {step}",
        append_at=len(items) if op != "insert" and what == "rows" else None,
        rows=items if what == "rows" else None,
    )


def _rows_like(written: Node, rows: list) -> list[int]:
    """Indices of the base's rows whose layer and channels are the written row's (flow-list rows)."""
    row = plain(written)
    if not isinstance(row, list) or len(row) < 2:
        return []
    return [
        i
        for i, base in enumerate(plain(r) for r in rows)
        if isinstance(base, list) and len(base) >= 2 and base[:2] == row[:2]
    ]


def _row_text(node: Any) -> str:
    row = plain(node)
    return "[" + ", ".join(str(v) for v in row) + "]" if isinstance(row, list) else str(row)


def _missing(where: str, kind: str, name: str, known: list) -> _Stop:
    hint = did_you_mean(name, [str(k) for k in known])
    add = f"a new {kind} is written whole, at its own key: {name}: {{...}}" if kind == "part" else None
    return _Stop(
        f"the base has no {kind} {name!r} in {where}; its {kind}s: {one_of(map(str, known)) or 'none'}", hint or add
    )


def _edit(
    op: str,
    path: tuple,
    target: Node | None,
    parent: Node | None,
    node: Node,
    where: Where,
    text: str,
    edits: list[Edit],
    problems: list[Problem],
) -> None:
    if op == "remove":
        if node.value is not None:
            problems.append(
                _at(
                    where,
                    "override_syntax",
                    path,
                    f"a ~ key removes, so it takes no value; found {_describe(node.value)}",
                    f"write {text}: with nothing after the colon, or drop the ~ to set it",
                )
            )
            return
        edits.append(Edit("remove", path, None, where, text))
        return
    if op == "insert":
        rows = _items(node)
        if not isinstance(path[-1], int):
            problems.append(
                _at(
                    where,
                    "override_syntax",
                    path,
                    "a + key inserts into a list, so it ends with the index to insert before",
                    f"write {text}[0] to insert before the first item, or drop the + to set a key",
                )
            )
        elif not rows.value:
            problems.append(
                _at(where, "override_syntax", path, "expected a row, or a list of rows, to insert; found an empty list")
            )
        else:
            edits.append(Edit("insert", path, rows, where, text))
        return
    if isinstance(node.value, dict) and (target is None or isinstance(target.value, dict)):
        if target is not None:
            _collect(node, path, target, edits, problems)  # a mapping merges into the base's, key by key
            return
        if any(is_path_key(k) for k in _keys(node)):  # edits inside something the base lacks
            kind = _open_kind(path[:-1])
            if kind is not None:
                known = (
                    [k for k in parent.value if k != "output"]
                    if parent is not None and isinstance(parent.value, dict)
                    else []
                )
                stop = _missing(format_loc(path[:-1]), kind, path[-1], known)
                problems.append(_at(where, "override_missing", path, stop.message, stop.fix))
                return
            _collect(node, path, None, edits, problems)
            return
    edits.append(Edit("set", path, node, where, text))


def _items(node: Node) -> Node:
    """What a + key inserts: a list of rows (its items are lists or mappings), else one item."""
    value = node.value
    if isinstance(value, list) and value and all(isinstance(n.value, (list, dict)) for n in value):
        return node
    if isinstance(value, list) and not value:
        return node
    return Node([node], node.at, node.key_at)


def _keys(node: Node) -> list:
    keys = []
    if isinstance(node.value, dict):
        for k, v in node.value.items():
            keys.append(k)
            keys += _keys(v)
    return keys


# --- applying them ----------------------------------------------------------------------------


def apply(base: Node, edits: list[Edit]) -> list[Problem]:
    """Perform ``edits`` on ``base`` in place: sets first (they shift nothing), then removals and
    insertions, each list from its last index to its first, so every index counts the base's items."""
    kept, problems = _without_clashes(edits)
    for edit in kept:
        if edit.op == "set":
            _set(base, edit)
    structural = [(_node_at(base, e.path[:-1]), e) for e in kept if e.op != "set"]
    order = {"remove": 0, "insert": 1}  # at one index: the base's row goes, then the new ones come
    for parent, edit in sorted(structural, key=lambda pe: (-_index(pe[1]), order[pe[1].op])):
        _structural(parent, edit)
    return problems


def _without_clashes(edits: list[Edit]) -> tuple[list[Edit], list[Problem]]:
    kept: list[Edit] = []
    problems = []
    for edit in edits:
        other = next((k for k in kept if _clash(k, edit)), None)
        if other is None:
            kept.append(edit)
            continue
        problems.append(
            _at(
                edit.key,
                "override_conflict",
                edit.path,
                f"line {other.key[1]} already {_verb(other)} {format_loc(other.path)}, and this key {_verb(edit)} "
                f"{format_loc(edit.path)}; indices count the base's rows, so the two cannot both apply",
                "keep one of the two keys"
                if other.op != "insert"
                else "insert several rows with one key and a list of rows",
            )
        )
    return kept, problems


def _clash(a: Edit, b: Edit) -> bool:
    inserts = [e for e in (a, b) if e.op == "insert"]
    if len(inserts) == 2:
        return a.path == b.path
    if inserts:
        other = b if inserts[0] is a else a
        target = inserts[0].path[:-1]  # the list it inserts into: replaced or removed by the other?
        return target[: len(other.path)] == other.path
    short, long = sorted((a.path, b.path), key=len)
    return long[: len(short)] == short


def _verb(edit: Edit) -> str:
    return {"set": "sets", "remove": "removes", "insert": "inserts before"}[edit.op]


def _index(edit: Edit) -> int:
    return edit.path[-1] if isinstance(edit.path[-1], int) else -1


def _set(base: Node, edit: Edit) -> None:
    node, touched = base, None
    path = edit.path
    for i, step in enumerate(path[:-1]):
        node, step = _row_form(node, path[:i], step)
        if isinstance(node.value, dict):
            if step not in node.value:
                node.value[step] = Node({}, edit.key, edit.key)  # a mapping the base leaves at its default
            child = node.value[step]
        else:
            child = node.value[step]
            touched = child
        node = child
    node, last = _row_form(node, path[:-1], path[-1])
    new = Node(edit.node.value, edit.node.at, edit.key)  # type: ignore[union-attr]
    if isinstance(node.value, dict):
        node.value[last] = new
    else:
        node.value.extend(Node(None, edit.key) for _ in range(last + 1 - len(node.value)))  # padding on a 7-column row
        node.value[last] = new
    if touched is not None:
        touched.at = edit.key  # a row the child changed is where the child changed it


def _row_form(node: Node, path: tuple, step: Any) -> tuple[Node, Any]:
    """Cells by name or position whatever form the row has; a flow-list row that is given a key
    that is no column (``output_padding``) is rewritten as a mapping first."""
    if not _is_row(path) or not isinstance(node.value, (list, dict)):
        return node, step
    if isinstance(node.value, dict) and isinstance(step, int) and step < len(ROW_COLUMNS):
        return node, ROW_COLUMNS[step]
    if isinstance(node.value, list) and isinstance(step, str) and step not in ROW_COLUMNS:
        node.value = {name: cell for name, cell in zip(ROW_COLUMNS, node.value) if cell.value is not None}
        for cell in node.value.values():
            cell.key_at = cell.at
    return node, step


def _node_at(base: Node, path: tuple) -> Node:
    node = base
    for i, step in enumerate(path):
        node, step = _row_form(node, path[:i], step)
        node = node.value[step]
    return node


def _structural(parent: Node, edit: Edit) -> None:
    last = edit.path[-1]
    if edit.op == "insert":
        parent.value[last:last] = [Node(n.value, n.at, None) for n in edit.node.value]  # type: ignore[union-attr]
    elif isinstance(parent.value, dict):
        if isinstance(last, int):
            last = ROW_COLUMNS[last]
        del parent.value[last]
    elif _is_row(edit.path[:-1]) and last < len(ROW_COLUMNS):  # a cell: back to its default
        parent.value[last] = Node(None, edit.key)
        while parent.value and parent.value[-1].value is None:
            parent.value.pop()
    else:
        del parent.value[last]


# --- small helpers ----------------------------------------------------------------------------


def _open_kind(path: tuple) -> str | None:
    """What the keys of the mapping at ``path`` name, where the spec chooses them (a missing one
    is a mistake, not a default)."""
    if path == ("model", "networks"):
        return "network"
    if len(path) == 3 and path[:2] == ("model", "networks"):
        return "part"
    if path == ("model", "blocks"):
        return "block"
    if path == ("model", "shapes"):
        return "model tensor"
    return None


def _is_row(path: tuple) -> bool:
    return len(path) >= 2 and path[-2] == "table" and isinstance(path[-1], int)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return "nothing (null)" if value is None else repr(value)


def _at(where: Where, code: str, loc: tuple, message: str, fix: str | None = None) -> Problem:
    return Problem(code, loc, message, fix, file=where[0], line=where[1], col=where[2])
