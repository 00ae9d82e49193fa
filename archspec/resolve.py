"""A row's effective bias, batchnorm, activation and padding: the nearest place that says.

A row in a part's table looks, in order, at the row itself, the part's defaults, the model's
defaults and :data:`~archspec.spec.BUILTIN_DEFAULTS`. A row in a block's table looks at the row,
the block's defaults, the model's defaults and the built-in defaults: a block means the same
wherever it is applied, so the defaults of the part that applies it do not reach into it.

Pure functions, no torch: the shape checker, the compiler and ``archspec show`` share them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from archspec.spec import BUILTIN_DEFAULTS, Defaults, LayerRow, Spec

_COLUMNS = ("bias", "batchnorm", "activation", "padding")


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
    return Resolved(
        layer=row.layer, c_in=row.channels.in_, c_out=row.channels.out, kernel=row.kernel, stride=row.stride,
        output_padding=row.output_padding, **values,
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
