"""What the static shape flow (:mod:`archspec.checking.shapes`) records, row by row: the traces that
``archspec show`` prints, ``archspec diff`` prices and the repairs read, and the few words
messages use for shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from archspec.language.errors import Problem

Shape = tuple[int, int, int]  # (C, H, W)


@dataclass(frozen=True)
class RowTrace:
    """One row of a table as the flow saw it. ``index`` is the row's path in its part:
    ``(3,)`` for row 3, ``(4, 0, 1)`` for row 1 of repetition 0 of the block at row 4."""

    network: str
    part: str
    index: tuple[int, ...]
    layer: str  # Conv, ConvTransp, or the block's name
    loc: tuple  # YAML path of the part's row
    in_shape: Shape
    out_shape: Shape
    padding: int | None = None  # None for block rows
    kernel: int | None = None
    stride: int | None = None
    output_padding: int = 0
    bias: bool = False
    batchnorm: bool = False
    spectral_norm: bool = False
    activation: str = "none"  # a layer row's activation, or a block's after its table (and the add)
    repeat: int = 1
    params: int = 0
    macs: int = 0  # multiply-adds per sample (convolutions only)
    memory: int = 0  # bytes of float32 tensors the row produces per sample (layer, BatchNorm, activation)
    rf: Mapping[str, int] = field(
        default_factory=dict
    )  # receptive field along one axis, in pixels of each model tensor
    dropped: tuple[int, int] = (0, 0)  # pixels a Conv leaves unread along H and W
    inner: tuple[RowTrace, ...] = ()  # a block row's rows, every repetition


@dataclass(frozen=True)
class PartTrace:
    name: str
    inputs: tuple[str, ...]
    in_shape: Shape
    out_shape: Shape
    rows: tuple[RowTrace, ...]


@dataclass
class NetworkTrace:
    name: str
    parts: dict[str, PartTrace] = field(default_factory=dict)  # parts that flowed, in order
    output: Shape | None = None  # None when the output part did not flow

    @property
    def rows(self) -> list[RowTrace]:
        return [row for part in self.parts.values() for row in part.rows]

    @property
    def params(self) -> int:
        return sum(row.params for row in self.rows)


@dataclass
class Flow:
    networks: dict[str, NetworkTrace]
    problems: list[Problem]

    @property
    def params(self) -> int:
        return sum(net.params for net in self.networks.values())


def format_shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(n) for n in shape) + "]"


def format_hw(shape: Sequence[int]) -> str:
    """H×W of a [C, H, W] shape: 16² when square."""
    return hw(shape)


def hw(shape: Shape) -> str:
    return f"{shape[1]}²" if shape[1] == shape[2] else f"{shape[1]}×{shape[2]}"
