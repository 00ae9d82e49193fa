"""The model kind's contract: the output each network must give, given the model's tensors
(:mod:`archspec.language.kinds`), and the problem, with a fix, where a network's flow does not give it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from archspec.checking.traces import NetworkTrace, Shape, format_shape
from archspec.language.errors import Problem
from archspec.language.kinds import KINDS
from archspec.language.spec import LayerRow, Spec


def contract_outputs(kind: str, shapes: Mapping[str, Shape]) -> dict[str, tuple[Shape, str]]:
    """The output each network of a model kind must give (None on a free axis), and how to say it."""
    found = KINDS.get(kind)
    if any(t not in shapes for t in found.tensors):
        return {}  # semantics reports the missing shape
    wanted = {role.name: (role.output(shapes), role.describe(shapes)) for role in found.roles}
    return {name: (tuple(shape), what) for name, (shape, what) in wanted.items() if shape is not None}


def contract_problems(spec: Spec, networks: Mapping[str, NetworkTrace], shapes: Mapping[str, Shape]) -> list[Problem]:
    problems = []
    for name, (want, what) in contract_outputs(spec.model.kind, shapes).items():
        trace = networks.get(name)
        if trace is None or trace.output is None:
            continue  # missing network (semantics) or a failed part (reported already)
        got = trace.output
        if _fits(got, want):
            continue
        want = tuple(g if w is None else w for g, w in zip(got, want))  # a free axis takes what it got
        network = spec.model.networks[name]
        part = network.output_part
        loc = ("model", "networks", name)
        if got[1:] != want[1:]:
            fix = _resize_fix(trace, got, want)
            problems.append(
                Problem(
                    "contract",
                    loc,
                    f"model kind '{spec.model.kind}': {name} must give {what}, {format_shape(want)}; "
                    f"it gives {format_shape(got)} (part {part}'s output)",
                    fix,
                    ctx=(("want", want), ("got", got)),
                )
            )
        else:
            last = len(network.parts[part].table) - 1
            row = network.parts[part].table[last]
            row_loc = loc + (part, "table", last) + (("channels",) if isinstance(row, LayerRow) else ())
            c_in = row.channels.in_ if isinstance(row, LayerRow) and row.channels.in_ is not None else ""
            fix = (
                f"write {c_in}/{want[0]}"
                if isinstance(row, LayerRow)
                else f"end part {part} with a row of {want[0]} channels out"
            )
            problems.append(
                Problem(
                    "contract",
                    row_loc,
                    f"model kind '{spec.model.kind}': {name} must give {what}, {format_shape(want)}; "
                    f"its last row gives {got[0]} channels, {format_shape(got)}",
                    fix,
                    ctx=(("want", want), ("got", got)),
                )
            )
    return problems


def _fits(got: Shape, want: Sequence[int | None]) -> bool:
    return all(w is None or g == w for g, w in zip(got, want))


def _resize_fix(trace: NetworkTrace, got: Shape, want: Shape) -> str:
    h, target = got[1], want[1]
    if h < target:
        ratio = Fraction(target, h)
        kinds = {row.layer for row in trace.rows}
        hint = f"the network shrinks or keeps the size where it must grow it {h} → {target} (×{ratio})"
        if "Conv" in kinds:
            hint += (
                ": a Conv with stride s divides the size by s; use ConvTransp rows (auto padding multiplies by the "
                "stride) to grow it"
            )
        return hint
    ratio = Fraction(h, target)
    return (
        f"the network gives {h} where {target} is needed (÷{ratio}): use Conv rows whose strides multiply to "
        f"{ratio} (ConvTransp grows the size)"
    )
