"""``archspec show``: per-row shapes, padding, parameters, multiply-adds, memory and receptive field;
``--sizes``: the input sizes at which the whole model flows.

Everything comes from :func:`archspec.checking.shapes.flow`: integer arithmetic, no torch. Parameter
counts equal the compiled module's ``sum(p.numel())`` (a test holds them together).

Columns: MACs are multiply-adds of the convolutions per sample; memory is the bytes of float32
tensors a row produces per sample (layer, BatchNorm and activation outputs, which training keeps
for the backward pass); RF is the receptive field along one axis, in pixels of each model tensor
the row depends on (a transposed layer's output pixel reads at most ceil(k / s) input pixels).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from archspec.checking.arith import exact_padding, exact_sizes
from archspec.checking.shapes import flow, scaled_shapes
from archspec.checking.traces import Flow, NetworkTrace, RowTrace, format_shape
from archspec.language.kinds import KINDS
from archspec.language.spec import Spec

SIZE_RANGE = range(8, 4097)  # the heights --sizes tries for the first model tensor


# --- data ----------------------------------------------------------------------------------------


def summary_data(spec: Spec, traced: Flow | None = None) -> dict[str, Any]:
    """``{"params": N, "networks": {name: {"params", "output", "layers": [...]}}}`` and totals."""
    traced = traced or flow(spec)
    networks = {name: _network_data(spec, net) for name, net in traced.networks.items()}
    return {
        "name": spec.name,
        "kind": spec.model.kind,
        "shapes": {name: list(shape) for name, shape in spec.model.shapes.items()},
        "params": traced.params,
        "macs": sum(n["macs"] for n in networks.values()),
        "memory": sum(n["memory"] for n in networks.values()),
        "networks": networks,
    }


def _network_data(spec: Spec, net: NetworkTrace) -> dict[str, Any]:
    rows = net.rows
    return {
        "params": net.params,
        "macs": sum(r.macs for r in rows),
        "memory": sum(r.memory for r in rows),
        "inputs": list(_inputs(spec, net.name)),
        "output": list(net.output) if net.output else None,
        "parts": {
            p.name: {"input": list(p.inputs), "in": list(p.in_shape), "out": list(p.out_shape)}
            for p in net.parts.values()
        },
        "layers": [_row_data(r) for r in rows],
    }


def _row_data(row: RowTrace) -> dict[str, Any]:
    data: dict[str, Any] = {
        "part": row.part,
        "index": row.index[0],
        "path": ".".join([row.part, *map(str, row.index)]),  # the module's name in the compiled network
        "layer": row.layer,
        "in": list(row.in_shape),
        "out": list(row.out_shape),
        "params": row.params,
        "macs": row.macs,
        "memory": row.memory,
        "rf": dict(row.rf),
        "activation": row.activation,
    }
    if row.inner:
        data["repeat"] = row.repeat
        data["rows"] = [_row_data(r) for r in row.inner]
    else:
        data.update(
            kernel=row.kernel,
            stride=row.stride,
            padding=row.padding,
            output_padding=row.output_padding,
            bias=row.bias,
            batchnorm=row.batchnorm,
            dropped=list(row.dropped),
        )
    return data


def _inputs(spec: Spec, network: str) -> tuple[str, ...]:
    """The model tensors a network reads, in the contract's order (its first input first)."""
    allowed = KINDS.get(spec.model.kind).reads(network, spec.model.shapes)
    parts = spec.model.networks[network].parts
    read = {s for p in parts.values() for s in p.inputs if s not in parts}
    return tuple(t for t in allowed if t in read)


# --- text ----------------------------------------------------------------------------------------

_HEAD = ("part", "row", "layer", "in → out", "pad", "params", "MACs", "memory", "RF")


def summary_text(spec: Spec) -> str:
    traced = flow(spec)
    data = summary_data(spec, traced)
    lines = [
        f"{spec.name} ({spec.model.kind}): {data['params']:,} parameters; per sample {_si(data['macs'])} "
        "multiply-adds, "
        f"{_bytes(data['memory'])} of activations",
        "shapes " + ", ".join(f"{n} {format_shape(s)}" for n, s in spec.model.shapes.items()),
    ]
    notes: list[str] = []
    for name, net in traced.networks.items():
        lines += ["", *_network_lines(spec, net, data["networks"][name], notes)]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def _network_lines(spec: Spec, net: NetworkTrace, data: dict, notes: list[str]) -> list[str]:
    order = _inputs(spec, net.name)
    table: list[Sequence[str]] = []
    for part in net.parts.values():
        table.append(
            (part.name, "", f"input {' + '.join(part.inputs)}", format_shape(part.in_shape), "", "", "", "", "")
        )
        for row in part.rows:
            mark = ""
            if any(row.dropped):
                mark = "!"
                notes.append(_dropped_note(net.name, row))
            table.append(
                (
                    "",
                    str(row.index[0]),
                    _layer(row),
                    f"{format_shape(row.in_shape)} → {format_shape(row.out_shape)}{mark}",
                    "" if row.padding is None else str(row.padding),
                    f"{row.params:,}",
                    _si(row.macs),
                    _bytes(row.memory),
                    _rf(row, order),
                )
            )
    output = format_shape(net.output) if net.output else "(does not flow)"
    table.append(
        ("total", "", "", f"→ {output}", "", f"{data['params']:,}", _si(data["macs"]), _bytes(data["memory"]), "")
    )
    title = f"{net.name}({', '.join(order)}) → {output}"
    return [title, *_columns([_HEAD, *table], right={4, 5, 6, 7})]


