"""A row's effective bias, batchnorm, activation, padding, spectral norm and initialisation: the
nearest place that says.

A row in a part's table looks, in order, at the row itself, the part's defaults, the model's
defaults and :data:`~archspec.language.spec.BUILTIN_DEFAULTS`. A row in a block's table looks at the row,
the block's defaults, the model's defaults and the built-in defaults: a block means the same
wherever it is applied, so the defaults of the part that applies it do not reach into it.

A row may also write ``_`` in a cell to take the default explicitly (``[Conv, 8/16, 4, 2, _, _, _]``
keeps the paper's seven columns while bias, batchnorm and activation come from the defaults).
:func:`fill_placeholders` writes the value in before validation, after ``--set`` overrides, so
``--set model.defaults.activation=ELU`` reaches every ``_`` cell, and a spec with ``_`` means,
dumps and hashes exactly as the same spec with the values written out.

Pure functions, no torch: the shape checker, the compiler and ``archspec show`` share them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from archspec.language.errors import Problem
from archspec.language.registry import ACTIVATIONS, INITS, LAYERS
from archspec.language.spec import BUILTIN_DEFAULTS, ROW_COLUMNS, Defaults, LayerRow, Spec

# The columns a row may take from its defaults (a part's, a block's, the model's).
DEFAULTED = ("bias", "batchnorm", "activation", "padding", "padding_mode", "spectral_norm", "init")
_COLUMNS = DEFAULTED
PLACEHOLDER = "_"  # a row cell that takes the default
_NO_DEFAULT = {
    "layer": "Conv or ConvTransp",
    "channels": "e.g. 8/16, or /16 to take in from the input",
    "kernel": "e.g. 3",
}


@dataclass(frozen=True)
class Resolved:
    """What a layer row means once every default has been applied."""

    layer: str
    c_in: int | None  # None: take the incoming tensor's channels
    c_out: int
    kernel: int
    stride: int
    padding: int | str  # an integer, or "auto" = (kernel - stride) / 2
    output_padding: int
    bias: bool
    batchnorm: bool
    activation: str
    padding_mode: str = "zeros"  # what the padding holds (torch's padding_mode)
    spectral_norm: bool = False  # the weight divided by its largest singular value (Miyato et al. 2018)
    init: str = "torch"  # how the weight starts (archspec.language.registry.INITS)


def resolve(row: LayerRow, chain: Sequence[Defaults]) -> Resolved:
    """The row's values, each column from the row or the first of ``chain`` that sets it.

    Args:
        row: a layer row.
        chain: defaults from nearest to farthest (part or block, then model); the built-in
            defaults are always consulted last.
    """
    values = {}
    for column in _COLUMNS:
        values[column] = _first(column, (row, *chain, BUILTIN_DEFAULTS))
    if row.padding_mode is None and row.layer in LAYERS and LAYERS.get(row.layer).transposed:
        values["padding_mode"] = "zeros"  # a default mode is for the convolutions; torch pads a transpose with zeros
    return Resolved(
        layer=row.layer,
        c_in=row.channels.in_,
        c_out=row.channels.out,
        kernel=row.kernel,
        stride=row.stride,
        output_padding=row.output_padding,
        **values,
    )


def _first(column: str, sources: Sequence[object]) -> object:
    for source in sources:
        value = getattr(source, column)
        if value is not None:
            return value
    raise AssertionError(f"BUILTIN_DEFAULTS sets every column, {column!r} included")


def part_chain(spec: Spec, network: str, part: str) -> tuple[Defaults, ...]:
    """The defaults a row of ``network``'s ``part`` falls back on, nearest first."""
    return (spec.model.networks[network].parts[part].defaults, spec.model.defaults)


def block_chain(spec: Spec, block: str) -> tuple[Defaults, ...]:
    """The defaults a row of block ``block`` falls back on, nearest first."""
    return (spec.model.blocks[block].defaults, spec.model.defaults)


# --- `_` cells ----------------------------------------------------------------------------------


def fill_placeholders(data: Any) -> tuple[Any, list[Problem]]:
    """A copy of raw spec data with every ``_`` row cell replaced by the value its defaults give,
    and a problem for each ``_`` in a column that has no default (layer, channels, kernel).

    Works on unvalidated data: whatever is malformed is left for validation to report. Where
    the default itself is invalid (reported at the defaults), the cell is left unset rather than
    reporting the same mistake again at every row.
    """
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        return data, []
    data = copy.deepcopy(data)
    problems: list[Problem] = []
    for path, row, chain in _raw_rows(data["model"]):
        cells = dict(zip(ROW_COLUMNS, row)) if isinstance(row, list) else row
        for column, value in list(cells.items()):
            if value != PLACEHOLDER:
                continue
            if column in _NO_DEFAULT:
                problems.append(
                    Problem(
                        "no_default",
                        path + (column,),
                        f"'_' leaves a cell to the defaults, but the {column} column has none. Received: {column}=_",
                        f"write the {column} ({_NO_DEFAULT[column]})",
                    )
                )
                continue
            filled = (
                _chain_value(column, chain) if column in _COLUMNS else None
            )  # stride, output_padding: the field's own
            if isinstance(row, list):
                row[ROW_COLUMNS.index(column)] = filled
            elif filled is None:
                del row[column]
            else:
                row[column] = filled
    return data, problems


def _raw_rows(model: dict) -> Iterator[tuple[tuple, Any, tuple]]:
    """(path, row, defaults chain) for every row of every block and part, as raw data."""
    model_defaults = model.get("defaults")
    for name, block in _items(model.get("blocks")):
        if isinstance(block, dict):
            yield from _table_rows(
                ("model", "blocks", name, "table"), block.get("table"), (block.get("defaults"), model_defaults)
            )
    for net_name, network in _items(model.get("networks")):
        for part_name, part in _items(network):
            if isinstance(part, dict):
                yield from _table_rows(
                    ("model", "networks", net_name, part_name, "table"),
                    part.get("table"),
                    (part.get("defaults"), model_defaults),
                )


def _items(node: Any) -> list:
    return list(node.items()) if isinstance(node, dict) else []


def _table_rows(loc: tuple, table: Any, chain: tuple) -> Iterator[tuple[tuple, Any, tuple]]:
    for i, row in enumerate(table if isinstance(table, list) else []):
        if isinstance(row, list) and len(row) <= len(ROW_COLUMNS) or isinstance(row, dict) and "block" not in row:
            yield loc + (i,), row, chain


def _chain_value(column: str, chain: tuple) -> Any:
    """The raw value the first defaults of ``chain`` that set ``column`` give (built-in last), or
    None where that value is itself invalid."""
    for defaults in chain:
        value = defaults.get(column) if isinstance(defaults, dict) else None
        if value is not None and value != PLACEHOLDER:
            return value if _plausible(column, value) else None
    return getattr(BUILTIN_DEFAULTS, column)


def _plausible(column: str, value: Any) -> bool:
    if column in ("bias", "batchnorm"):
        return (
            isinstance(value, bool) or isinstance(value, str) and value.strip().lower() in ("t", "f", "true", "false")
        )
    if column == "activation":
        return value in ACTIVATIONS
    if column == "spectral_norm":
        return _plausible("bias", value)
    if column == "init":
        return value in INITS
    return value == "auto" or isinstance(value, int) and not isinstance(value, bool) and value >= 0
