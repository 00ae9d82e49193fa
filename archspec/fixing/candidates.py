"""Candidate edits for a problem: what a person would try, before any is checked.

Each generator takes a :class:`View` of the spec (its plain data, the validated spec when there
is one, the shape flow) and a problem, and yields lists of :class:`~archspec.fixing.fixes.Edit`. Nothing
here decides what is shown: :mod:`archspec.fixing.repair` applies every candidate, re-runs the checks,
and keeps those after which the problem is gone and nothing new is wrong. So a generator may be
generous; it is kept small only so that checking stays fast (a few dozen candidates a problem).

The candidates, by problem:

- a misspelt name, key or value: the did-you-mean suggestion;
- a row with a column missing in the middle: ``_`` where the column is missing;
- channels that disagree: the row's own ``in``, the row's ``in`` and ``out`` together (a row that
  disagrees with both neighbours), or the ``out`` of the row or part that feeds it;
- a size that does not work out (padding auto, a kernel that does not fit, a transposed row
  without output, a residual block that changes the shape, a concatenation or a network output of
  the wrong size): a kernel, stride, padding or output padding of the rows that make that size,
  or their layer type, one cell at a time; where a size must change by a ratio, only the cells
  that change their row's size by that ratio, and pairs of them in parallel branches; a whole
  part's layer type flipped (Conv rows that were meant to be ConvTransp).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Any

from archspec.checking.arith import conv_out, conv_transpose_out, has_auto_padding
from archspec.fixing.fixes import Edit, document_path, get
from archspec.language.columns import ROW_COLUMNS, missing_columns
from archspec.language.errors import Problem, suggested_name
from archspec.language.registry import LAYERS
from archspec.language.resolve import Resolved, block_chain, part_chain, resolve
from archspec.language.spec import LayerRow, Spec

Candidate = list[Edit]
MAX_PAIRS = 48  # two-cell candidates checked for one problem

# Problems whose fix is a did-you-mean suggestion: a value to replace, or a key to rename.
RENAME_CODES = {"unknown_key", "unknown_network", "unknown_shape"}
NAME_CODES = {
    "unknown_layer",
    "unknown_activation",
    "unknown_block",
    "unknown_input",
    "unknown_part",
    "unknown_kind",
    "literal_error",
}
SIZE_CODES = {
    "auto_padding",
    "kernel_too_large",
    "no_output",
    "output_padding",
    "residual_shape",
    "concat_size",
    "contract",
}


@dataclass(frozen=True)
class RowRef:
    """A layer row: where it is in the document, what it says, what it means after defaults."""

    path: tuple  # document path of the row
    row: LayerRow
    resolved: Resolved
    is_list: bool  # written as a flow list (cells by index) or a mapping (cells by key)

    def cell(self, column: str) -> tuple:
        if self.is_list and column in ROW_COLUMNS:
            return self.path + (ROW_COLUMNS.index(column),)
        return self.path + (column,)

    def set(self, column: str, value: Any) -> Edit:
        return Edit("set", self.cell(column), value)

    def channels(self, c_in: int | None, c_out: int) -> Edit:
        return self.set("channels", f"{'' if c_in is None else c_in}/{c_out}")


@dataclass
class View:
    """What the generators read: the document's data and, past the form checks, the spec."""

    data: Any
    spec: Spec | None
    scaled: bool = False  # model.scale multiplies the channels written in the rows
    _rows: dict[tuple, RowRef] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.spec is None:
            return
        for name, block in self.spec.model.blocks.items():
            self._add(("model", "blocks", name, "table"), block.table, block_chain(self.spec, name))
        for net, network in self.spec.model.networks.items():
            for part_name, part in network.parts.items():
                self._add(
                    ("model", "networks", net, part_name, "table"), part.table, part_chain(self.spec, net, part_name)
                )

    def _add(self, loc: tuple, table: list, chain: tuple) -> None:
        for i, row in enumerate(table):
            if isinstance(row, LayerRow):
                path = loc + (i,)
                self._rows[path] = RowRef(path, row, resolve(row, chain), isinstance(get(self.data, path), list))

    def row(self, path: tuple | None) -> RowRef | None:
        return self._rows.get(tuple(path)) if path else None

    def table(self, loc: tuple) -> list[RowRef | None]:
        """A table's rows in order (None for a block row)."""
        table = get(self.data, loc)
        return [self._rows.get(loc + (i,)) for i in range(len(table))] if isinstance(table, list) else []

    @cached_property
    def flow(self):
        from archspec.checking.shapes import flow  # imported here: only size problems need the traces

        return flow(self.spec)