def _layer(row: RowTrace) -> str:
    if row.inner:
        return f"{row.layer} ×{row.repeat}" + (f" {row.activation}" if row.activation != "none" else "")
    text = f"{row.layer} k{row.kernel} s{row.stride}"
    if row.output_padding:
        text += f" op{row.output_padding}"
    text += " +bias" if row.bias else ""
    text += " SN" if row.spectral_norm else ""  # spectral norm
    text += " BN" if row.batchnorm else ""
    return text + (f" {row.activation}" if row.activation != "none" else "")


def _rf(row: RowTrace, order: Sequence[str]) -> str:
    names = [t for t in order if t in row.rf] + [t for t in row.rf if t not in order]
    return ", ".join(f"{row.rf[t]} {t}" for t in names)


def _dropped_note(network: str, row: RowTrace) -> str:
    axis = 0 if row.dropped[0] else 1
    axes = "H and W" if row.dropped[0] and row.dropped[1] else "HW"[axis]
    size = row.in_shape[1 + axis]
    assert row.kernel is not None and row.stride is not None and row.padding is not None
    below, above = exact_sizes(size, row.kernel, row.stride, row.padding)
    padding = exact_padding(size, row.kernel, row.stride)
    fix = f"padding {padding}, or " if padding is not None else ""
    return (
        f"! {network}.{row.part}.{row.index[0]} {row.layer} leaves {row.dropped[axis]} pixel(s) of {size} unread "
        f"along {axes} "
        f"(torch accepts it): {fix}an input of {below} or {above} reads them all"
    )


def _columns(rows: list[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        out.append("  ".join(cells).rstrip())
    return out


def _si(n: int) -> str:
    for unit, scale in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def _bytes(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


# --- sizes ---------------------------------------------------------------------------------------


def sizes_data(spec: Spec, sizes: range = SIZE_RANGE) -> dict[str, Any]:
    """The heights of the first model tensor at which the whole model flows and meets its
    contract, all tensors scaled by the same factor; a pattern, and the nearest to the spec's."""
    reference = next(iter(spec.model.shapes))
    own = spec.model.shapes[reference][1]
    valid = valid_sizes(spec, sizes, reference)
    below = [s for s in valid if s < own]
    above = [s for s in valid if s > own]
    return {
        "reference": reference,
        "range": [sizes.start, sizes.stop - 1],
        "tied": {name: _tie(shape, spec.model.shapes[reference][1]) for name, shape in spec.model.shapes.items()},
        "spec_size": own,
        "spec_valid": own in valid,
        "nearest": {"below": below[-1] if below else None, "above": above[0] if above else None},
        "pattern": pattern(valid),
        "count": len(valid),
        "valid": valid,
    }


def sizes_text(spec: Spec, sizes: range = SIZE_RANGE) -> str:
    data = sizes_data(spec, sizes)
    ties = ", ".join(f"{name} = {tie}" for name, tie in data["tied"].items())
    near = data["nearest"]
    lines = [
        f"{spec.name}: sizes H of {data['reference']} from {data['range'][0]} to {data['range'][1]} at which the "
        "whole model "
        f"flows and meets its contract",
        f"tensors scaled together: {ties}",
        f"valid: {data['pattern']} ({data['count']} size{'s' if data['count'] != 1 else ''})",
        f"the spec's own: {data['spec_size']} ({'valid' if data['spec_valid'] else 'not valid'}); nearest valid: "
        f"{near['below'] if near['below'] is not None else 'none'} below, "
        f"{near['above'] if near['above'] is not None else 'none'} above",
    ]
    return "\n".join(lines)


def pattern(valid: Sequence[int]) -> str:
    """``[32, 64, ..., 4096]`` -> "every multiple of 32 from 32 to 4096"."""
    if not valid:
        return "none"
    if len(valid) == 1:
        return f"only {valid[0]}"
    steps = {b - a for a, b in zip(valid, valid[1:])}
    first, last = valid[0], valid[-1]
    if len(steps) == 1:
        step = steps.pop()
        if step == 1:
            return f"every size from {first} to {last}"
        if first % step == 0:
            return f"every multiple of {step} from {first} to {last}"
        return f"every size {first % step} more than a multiple of {step}, from {first} to {last}"
    step = math.gcd(*valid)
    shown = ", ".join(map(str, valid[:12])) + (", ..." if len(valid) > 12 else "")
    return f"{shown} (all multiples of {step}; not every multiple)" if step > 1 else shown


def _tie(shape: Sequence[int], ref: int) -> str:
    h, w = (Fraction(n, ref) for n in shape[1:])
    return _scaled(h) if h == w else f"{_scaled(h)} × {_scaled(w)}"


def _scaled(f: Fraction) -> str:
    if f == 1:
        return "H"
    num = "H" if f.numerator == 1 else f"{f.numerator}H"
    return num if f.denominator == 1 else f"{num}/{f.denominator}"


# --- input sizes ---------------------------------------------------------------------------------


def valid_sizes(spec: Spec, sizes: range, reference: str | None = None) -> list[int]:
    """The heights of ``reference`` (default: the first model tensor, x for a cvae) in ``sizes``
    at which the whole model flows and meets its contract, every tensor scaled alike."""
    reference = reference or next(iter(spec.model.shapes))
    valid = []
    for size in sizes:
        shapes = scaled_shapes(spec.model.shapes, reference, size)
        if shapes is not None and not flow(spec, shapes).problems:
            valid.append(size)
    return valid
