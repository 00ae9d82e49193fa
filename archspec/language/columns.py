"""A flow-list row's columns: which kind of value each holds, and which column a short row lacks.

A row may stop early (``[Conv, 8/16, 4, 2]``: the rest from the defaults), so a row with a
column missing in the middle is only noticed where a value lands in a column it cannot be in:
``[Conv, 8/16, 8, 4, T, ReLU]`` puts ReLU in the batchnorm column. :func:`missing_columns`
finds where a ``_`` (take the default) would make every value fit its column, so the message
can say which column is missing instead of "batchnorm: expected T or F, found 'ReLU'".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from archspec.language.registry import ACTIVATIONS, LAYERS

# The paper's seven columns, in the paper's order; a flow-list row lists them in this order,
# optionally followed by padding.
ROW_COLUMNS = ("layer", "channels", "kernel", "stride", "bias", "batchnorm", "activation", "padding")
PAPER_COLUMNS = 7
PLACEHOLDER = "_"
REQUIRED = ("layer", "channels", "kernel")
CHANNELS_RE = re.compile(r"^\s*(\d+)?\s*/\s*(\d+)\s*$")
_FLAGS = {"t", "f", "true", "false"}
_KINDS = {
    "layer": "a layer",
    "channels": "channels",
    "kernel": "an integer",
    "stride": "an integer",
    "bias": "a flag",
    "batchnorm": "a flag",
    "activation": "an activation",
    "padding": "a padding",
}


def kind_of(value: Any) -> str:
    """What a cell's value reads as: a flag, channels, an integer, a padding ('auto'), a name."""
    if isinstance(value, bool) or isinstance(value, str) and value.strip().lower() in _FLAGS:
        return "a flag"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str) and CHANNELS_RE.match(value):
        return "channels"
    if value == "auto":
        return "a padding"
    if value in ACTIVATIONS:
        return "an activation"
    if value in LAYERS:
        return "a layer"
    return "a name"


def fits(column: str, value: Any) -> bool:
    """Could ``value`` stand in ``column`` (its own checks aside: a layer's name, a range)?"""
    if value is None or value == PLACEHOLDER:
        return column not in REQUIRED
    kind = kind_of(value)
    return {
        "layer": kind in ("a layer", "a name"),
        "channels": kind in ("channels", "an integer"),
        "kernel": kind == "an integer",
        "stride": kind == "an integer",
        "bias": kind == "a flag",
        "batchnorm": kind == "a flag",
        "activation": kind in ("an activation", "a name"),
        "padding": kind in ("a padding", "an integer"),
    }[column]


def missing_columns(row: Sequence[Any]) -> list[int]:
    """The positions where inserting ``_`` makes every value of a row fit its column (empty when
    the row fits as it is, or when no single ``_`` helps)."""
    if len(row) >= len(ROW_COLUMNS) or all(fits(c, v) for c, v in zip(ROW_COLUMNS, row)):
        return []
    return [
        i
        for i in range(len(REQUIRED), len(row) + 1)
        if all(fits(c, v) for c, v in zip(ROW_COLUMNS, list(row[:i]) + [PLACEHOLDER] + list(row[i:])))
    ]


def short_row_message(row: Sequence[Any]) -> tuple[str, str] | None:
    """(message, fix) for a row whose values sit one column early, or None."""
    positions = missing_columns(row)
    if not positions:
        return None
    misfit = next(i for i, (c, v) in enumerate(zip(ROW_COLUMNS, row)) if not fits(c, v))
    names = " or ".join(f"the {ROW_COLUMNS[i]}" for i in positions)
    shown = min(len(row), PAPER_COLUMNS)
    value = row[misfit]
    message = (
        f"row has {shown} of {PAPER_COLUMNS} columns: {', '.join(ROW_COLUMNS[:PAPER_COLUMNS])} — {names} is missing "
        f"({_text(value)} in the {ROW_COLUMNS[misfit]} column is {kind_of(value)}, not {_KINDS[ROW_COLUMNS[misfit]]}). "
        f"Received: {_row_text(row)}"
    )
    fixed = list(row[: positions[0]]) + [PLACEHOLDER] + list(row[positions[0] :])
    return message, f"write {_row_text(fixed)} (_ takes the default)"


def _text(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _row_text(row: Sequence[Any]) -> str:
    return "[" + ", ".join("true" if v is True else "false" if v is False else str(v) for v in row) + "]"
