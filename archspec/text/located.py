"""YAML data whose every node remembers the file, line and column it came from.

A spec that ``extends:`` another is the base's tree with the child's nodes put into it; a node
keeps its own position wherever it moves (a row inherited from the base keeps the base file's
line, a row the child wrote keeps the child's), so an error about the composed spec names the
file that holds the offending text. :class:`Composed` is the :class:`~archspec.text.yamlpos.Document`
of such a tree: ``locate`` answers with the file as well as the line and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archspec.text.yamlpos import Document, Path

Where = tuple[str, int, int]  # (file, line, column), 1-based


@dataclass
class Node:
    """One YAML value: a scalar, ``list[Node]`` or ``dict[key, Node]``, and where it stands."""

    value: Any
    at: Where  # where the value starts
    key_at: Where | None = None  # where its key starts, for a mapping's entry


def tree(doc: Document, file: str) -> Node:
    """The located tree of a parsed document (``doc.data`` must not be None)."""

    def build(data: Any, path: Path) -> Node:
        at = (file, *doc.position(path))
        key_at = (file, *doc.keys[path]) if path in doc.keys else None
        if isinstance(data, dict):
            value: Any = {k: build(v, path + (k,)) for k, v in data.items()}
        elif isinstance(data, list):
            value = [build(v, path + (i,)) for i, v in enumerate(data)]
        else:
            value = data
        return Node(value, at, key_at)

    return build(doc.data, ())


def plain(node: Node) -> Any:
    """The tree as plain data (what ``yaml.safe_load`` would give)."""
    if isinstance(node.value, dict):
        return {k: plain(v) for k, v in node.value.items()}
    if isinstance(node.value, list):
        return [plain(v) for v in node.value]
    return node.value


@dataclass
class Composed(Document):
    """A document assembled from several files: every position carries its file."""

    value_files: dict[Path, str] = field(default_factory=dict)
    key_files: dict[Path, str] = field(default_factory=dict)

    def locate(self, path: Path, *, key: bool = False, file: str = "<spec>") -> tuple[str, int, int]:
        path = tuple(path)
        while True:
            if key and path in self.keys:
                return (self.key_files[path], *self.keys[path])
            if path in self.values:
                return (self.value_files[path], *self.values[path])
            if not path:
                return (file, 1, 1)
            path = path[:-1]


def document(root: Node, problems: list | None = None) -> Composed:
    """The :class:`Composed` document of a located tree."""
    doc = Composed(data=None, problems=list(problems or []))

    def walk(node: Node, path: Path) -> Any:
        doc.values[path], doc.value_files[path] = node.at[1:], node.at[0]
        if node.key_at is not None and path:
            doc.keys[path], doc.key_files[path] = node.key_at[1:], node.key_at[0]
        if isinstance(node.value, dict):
            return {k: walk(v, path + (k,)) for k, v in node.value.items()}
        if isinstance(node.value, list):
            return [walk(v, path + (i,)) for i, v in enumerate(node.value)]
        return node.value

    doc.data = walk(root, ())
    return doc
