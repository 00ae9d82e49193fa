"""``archspec draw``: the network as a picture, from the static shape flow alone (no torch).

Each network of the kind is a box of its parts and rows, top to bottom: a node per row (layer,
channels, kernel/stride, BatchNorm, activation; a residual block with its skip and repeat
count), the tensor shape (C × H × W) on every edge, a concatenation as a merge node, the
model's tensors (x, y, z) as inputs, and each network's parameters and multiply-adds in its
title. A Gaussian network's output (mean and log-variance) feeds the latent it parametrises.

The drawing is data first (:class:`Drawing`: nodes and edges), then text in one of two
formats: **Mermaid** (renders in GitHub and GitLab Markdown as it is) and **Graphviz DOT**;
SVG, PNG and PDF are DOT rendered by Graphviz's ``dot`` program, when it is installed.

With a second spec (:func:`drawing` ``against=``), rows whose content differs are highlighted
with the other spec's values and the change in parameters, rows it lacks are marked new, and
rows only it has are drawn dashed as removed.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from archspec.checking.shapes import flow
from archspec.checking.traces import RowTrace
from archspec.language.kinds import KINDS
from archspec.language.spec import Spec
from archspec.presenting.show import _si  # the multiply-adds as `archspec show` writes them

FORMATS = ("mermaid", "dot")
RENDERED = ("svg", "png", "pdf")  # through Graphviz's dot
INSTALL_GRAPHVIZ = (
    "Graphviz's `dot` program renders SVG, PNG and PDF and is not installed here: install it "
    "(apt install graphviz, brew install graphviz, conda install -c conda-forge graphviz), or write "
    "Mermaid (-o FILE.md, renders on GitHub and GitLab) or DOT (-o FILE.dot) instead"
)


@dataclass(frozen=True)
class Node:
    id: str
    lines: tuple[str, ...]
    kind: str  # "tensor", "row", "merge", "output", "removed"
    network: str | None = None
    changed: bool = False
    row: RowTrace | None = None


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    label: str = ""
    dashed: bool = False


@dataclass
class Drawing:
    title: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    clusters: dict[str, str] = field(default_factory=dict)  # network -> its title

    def add(self, node: Node) -> str:
        self.nodes[node.id] = node
        return node.id

    def rows(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "row"]


def _id(*parts: object) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(str(p) for p in parts))


def format_shape(shape) -> str:
    """C×H×W, as a figure of a network writes a tensor's shape."""
    return "×".join(str(n) for n in shape)


def row_text(row: RowTrace) -> str:
    """What a row is, in one line: 'Conv 64→128 k4 s2 BN ReLU', 'ResBlock ×9 (skip) ReLU'."""
    if row.inner:
        text = f"{row.layer} ×{row.repeat} (skip)"
    else:
        text = f"{row.layer} {row.in_shape[0]}→{row.out_shape[0]} k{row.kernel} s{row.stride}"
        text += f" op{row.output_padding}" if row.output_padding else ""
        text += " +bias" if row.bias else ""
        text += " SN" if row.spectral_norm else ""  # spectral norm
        text += " BN" if row.batchnorm else ""
    return text + (f" {row.activation}" if row.activation != "none" else "")


def _row_key(row: RowTrace) -> tuple:
    return (row.network, row.part, row.index)


def drawing(spec: Spec, against: Spec | None = None) -> Drawing:
    """The drawing of ``spec``; with ``against``, its differences from that spec highlighted."""
    traced = flow(spec)
    old = {}
    if against is not None:
        old = {_row_key(r): r for net in flow(against).networks.values() for r in net.rows}
    kind = KINDS.get(spec.model.kind)
    shapes = spec.model.shapes
    title = f"{spec.name} ({spec.model.kind}): {traced.params:,} parameters"
    if against is not None:
        title += f", against {against.name}"
    d = Drawing(title)
    for name, shape in shapes.items():
        d.add(Node(_id("t", name), (f"{name} {format_shape(shape)}",), "tensor"))
    seen: set[tuple] = set()
    for net_name, net in traced.networks.items():
        macs = sum(r.macs for r in net.rows)
        d.clusters[net_name] = f"{net_name}: {net.params:,} parameters, {_si(macs)} multiply-adds per sample"
        ends: dict[str, str] = {}  # a part's name -> the node its output leaves from
        for part in net.parts.values():
            sources = [(ends.get(s) or _id("t", s), s) for s in part.inputs]
            if len(sources) > 1:
                into = d.add(
                    Node(
                        _id(net_name, part.name, "in"),
                        (f"concat {' + '.join(part.inputs)}", format_shape(part.in_shape)),
                        "merge",
                        net_name,
                    )
                )
                for src, source in sources:
                    given = net.parts[source].out_shape if source in net.parts else shapes[source]
                    d.edges.append(Edge(src, into, format_shape(given)))
                previous, shape = into, part.in_shape
            else:
                previous, shape = sources[0][0], part.in_shape
            for row in part.rows:
                key = _row_key(row)
                seen.add(key)
                node = _row_node(net_name, part.name, row, old.get(key), against is not None)
                d.add(node)
                d.edges.append(Edge(previous, node.id, format_shape(shape)))
                previous, shape = node.id, row.out_shape
            ends[part.name] = previous
        role = next(r for r in kind.roles if r.name == net_name)
        out = d.add(
            Node(
                _id(net_name, "out"),
                (f"{net_name} output", format_shape(net.output) if net.output else "(does not flow)"),
                "output",
                net_name,
            )
        )
        last = ends.get(spec.model.networks[net_name].output_part)
        if last is not None:
            d.edges.append(Edge(last, out, format_shape(net.output) if net.output else ""))
        if role.gaussian:  # mean and log-variance of the latent: drawn feeding it
            for latent in _latents(spec, kind):
                d.edges.append(Edge(out, _id("t", latent), "μ, log σ²", dashed=True))
    for key, row in old.items():
        if key not in seen:  # rows the other spec has and this one lacks
            d.add(
                Node(_id("removed", *key[:2], *key[2]), (f"removed: {key[1]}.{key[2][0]} {row_text(row)}",), "removed")
            )
    return d


