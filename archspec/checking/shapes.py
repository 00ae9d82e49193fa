"""Static shape flow: every row's (C, H, W) in and out, proved with integer arithmetic alone.

No tensors and no torch: ``archspec check`` runs this in milliseconds. The rules are torch's own,
so the checker accepts a spec exactly when the compiled module runs (a property test holds the
two together):

- Conv2d, along each axis: out = (in + 2p - k) // s + 1, and the kernel must fit: in + 2p >= k.
- ConvTranspose2d: out = (in - 1)·s - 2p + k + output_padding >= 1, with output_padding < s.
- ``padding: auto`` = (k - s) / 2, which makes a Conv divide the size by s and a ConvTransp
  multiply it by s exactly; where k - s is odd (or negative) no padding does, and the checker
  says which explicit paddings come closest.
- A row's ``in`` channels, where written, equal the incoming tensor's; a part whose input is a
  list concatenates along channels, so H and W must agree; a residual block gives back the
  shape it was given.
- The model kind's contract (:mod:`archspec.language.kinds`) fixes the networks' outputs (for ``cvae``:
  recognition and prior give 2·C_z channels at z's size, the generator gives x's shape),
  checked by :mod:`archspec.checking.contract`.

Problems are reported once per root cause: after a part's first failure the rest of that part
is not checked, and parts that read a failed part are skipped without a report.

:func:`flow` returns, next to the problems, a per-row trace (shapes, padding, parameters,
multiply-adds, activation memory, receptive field; :mod:`archspec.checking.traces`) that ``archspec
show`` prints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from archspec.checking.arith import (
    auto_padding,
    batchnorm_params,
    conv_out,
    conv_params,
    conv_transpose_out,
    dropped_pixels,
    has_auto_padding,
)
from archspec.checking.contract import contract_problems
from archspec.checking.traces import Flow, NetworkTrace, PartTrace, RowTrace, Shape, format_shape
from archspec.checking.traces import hw as _hw
from archspec.language.errors import Problem, format_loc
from archspec.language.registry import ACTIVATIONS, LAYERS
from archspec.language.resolve import Resolved, block_chain, part_chain, resolve
from archspec.language.spec import BlockRow, Defaults, LayerRow, Spec

BYTES_PER_VALUE = 4  # float32 activations


# --- the flow ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tensor:
    shape: Shape
    rf: Mapping[str, tuple[Fraction, Fraction]]  # model tensor -> (field, jump), in its pixels
    sources: tuple[tuple[str, int], ...] = ()  # a concatenation's inputs and their channels


class _Stop(Exception):
    """The first failure of a part: its problem, after which the part is not checked further."""

    def __init__(self, problem: Problem):
        self.problem = problem


def check(spec: Spec) -> list[Problem]:
    """All shape problems of a spec that passed :func:`archspec.checking.semantics.check`."""
    return flow(spec).problems


def flow(spec: Spec, shapes: Mapping[str, Sequence[int]] | None = None, contract: bool = True) -> Flow:
    """Trace every network of ``spec`` on the model tensors ``shapes`` (default: the spec's).

    Returns the traces of the parts that flowed and the problems, one per root cause; with
    ``contract`` the model kind's contract is checked on the networks' outputs.
    """
    shapes = {name: tuple(shape) for name, shape in (shapes or spec.model.shapes).items()}
    networks, problems = {}, []
    for name in spec.model.networks:
        networks[name], found = _flow_network(spec, name, shapes)
        problems += found
    if contract:
        problems += contract_problems(spec, networks, shapes)
    return Flow(networks, problems)


def _flow_network(spec: Spec, name: str, shapes: Mapping[str, Shape]) -> tuple[NetworkTrace, list[Problem]]:
    network = spec.model.networks[name]
    trace = NetworkTrace(name)
    tensors = {t: _Tensor(shape, {t: (Fraction(1), Fraction(1))}) for t, shape in shapes.items()}
    problems: list[Problem] = []
    unavailable: set[str] = set()  # parts that failed or were skipped
    for part_name, part in network.parts.items():
        loc = ("model", "networks", name, part_name)
        if any(source in unavailable for source in part.inputs) or any(
            source not in tensors for source in part.inputs
        ):  # reads a failed part (reported already) or an unknown name (semantics reports it)
            unavailable.add(part_name)
            continue
        try:
            incoming = _concatenate(part_name, part.input, [tensors[s] for s in part.inputs], loc, set(shapes))
            out, rows = _flow_table(spec, name, part_name, part.table, part_chain(spec, name, part_name), incoming, loc)
        except _Stop as stop:
            problems.append(stop.problem)
            unavailable.add(part_name)
            continue
        tensors[part_name] = out
        trace.parts[part_name] = PartTrace(part_name, tuple(part.inputs), incoming.shape, out.shape, tuple(rows))
    if network.output_part in trace.parts:
        trace.output = trace.parts[network.output_part].out_shape
    return trace, problems


def _concatenate(part: str, spelled: str | list[str], inputs: list[_Tensor], loc: tuple, fixed: set[str]) -> _Tensor:
    """A part's input: one tensor, or several concatenated along channels (equal H and W).
    ``fixed`` names the model tensors, whose sizes a fix cannot change."""
    names = [spelled] if isinstance(spelled, str) else spelled
    first = inputs[0].shape
    for j, tensor in enumerate(inputs[1:], start=1):
        if tensor.shape[1:] != first[1:]:
            listed = ", ".join(f"{n} {format_shape(t.shape)}" for n, t in zip(names, inputs))
            raise _Stop(
                Problem(
                    "concat_size",
                    loc + ("input", j),
                    f"part {part} concatenates its inputs along channels, so their H×W must agree; "
                    f"{names[j]} is {_hw(tensor.shape)}, {names[0]} is {_hw(first)}. Received: {listed}",
                    _concat_fix(names[0], first, names[j], tensor.shape, fixed),
                )
            )
    channels = sum(t.shape[0] for t in inputs)
    rf: dict[str, tuple[Fraction, Fraction]] = {}
    for tensor in inputs:
        for source, (size, jump) in tensor.rf.items():
            if source not in rf or size > rf[source][0]:
                rf[source] = (size, jump)
    sources = tuple(zip(names, (t.shape[0] for t in inputs))) if len(inputs) > 1 else ()
    return _Tensor((channels, first[1], first[2]), rf, sources)


def _concat_fix(a: str, a_shape: Shape, b: str, b_shape: Shape, fixed: set[str]) -> str:
    """Change a part, not a model tensor: make b match a, or a match b."""
    if b in fixed and a not in fixed:
        a, a_shape, b, b_shape = b, b_shape, a, a_shape
    fix = f"make {b} give {_hw(a_shape)}" + _grow_hint(b_shape[1], a_shape[1])
    if a not in fixed and b not in fixed:
        fix += f", or {a} give {_hw(b_shape)}"
    return fix


def _flow_table(
    spec: Spec, network: str, part: str, table: list, chain: tuple[Defaults, ...], tensor: _Tensor, loc: tuple
) -> tuple[_Tensor, list[RowTrace]]:
    """The rows of a part's table, top to bottom."""
    rows = []
    trail = [_hw(tensor.shape)]
    for i, row in enumerate(table):
        row_loc = loc + ("table", i)
        if isinstance(row, BlockRow):
            tensor, trace = _block_row(spec, network, part, (i,), row, tensor, row_loc, "")
        elif isinstance(row, LayerRow):
            tensor, trace = _layer_row(network, part, (i,), resolve(row, chain), tensor, row_loc, "", trail)
        else:  # pragma: no cover - the row union has two members
            raise TypeError(type(row))
        trail.append(_hw(tensor.shape))
        rows.append(trace)
    return tensor, rows


def _block_row(
    spec: Spec,
    network: str,
    part: str,
    index: tuple[int, ...],
    row: BlockRow,
    tensor: _Tensor,
    loc: tuple,
    context: str,
) -> tuple[_Tensor, RowTrace]:
    """``{block: B, repeat: n}``: the block's table n times; residual blocks keep the shape."""
    if row.block not in spec.model.blocks:  # semantics reports unknown blocks
        raise _Stop(Problem("unknown_block", loc + ("block",), f"unknown block {row.block!r}"))
    block = spec.model.blocks[row.block]
    chain = block_chain(spec, row.block)
    start, inner = tensor, []
    act_params = ACTIVATIONS.get(block.activation).params if block.activation in ACTIVATIONS else 0
    memory = 0
    for rep in range(row.repeat):
        given = tensor
        where = f"{context}block {row.block}, repetition {rep + 1} of {row.repeat}"
        for j, block_row in enumerate(block.table):
            row_where = f"{where}, row {j} ({format_loc(('model', 'blocks', row.block, 'table', j))}): "
            if isinstance(block_row, BlockRow):
                tensor, trace = _block_row(spec, network, part, index + (rep, j), block_row, tensor, loc, row_where)
            else:
                tensor, trace = _layer_row(
                    network,
                    part,
                    index + (rep, j),
                    resolve(block_row, chain),
                    tensor,
                    loc,
                    row_where,
                    None,
                    ("model", "blocks", row.block, "table", j),
                )
            inner.append(trace)
            memory += trace.memory
        if block.residual and tensor.shape != given.shape:
            problem = _residual_problem(
                row.block, block.table, inner[-len(block.table) :], given.shape, tensor.shape, loc, where
            )
            raise _Stop(replace(problem, row=("model", "blocks", row.block)))
        if block.residual:  # x + table(x): the table's receptive field is the wider one
            memory += _bytes(tensor.shape)
        if block.activation != "none":
            memory += _bytes(tensor.shape)
    params = sum(t.params for t in inner) + act_params * row.repeat
    trace = RowTrace(
        network,
        part,
        index,
        row.block,
        loc,
        start.shape,
        tensor.shape,
        activation=block.activation,
        repeat=row.repeat,
        params=params,
        macs=sum(t.macs for t in inner),
        memory=memory,
        rf=_rf_ints(tensor.rf),
        inner=tuple(inner),
    )
    return tensor, trace


def _residual_problem(
    block: str, table: list, traces: list[RowTrace], given: Shape, got: Shape, loc: tuple, where: str
) -> Problem:
    changes = [
        f"row {t.index[-1]} ({t.layer} {format_shape(t.in_shape)} → {format_shape(t.out_shape)})"
        for t in traces
        if t.in_shape != t.out_shape
    ]
    return Problem(
        "residual_shape",
        loc,
        f"{where}: a residual block adds its input to its table's output (out = act(x + table(x))), so the table must "
        f"keep the shape; it turns {format_shape(given)} into {format_shape(got)}. Changed by: "
        f"{', '.join(changes) or 'its rows together'}",
        f"keep {given[0]} channels out and stride 1 with auto padding in block {block}'s table, or write residual: F",
        ctx=(("given", given), ("got", got)),
    )


def _layer_row(
    network: str,
    part: str,
    index: tuple[int, ...],
    r: Resolved,
    tensor: _Tensor,
    loc: tuple,
    context: str,
    trail: list[str] | None,
    row_path: tuple | None = None,
) -> tuple[_Tensor, RowTrace]:
    """A Conv or ConvTransp row, then BatchNorm and the activation (which keep the shape).
    A problem names the row it is about (``row_path``: a block's row, or ``loc``)."""
    try:
        return _layer_arithmetic(network, part, index, r, tensor, loc, context, trail)
    except _Stop as stop:
        if stop.problem.row is None:
            stop.problem = replace(stop.problem, row=row_path or loc)
        raise


def _layer_arithmetic(
    network: str,
    part: str,
    index: tuple[int, ...],
    r: Resolved,
    tensor: _Tensor,
    loc: tuple,
    context: str,
    trail: list[str] | None,
) -> tuple[_Tensor, RowTrace]:
    if r.layer not in LAYERS or r.activation not in ACTIVATIONS:  # semantics reports unknown names
        raise _Stop(Problem("unknown_name", loc, f"unknown layer or activation in {r.layer!r} / {r.activation!r}"))
    transposed = LAYERS.get(r.layer).transposed
    c, h, w = tensor.shape
    if r.c_in is not None and r.c_in != c:
        raise _Stop(
            Problem(
                "channels_in",
                _cell(loc, "channels", context),
                f"{context}row says {r.c_in} channels in, the incoming tensor has {c}{_sources(tensor)}. "
                f"Received: input {format_shape(tensor.shape)}, channels {r.c_in}/{r.c_out}",
                f"write {c}/{r.c_out} (or /{r.c_out} to take the channels from the input)",
                ctx=(("incoming", c),),
            )
        )
    if r.output_padding and not transposed:
        raise _Stop(
            Problem(
                "output_padding",
                _cell(loc, "output_padding", context),
                f"{context}output_padding applies to ConvTransp only; this row is a {r.layer}. Received: "
                f"output_padding={r.output_padding}",
                "remove output_padding, or write ConvTransp",
            )
        )
    if transposed and r.padding_mode != "zeros":  # torch's ConvTranspose2d pads with zeros only
        raise _Stop(
            Problem(
                "padding_mode",
                _cell(loc, "padding_mode", context),
                f"{context}a ConvTransp pads with zeros only (torch's ConvTranspose2d). Received: "
                f"padding_mode={r.padding_mode}",
                "write padding_mode: zeros on this row (as a mapping), or set the mode on the Conv rows' part or block",
            )
        )
    padding = _padding(r, h, w, transposed, loc, context)
    if r.padding_mode == "reflect" and padding >= min(h, w):  # torch: reflection needs padding < size
        raise _Stop(
            Problem(
                "padding_mode",
                _cell(loc, "padding_mode", context),
                f"{context}reflect padding of {padding} needs an input larger than {padding} pixels, found "
                f"{h}×{w}. Received: padding_mode=reflect",
                "use padding_mode: replicate here",
            )
        )
    if transposed:
        out_h, out_w = (conv_transpose_out(n, r.kernel, r.stride, padding, r.output_padding) for n in (h, w))
        _check_transpose(r, padding, (h, w), (out_h, out_w), loc, context)
    else:
        out_h, out_w = (conv_out(n, r.kernel, r.stride, padding) for n in (h, w))
        _check_conv_fits(r, padding, (h, w), tensor.shape, loc, context, trail)
    out = (r.c_out, out_h, out_w)
    act = ACTIVATIONS.get(r.activation)
    params = conv_params(c, r.c_out, r.kernel, r.bias) + (batchnorm_params(r.c_out) if r.batchnorm else 0) + act.params
    macs = c * r.c_out * r.kernel * r.kernel * ((h * w) if transposed else (out_h * out_w))
    tensors = 1 + r.batchnorm + (r.activation != "none")
    rf = _rf_step(tensor.rf, r.kernel, r.stride, transposed)
    dropped = (
        (0, 0)
        if transposed
        else (dropped_pixels(h, r.kernel, r.stride, padding), dropped_pixels(w, r.kernel, r.stride, padding))
    )
    trace = RowTrace(
        network,
        part,
        index,
        r.layer,
        loc,
        tensor.shape,
        out,
        padding=padding,
        kernel=r.kernel,
        stride=r.stride,
        output_padding=r.output_padding,
        bias=r.bias,
        batchnorm=r.batchnorm,
        spectral_norm=r.spectral_norm,
        activation=r.activation,
        params=params,
        macs=macs,
        memory=tensors * _bytes(out),
        rf=_rf_ints(rf),
        dropped=dropped,
    )
    return _Tensor(out, rf), trace


def _padding(r: Resolved, h: int, w: int, transposed: bool, loc: tuple, context: str) -> int:
    if r.padding != "auto":
        return int(r.padding)
    try:
        return auto_padding(r.kernel, r.stride)
    except ValueError:
        pass
    size = h if h == w else min(h, w)
    out = (
        (lambda p: conv_transpose_out(size, r.kernel, r.stride, p, r.output_padding))
        if transposed
        else (lambda p: conv_out(size, r.kernel, r.stride, p))
    )
    low = max((r.kernel - r.stride) // 2, 0)
    choices = sorted({low, low + 1})
    listed = " or ".join(f"padding {p} ({size} → {out(p)})" for p in choices)
    target = size * r.stride if transposed else (size if r.stride == 1 else f"{size}/{r.stride}")
    why = "odd" if r.kernel >= r.stride else "negative"
    indivisible = not transposed and size % r.stride != 0
    reason = (
        f"; {size} is not divisible by {r.stride}: no padding or kernel makes a stride-{r.stride} row exact here"
        if indivisible
        else f", so no padding makes this {r.layer} give exactly {target}"
    )
    return _raise(
        Problem(
            "auto_padding",
            loc,
            f"{context}padding auto = (kernel − stride) / 2 = ({r.kernel} − {r.stride}) / 2 is not a whole number "
            f"≥ 0 (kernel − stride is {why})"
            f"{reason}. Received: input {size}, kernel={r.kernel}, stride={r.stride}, padding=auto",
            f"write an explicit padding: {listed}; or, for "
            f"{'an exact size' if r.stride == 1 else ('exact upsampling' if transposed else 'exact downsampling')} "
            "with auto, a kernel of " + " or ".join(str(k) for k in _exact_kernels(r.kernel, r.stride)),
        )
    )


def _exact_kernels(kernel: int, stride: int) -> list[int]:
    """The kernels nearest ``kernel`` for which auto padding is exact at ``stride``."""
    if kernel < stride:
        return [stride]
    return [k for k in (kernel - 1, kernel + 1) if k >= stride]


def _check_conv_fits(
    r: Resolved, padding: int, sizes: tuple[int, int], shape: Shape, loc: tuple, context: str, trail: list[str] | None
) -> None:
    bad = [(axis, n) for axis, n in zip("HW", sizes) if n + 2 * padding < r.kernel]
    if not bad:
        return
    axis, n = bad[0]
    axes = " and ".join(a for a, _ in bad)
    flow_text = f"; sizes through the part: {' → '.join(trail)} → ✗" if trail else ""
    need_pad = -(-(r.kernel - n) // 2)
    grow = ""
    if r.stride > 1:
        grown = (
            conv_transpose_out(n, r.kernel, r.stride, auto_padding(r.kernel, r.stride))
            if has_auto_padding(r.kernel, r.stride)
            else None
        )
        grow = f"; to grow a tensor, use ConvTransp (a Conv with stride {r.stride} shrinks by {r.stride}" + (
            f", ConvTransp with kernel {r.kernel}, stride {r.stride} gives {n} → {grown})" if grown else ")"
        )
    _raise(
        Problem(
            "kernel_too_large",
            loc,
            f"{context}{r.layer} cannot apply: the kernel {r.kernel} is larger than the padded input {n} + "
            f"2·{padding} = {n + 2 * padding} "
            f"along {axes}{flow_text}. Received: input {format_shape(shape)}, kernel={r.kernel}, "
            f"stride={r.stride}, padding={padding}{_auto(r)}",
            f"padding ≥ {need_pad} (so that {n} + 2·padding ≥ {r.kernel}), a kernel ≤ {n + 2 * padding}, "
            f"or an input of at least {r.kernel - 2 * padding} pixels here{grow}",
        )
    )


def _check_transpose(
    r: Resolved, padding: int, sizes: tuple[int, int], outs: tuple[int, int], loc: tuple, context: str
) -> None:
    if r.output_padding >= r.stride:
        _raise(
            Problem(
                "output_padding",
                _cell(loc, "output_padding", context),
                f"{context}output_padding must be smaller than the stride (torch refuses it otherwise). Received: "
                f"output_padding={r.output_padding}, stride={r.stride}",
                f"write output_padding {r.stride - 1 if r.stride > 1 else 0} or less"
                + ("" if r.stride > 1 else " (none at stride 1)")
                + "; for more output pixels, raise the kernel or lower the padding",
            )
        )
    bad = [(axis, n, o) for axis, n, o in zip("HW", sizes, outs) if o < 1]
    if bad:
        axis, n, o = bad[0]
        most = ((n - 1) * r.stride + r.kernel + r.output_padding - 1) // 2
        _raise(
            Problem(
                "no_output",
                loc,
                f"{context}{r.layer} gives no pixels along {axis}: ({n} − 1)·{r.stride} − 2·{padding} + "
                f"{r.kernel} + {r.output_padding} = {o}. "
                f"Received: input size {n}, kernel={r.kernel}, stride={r.stride}, padding={padding}{_auto(r)}, "
                f"output_padding={r.output_padding}",
                f"padding ≤ {most}, or a larger kernel",
            )
        )


def _sources(tensor: _Tensor) -> str:
    """' = A 12 + B 16' for a concatenation, so that both sides of a mismatch are named."""
    return (" = " + " + ".join(f"{name} {c}" for name, c in tensor.sources)) if tensor.sources else ""


def _cell(loc: tuple, column: str, context: str) -> tuple:
    """The row's cell, for a row of the part's own table; a row inside a block is reported at
    the part's row that applies the block (``context`` names the block's row)."""
    return loc if context else loc + (column,)


def _auto(r: Resolved) -> str:
    return " (auto)" if r.padding == "auto" else ""


def _raise(problem: Problem):
    raise _Stop(problem)


# --- receptive field -----------------------------------------------------------------------------


def _rf_step(rf: Mapping[str, tuple[Fraction, Fraction]], kernel: int, stride: int, transposed: bool) -> dict:
    """Conv: the field grows by (k − 1) input steps and the step by s. ConvTransp: an output
    pixel reads at most ceil(k / s) input pixels, and the step shrinks by s."""
    out = {}
    for source, (size, jump) in rf.items():
        if transposed:
            out[source] = (size + (math.ceil(kernel / stride) - 1) * jump, jump / stride)
        else:
            out[source] = (size + (kernel - 1) * jump, jump * stride)
    return out


def _rf_ints(rf: Mapping[str, tuple[Fraction, Fraction]]) -> dict[str, int]:
    return {source: math.ceil(size) for source, (size, _) in rf.items()}


# --- input sizes ---------------------------------------------------------------------------------


def scaled_shapes(shapes: Mapping[str, Sequence[int]], reference: str, size: int) -> dict[str, Shape] | None:
    """The model tensors with ``reference``'s height set to ``size`` and every H and W scaled by
    the same factor; None where some tensor's size would not be a whole number."""
    factor = Fraction(size, shapes[reference][1])
    out = {}
    for name, (c, h, w) in shapes.items():
        sh, sw = h * factor, w * factor
        if sh.denominator != 1 or sw.denominator != 1 or sh < 1 or sw < 1:
            return None
        out[name] = (c, int(sh), int(sw))
    return out


# --- formatting ----------------------------------------------------------------------------------


def _bytes(shape: Shape) -> int:
    return shape[0] * shape[1] * shape[2] * BYTES_PER_VALUE


def _grow_hint(have: int, want: int) -> str:
    if have < want:
        return f" (growing {have} to {want} takes ConvTransp rows)"
    if have > want:
        return f" (shrinking {have} to {want} takes Conv rows with stride > 1)"
    return ""
