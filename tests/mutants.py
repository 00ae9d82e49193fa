"""Single-cell mutants of specs, for the property tests of fixes (tests/archspec/fixing/test_fix_property.py).

A mutant changes one cell of one flow-list row, the way a person slips while editing: a layer
flipped, a channel count, kernel or stride changed, an explicit padding added, a name misspelt.
They are made by plain string operations on the row's line (never by archspec's own editor, which
is under test), so every mutant has a one-cell repair: undoing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

ROW = re.compile(r"^(\s*(?:- |[\w.\[\]]+: )\[)([^\]]*)(\].*)$")  # a table's row, or a variant's row written at its path
CLASSES = ("layer", "channels_in", "channels_out", "kernel", "stride", "padding", "name")


@dataclass(frozen=True)
class Mutant:
    line: int  # 1-based line of the row
    kind: str
    old: str
    new: str
    text: str


def rows(text: str) -> list[tuple[int, list[str]]]:
    """(line, cells) of every one-line flow-list row of a layer table (or of a variant's row key)."""
    out = []
    for number, line in enumerate(text.split("\n"), start=1):
        match = ROW.match(line)
        if match and match.group(2).split(",")[0].strip() in ("Conv", "ConvTransp"):
            out.append((number, [c.strip() for c in match.group(2).split(",")]))
    return out


def values(kind: str, cells: list[str]) -> list[str]:
    """The mutated values of one cell for a mutation class (several per cell)."""
    layer, channels, kernel, stride = cells[0], cells[1], int(cells[2]), int(cells[3]) if len(cells) > 3 else 1
    c_in, _, c_out = channels.partition("/")
    if kind == "layer":
        return ["ConvTransp" if layer == "Conv" else "Conv"]
    if kind == "channels_in" and c_in:
        n = int(c_in)
        return [f"{m}/{c_out}" for m in dict.fromkeys([n + 1, 2 * n, max(n // 2, 1) if n > 1 else 3, n + 4]) if m != n]
    if kind == "channels_out":
        n = int(c_out)
        return [f"{c_in}/{m}" for m in dict.fromkeys([n + 1, 2 * n, max(n // 2, 1) if n > 1 else 3, n + 4]) if m != n]
    if kind == "kernel":
        return [str(k) for k in dict.fromkeys([kernel + 1, kernel - 1, kernel + 2, kernel - 2]) if k >= 1]
    if kind == "stride":
        return [str(s) for s in dict.fromkeys([stride + 1, stride - 1, 2 * stride]) if s >= 1 and s != stride]
    if kind == "padding":
        return [str(p) for p in (0, 1, 3)]
    if kind == "name":
        return [layer[:-1] + layer[-1].upper() if layer[-1].islower() else layer.lower()]
    return []


def _cell(kind: str) -> int:
    return {"layer": 0, "channels_in": 1, "channels_out": 1, "kernel": 2, "stride": 3, "padding": 7, "name": 0}[kind]


def mutants(text: str, kinds: tuple[str, ...] = CLASSES, per_cell: int | None = None) -> Iterator[Mutant]:
    """Every single-cell mutant of ``text``'s rows, of the given classes (``per_cell`` values each)."""
    lines = text.split("\n")
    for number, cells in rows(text):
        for kind in kinds:
            index = _cell(kind)
            for value in values(kind, cells)[:per_cell]:
                new = list(cells)
                if index >= len(new):
                    if index != 7:
                        continue
                    new += ["_"] * (index - len(new)) + [value]
                    old = "(none)"
                else:
                    old = new[index]
                    new[index] = value
                match = ROW.match(lines[number - 1])
                changed = lines[: number - 1] + [match.group(1) + ", ".join(new) + match.group(3)] + lines[number:]
                yield Mutant(number, kind, old, value, "\n".join(changed))