def candidates(view: View, problem: Problem) -> Iterator[Candidate]:
    """Candidate edit lists for ``problem``, the likeliest first."""
    if problem.code in RENAME_CODES | NAME_CODES:
        yield from _names(view, problem)
    elif problem.code == "row_columns":
        path = document_path(problem.loc, view.data)
        for i in missing_columns(get(view.data, path) or []):
            yield [Edit("insert", path + (i,), "_")]
    elif problem.code == "tile_size" and view.spec is not None and "x" in view.spec.model.shapes:
        yield [Edit("set", ("data", "tile"), view.spec.model.shapes["x"][1])]
    elif problem.code == "removed_key":
        yield [Edit("delete", document_path(problem.loc, view.data))]
    elif view.spec is not None and problem.code == "channels_in" and not view.scaled:
        yield from _channels(view, problem)  # (under model.scale the text's channels are not the flow's)
    elif view.spec is not None and problem.code in SIZE_CODES:
        yield from _sizes(view, problem)


def _names(view: View, problem: Problem) -> Iterator[Candidate]:
    name = suggested_name(problem.fix)
    if name is None:
        return
    path = document_path(problem.loc, view.data)
    yield [Edit("rename" if problem.code in RENAME_CODES else "set", path, name)]


# --- channels ---------------------------------------------------------------------------------


def _channels(view: View, problem: Problem) -> Iterator[Candidate]:
    """The consumer's ``in`` (today's fix), the consumer whole (it disagrees with both sides), or
    the producer's ``out`` (the typo is upstream: blame the origin)."""
    consumer = view.row(problem.row)
    if consumer is None:
        return
    if consumer.path[:2] == ("model", "blocks") and consumer.path[-1] == 0 and problem.loc[:2] == ("model", "networks"):
        before = (
            view.row(tuple(problem.loc[:-1]) + (problem.loc[-1] - 1,)) if isinstance(problem.loc[-1], int) else None
        )
        if (
            before is not None and consumer.row.channels.in_ is not None
        ):  # the block's first row reads the part's row above it
            yield [before.channels(before.row.channels.in_, consumer.row.channels.in_)]
    incoming = dict(problem.ctx).get("incoming")
    if incoming is None:
        return
    c_in, c_out = consumer.row.channels.in_, consumer.row.channels.out
    yield [consumer.channels(incoming, c_out)]
    expected = _expected_out(view, consumer)
    if expected is not None and expected != c_out:
        yield [consumer.channels(incoming, expected)]
    for producer, others in _producers(view, consumer):
        if c_in is not None and c_in - others >= 1:
            yield [producer.channels(producer.row.channels.in_, c_in - others)]


def _neighbours(view: View, ref: RowRef) -> tuple[list, int]:
    loc, index = ref.path[:-1], ref.path[-1]
    return view.table(loc), index


def _expected_out(view: View, ref: RowRef) -> int | None:
    """What the next layer row of the same table says it reads."""
    table, index = _neighbours(view, ref)
    following = table[index + 1] if index + 1 < len(table) else None
    return following.row.channels.in_ if following is not None else None


def _producers(view: View, consumer: RowRef) -> Iterator[tuple[RowRef, int]]:
    """(row whose ``out`` feeds the consumer, channels the other concatenated inputs add)."""
    table, index = _neighbours(view, consumer)
    if index > 0:
        if table[index - 1] is not None:
            yield table[index - 1], 0
        return
    loc = consumer.path
    if loc[:2] != ("model", "networks"):
        return
    network = view.spec.model.networks[loc[2]]
    sources = network.parts[loc[3]].inputs
    outputs = {}
    for name in sources:
        if name in network.parts:
            outputs[name] = network.parts[name].table[-1]
        elif name in view.spec.model.shapes:
            outputs[name] = view.spec.model.shapes[name][0]
    if len(outputs) != len(sources):
        return
    channels = {
        n: (o.channels.out if isinstance(o, LayerRow) else o if isinstance(o, int) else None)
        for n, o in outputs.items()
    }
    if None in channels.values():
        return
    for name in sources:
        if name in network.parts:
            ref = view.row(("model", "networks", loc[2], name, "table", len(network.parts[name].table) - 1))
            if ref is not None:
                yield ref, sum(c for n, c in channels.items() if n != name)