def _row_node(net: str, part: str, row: RowTrace, before: RowTrace | None, diffing: bool) -> Node:
    lines = [f"{part}.{row.index[0]} {row_text(row)}", f"{row.params:,} params · {_si(row.macs)} MACs"]
    changed = False
    if diffing:
        if before is None:
            lines.append("new row")
            changed = True
        elif _content(before) != _content(row):
            delta = row.params - before.params
            lines.append(f"was: {row_text(before)} ({delta:+,} params)")
            changed = True
    return Node(_id(net, part, *row.index), tuple(lines), "row", net, changed, row)


def _content(row: RowTrace) -> tuple:
    return (row_text(row), row.in_shape, row.out_shape, row.padding, row.params, tuple(_content(r) for r in row.inner))


def _latents(spec: Spec, kind) -> list[str]:
    """The tensors a Gaussian network parametrises: read by the networks, given by no data (z)."""
    read = {s for n in spec.model.networks.values() for p in n.parts.values() for s in p.inputs}
    return [t for t in kind.tensors if t in read and t not in ("x", "y")]


# --- text -------------------------------------------------------------------------------------------


def _mermaid_text(lines: Iterable[str]) -> str:
    return "<br/>".join(line.replace('"', "#quot;") for line in lines)


def mermaid(d: Drawing) -> str:
    """Mermaid flowchart text (top to bottom); changed rows in class ``changed``."""
    out = ["flowchart TB", f"  %% {d.title}"]
    shapes = {"tensor": ('(["', '"])'), "row": ('["', '"]'), "merge": ('{{"', '"}}'), "output": ('(["', '"])')}
    for node in d.nodes.values():
        if node.network is None:
            left, right = shapes.get(node.kind, ('["', '"]'))
            out.append(f"  {node.id}{left}{_mermaid_text(node.lines)}{right}")
    for net, title in d.clusters.items():
        out.append(f'  subgraph {_id("net", net)}["{_mermaid_text([title])}"]')
        out.append("    direction TB")
        for node in d.nodes.values():
            if node.network == net:
                left, right = shapes[node.kind]
                out.append(f"    {node.id}{left}{_mermaid_text(node.lines)}{right}")
        out.append("  end")
    for e in d.edges:
        arrow = "-.->" if e.dashed else "-->"
        label = f'|"{_mermaid_text([e.label])}"|' if e.label else ""
        out.append(f"  {e.src} {arrow}{label} {e.dst}")
    changed = [n.id for n in d.nodes.values() if n.changed]
    removed = [n.id for n in d.nodes.values() if n.kind == "removed"]
    if changed or removed:
        out.append("  classDef changed fill:#ffe0b2,stroke:#e65100,stroke-width:2px")
        out.append("  classDef removed fill:#eeeeee,stroke:#9e9e9e,stroke-dasharray: 4 3")
    if changed:
        out.append(f"  class {','.join(changed)} changed")
    if removed:
        out.append(f"  class {','.join(removed)} removed")
    return "\n".join(out) + "\n"


def _dot_text(lines: Iterable[str]) -> str:
    return "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)


def dot(d: Drawing) -> str:
    """Graphviz DOT text: a cluster per network; changed rows filled orange, removed ones dashed."""
    style = {
        "tensor": 'shape=ellipse, style=filled, fillcolor="#e3f2fd"',
        "row": "shape=box",
        "merge": 'shape=hexagon, style=filled, fillcolor="#f3e5f5"',
        "output": 'shape=ellipse, style=filled, fillcolor="#e8f5e9"',
        "removed": 'shape=box, style=dashed, color="#9e9e9e"',
    }

    def node_line(node: Node, indent: str) -> str:
        extra = ', style=filled, fillcolor="#ffe0b2", color="#e65100", penwidth=2' if node.changed else ""
        return f'{indent}{node.id} [label="{_dot_text(node.lines)}", {style[node.kind]}{extra}];'

    out = [
        "digraph archspec {",
        f'  label="{_dot_text([d.title])}"; labelloc=t; fontname="Helvetica";',
        '  node [fontname="Helvetica", fontsize=10]; edge [fontname="Helvetica", fontsize=9];',
    ]
    out += [node_line(n, "  ") for n in d.nodes.values() if n.network is None]
    for net, title in d.clusters.items():
        out.append(f"  subgraph cluster_{_id(net)} {{")
        out.append(f'    label="{_dot_text([title])}"; style=rounded; color="#90a4ae";')
        out += [node_line(n, "    ") for n in d.nodes.values() if n.network == net]
        out.append("  }")
    for e in d.edges:
        attrs = [f'label="{_dot_text([e.label])}"'] if e.label else []
        attrs += ["style=dashed"] if e.dashed else []
        out.append(f"  {e.src} -> {e.dst}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"


def render(d: Drawing, fmt: str) -> str:
    """The drawing as ``mermaid`` or ``dot`` text."""
    return mermaid(d) if fmt == "mermaid" else dot(d)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary in the same folder, renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(temporary, 0o666 & ~umask)  # as open() would make it, not mkstemp's 0600
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