# --- sizes ------------------------------------------------------------------------------------


def _sizes(view: View, problem: Problem) -> Iterator[Candidate]:
    if problem.code == "contract" and problem.loc[-1] == "channels":
        ref = view.row(document_path(problem.loc[:-1], view.data))
        want = dict(problem.ctx).get("want")
        if ref is not None and want is not None:
            yield [ref.channels(ref.row.channels.in_, want[0])]
        return
    if problem.code == "residual_shape":
        yield from _residual(view, problem)
        return
    if problem.code in ("contract", "concat_size"):
        yield from _ratio(view, problem)
        return
    ref = view.row(problem.row)
    if ref is None:
        return
    yield from _row_cells(ref, problem.code)
    if problem.code == "kernel_too_large":  # the input shrank too early: the rows before it
        table, index = _neighbours(view, ref)
        for earlier in table[:index]:
            if earlier is not None:
                yield from _row_cells(earlier, "shrink")
        yield from _flip_tables(view, [ref.path[:-1]])


def _row_cells(ref: RowRef, why: str) -> Iterator[Candidate]:
    """One cell of one row at a time: the stride, kernel, padding, output padding and layer."""
    r = ref.resolved
    k, s = r.kernel, r.stride
    transposed = LAYERS.get(r.layer).transposed if r.layer in LAYERS else False
    if why == "output_padding" and r.output_padding:
        yield [Edit("delete", ref.path + ("output_padding",))] if not ref.is_list else [ref.set("output_padding", 0)]
        for op in range(1, s):
            yield [ref.set("output_padding", op)]
        if not transposed:
            yield [ref.set("layer", "ConvTransp")]
        yield [ref.set("stride", r.output_padding + 1)]
        return
    strides = [
        x for x in dict.fromkeys([2 * s, s // 2 if s % 2 == 0 else 0, 1, 2, 4, s + 1, s - 1]) if x >= 1 and x != s
    ]
    kernels = [x for x in dict.fromkeys([k - 1, k + 1, k - 2, k + 2, s, s + 2, 2 * s]) if x >= 1 and x != k]
    for stride in strides:
        yield [ref.set("stride", stride)]
        if r.padding == "auto" and not has_auto_padding(k, stride):  # the stride alone breaks auto padding
            for kernel in (k - 1, k + 1):
                if kernel >= 1 and has_auto_padding(kernel, stride):
                    yield [ref.set("stride", stride), ref.set("kernel", kernel)]
    for kernel in kernels:
        yield [ref.set("kernel", kernel)]
    paddings = ["auto"] if r.padding != "auto" else []
    base = max((k - s) // 2, 0)
    paddings += [p for p in (base, base + 1, (k - s + 1) // 2, 0, k // 2) if p >= 0]
    if isinstance(r.padding, int):
        paddings += [r.padding - 1, r.padding + 1]
    for padding in dict.fromkeys(p for p in paddings if p != r.padding and (p == "auto" or p >= 0)):
        yield [ref.set("padding", padding)]
    if transposed:
        for op in range(s):
            if op != r.output_padding:
                yield [ref.set("output_padding", op)]
    if why != "auto_padding":
        yield [ref.set("layer", "Conv" if transposed else "ConvTransp")]


def _flip_tables(view: View, tables: Sequence[tuple]) -> Iterator[Candidate]:
    """Every Conv row of a table written ConvTransp (the model card's misprint), or back; then
    the same with their explicit paddings back to auto (a padding chosen for the other layer)."""
    for loc in tables:
        rows = [ref for ref in view.table(loc) if ref is not None]
        for old, new in (("Conv", "ConvTransp"), ("ConvTransp", "Conv")):
            flipped = [ref for ref in rows if ref.row.layer == old]
            if len(flipped) >= 2:
                yield [ref.set("layer", new) for ref in flipped]
                padded = [ref.set("padding", "auto") for ref in flipped if ref.row.padding not in (None, "auto")]
                if padded:
                    yield [ref.set("layer", new) for ref in flipped] + padded


def _residual(view: View, problem: Problem) -> Iterator[Candidate]:
    """The block's rows one cell at a time, each row's channels back to the block's input, or
    ``residual: F``."""
    block = problem.row[2] if problem.row else None
    if block is None or block not in view.spec.model.blocks:
        return
    loc = ("model", "blocks", block, "table")
    refs = [ref for ref in view.table(loc) if ref is not None]
    given = dict(problem.ctx)["given"][0] if "given" in dict(problem.ctx) else None
    for ref in refs:
        if ref.resolved.stride != 1:
            yield [ref.set("stride", 1)]
        if given is not None and ref is refs[-1] and ref.row.channels.out != given:
            yield [ref.channels(ref.row.channels.in_, given)]
        if given is not None and ref is refs[0] and ref.row.channels.in_ not in (None, given):
            yield [ref.channels(given, ref.row.channels.out)]
        yield from _row_cells(ref, "residual")
    yield [Edit("set", ("model", "blocks", block, "residual"), "F")]


def _ratio(view: View, problem: Problem) -> Iterator[Candidate]:
    """A network's output or a concatenation's input of the wrong size: the cells that change
    their row's size by the ratio needed, alone, then in pairs across parallel parts."""
    network = problem.loc[2]
    traces = view.flow.networks.get(network)
    if traces is None:
        return
    targets = _size_targets(view, problem, traces)  # part -> the output size it should have
    singles: list[tuple[str, Candidate]] = []
    for part, want in targets.items():
        trace = traces.parts.get(part)
        if trace is None:
            continue
        ratio = Fraction(want, trace.out_shape[1])
        for part_name in _upstream(view.spec, network, part):
            for row_trace in traces.parts[part_name].rows if part_name in traces.parts else ():
                ref = view.row(row_trace.loc)
                if ref is None or row_trace.index != (row_trace.index[0],):
                    continue
                for candidate in _row_cells(ref, "ratio"):
                    if _scales(ref, candidate, row_trace.in_shape[1], row_trace.out_shape[1], ratio):
                        singles.append((part_name, candidate))
                        yield candidate
    tables = {("model", "networks", network, p, "table") for p in targets for p in _upstream(view.spec, network, p)}
    yield from _flip_tables(view, sorted(tables))
    pairs = 0
    for i, (part_a, a) in enumerate(singles):
        for part_b, b in singles[i + 1 :]:
            if part_a != part_b and pairs < MAX_PAIRS:
                pairs += 1
                yield a + b


def _size_targets(view: View, problem: Problem, traces) -> dict[str, int]:
    """The parts whose output must change size, and the size each must reach."""
    network = view.spec.model.networks[problem.loc[2]]
    if problem.code == "contract":
        want = dict(problem.ctx).get("want")
        return {network.output_part: want[1]} if want else {}
    part = network.parts[problem.loc[3]]
    sizes = {}
    for name in part.inputs:
        trace = traces.parts.get(name)
        sizes[name] = (
            trace.out_shape[1]
            if trace is not None
            else view.spec.model.shapes[name][1]
            if name in view.spec.model.shapes
            else None
        )
    targets = {}
    for name in part.inputs:
        others = {sizes[o] for o in part.inputs if o != name and sizes[o] is not None}
        if name in traces.parts and len(others) == 1 and sizes[name] not in others:
            targets[name] = others.pop()
    return targets


def _upstream(spec: Spec, network: str, part: str) -> list[str]:
    """``part`` and every part it reads, directly or not, in table order."""
    parts = spec.model.networks[network].parts
    seen, stack = set(), [part]
    while stack:
        name = stack.pop()
        if name in parts and name not in seen:
            seen.add(name)
            stack.extend(parts[name].inputs)
    return [p for p in parts if p in seen]


def _scales(ref: RowRef, edits: Candidate, size: int, out: int, ratio: Fraction) -> bool:
    """Does the row, so edited, turn ``size`` into ``out · ratio`` (only its own cells changed)?"""
    r = ref.resolved
    values = {
        "kernel": r.kernel,
        "stride": r.stride,
        "padding": r.padding,
        "output_padding": r.output_padding,
        "layer": r.layer,
    }
    for edit in edits:
        column = ROW_COLUMNS[edit.path[-1]] if isinstance(edit.path[-1], int) else edit.path[-1]
        if edit.op != "set" or column not in values:
            return False
        values[column] = edit.value
    k, s = values["kernel"], values["stride"]
    padding = values["padding"]
    if padding == "auto":
        if not has_auto_padding(k, s):
            return False
        padding = (k - s) // 2
    if values["layer"] not in LAYERS:
        return False
    if LAYERS.get(values["layer"]).transposed:
        got = conv_transpose_out(size, k, s, padding, values["output_padding"])
    else:
        got = conv_out(size, k, s, padding) if size + 2 * padding >= k else 0
    return got >= 1 and Fraction(got) == out * ratio
