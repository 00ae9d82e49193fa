"""Fixes as data: edits of a spec by path, applied to its plain data (to check them) and to its
text by position (to apply them), keeping every comment, flow-style row and blank line as it was.

A :class:`Fix` is a title for people and a tuple of :class:`Edit` (a path in the YAML document
and what to do there), like ruff's and rustc's machine-applicable suggestions. Edits never
re-emit the document: each one replaces, inserts or deletes a span of the original text found
from the positions PyYAML gives every node, so the rest of the file is left byte for byte.
Where a span cannot be found (an alias, a node written in block style where a one-line value is
needed), :class:`CannotEdit` is raised and the fix is not offered.

Edit paths are document paths: list indices for list items, a flow-list row's columns included
(``(..., 'table', 1, 2)`` is row 1's kernel); :func:`document_path` turns column names into them.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from archspec.language.pydantic_problems import position_path
from archspec.language.spec import ROW_COLUMNS
from archspec.text.yamlpos import _Loader

PLACEHOLDER = "_"  # a row cell left to the defaults (archspec.language.resolve)

if getattr(yaml, "__with_libyaml__", False):

    class _FastLoader(yaml.CSafeLoader):  # type: ignore[name-defined,misc]
        """libyaml's composer with archspec's resolvers: the same nodes and offsets, ten times faster
        (tests/archspec/fixing/test_repair.py holds the two to the same spans)."""

    _FastLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
else:  # pragma: no cover - PyYAML built without libyaml
    _FastLoader = _Loader
CHECKED = "checked"  # applicability: applied to the spec and re-checked before it was offered


@dataclass(frozen=True)
class Edit:
    """One change of the document.

    ``op``: ``set`` the value at ``path`` (added if absent: a row's next column, a mapping's
    key), ``rename`` the key at ``path`` to ``value``, ``delete`` the key at ``path``, or
    ``insert`` ``value`` into a list before index ``path[-1]``.
    """

    op: str
    path: tuple
    value: Any = None


@dataclass(frozen=True)
class TextEdit:
    """Replace the characters ``start:end`` of the text with ``text`` (1-based line and column
    of both ends are kept for editors: JSON, SARIF)."""

    start: int
    end: int
    text: str
    line: int = 0
    col: int = 0
    end_line: int = 0
    end_col: int = 0


@dataclass(frozen=True)
class Fix:
    """A checked fix: what a person reads, and the edits that make it."""

    title: str
    edits: tuple[Edit, ...] = ()
    raw: tuple[TextEdit, ...] = ()  # edits by position, for text that is not YAML yet (indentation)
    applicability: str = CHECKED

    @property
    def cells(self) -> int:
        return len(self.edits) + len(self.raw)


class CannotEdit(Exception):
    """An edit that has no place in the text (the fix is then not offered)."""


# --- plain data ------------------------------------------------------------------------------


def document_path(loc: Sequence, data: Any) -> tuple:
    """A problem's ``loc`` -> the document path: a flow-list row's column names become indices
    (the loader's own translation, which places problems in the file)."""
    return position_path(loc, data)


def get(data: Any, path: Sequence) -> Any:
    """The value at a document path, or None."""
    node = data
    for step in path:
        node = _child(node, step)
    return node


def _child(node: Any, step: Any) -> Any:
    if isinstance(node, dict):
        return node.get(step)
    if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
        return node[step]
    return None


def apply_to_data(data: Any, edits: Iterable[Edit]) -> Any:
    """A copy of ``data`` with ``edits`` made (the original is left as it was)."""
    data = copy.deepcopy(data)
    for edit in edits:
        parent = get(data, edit.path[:-1])
        key = edit.path[-1]
        if edit.op == "set":
            if isinstance(parent, list) and isinstance(key, str):  # a key no column holds: the row becomes a mapping
                parent = dict(zip(ROW_COLUMNS, parent))
                _replace(data, edit.path[:-1], parent)
            if isinstance(parent, dict):
                parent[key] = edit.value
            elif isinstance(parent, list) and isinstance(key, int):
                parent.extend([PLACEHOLDER] * (key + 1 - len(parent)))
                parent[key] = edit.value
            else:
                raise CannotEdit(f"nothing to set into at {edit.path}")
        elif edit.op == "rename" and isinstance(parent, dict) and key in parent and edit.value not in parent:
            items = [(edit.value if k == key else k, v) for k, v in parent.items()]
            parent.clear()
            parent.update(items)
        elif edit.op == "delete" and isinstance(parent, dict) and key in parent:
            del parent[key]
        elif edit.op == "insert" and isinstance(parent, list) and isinstance(key, int):
            parent.insert(key, edit.value)
        else:
            raise CannotEdit(f"cannot {edit.op} at {edit.path}")
    return data


def _replace(data: Any, path: tuple, value: Any) -> None:
    parent = get(data, path[:-1])
    parent[path[-1]] = value


# --- text ------------------------------------------------------------------------------------


@dataclass
class _Entry:
    node: yaml.Node
    key: yaml.Node | None  # the key's node, for a mapping's value
    parent: yaml.Node | None


class Spans:
    """Where each node of a YAML text is: document path -> its node, its key's node, its parent."""

    def __init__(self, text: str, loader_class: type = _FastLoader):
        self.text = text
        self.entries: dict[tuple, _Entry] = {}
        self.shared: set[tuple] = set()  # paths reached through an alias or a merge: editing them edits elsewhere too
        self._positions: dict[tuple[int, int], tuple] | None = None
        loader = loader_class(text)
        try:
            root = loader.get_single_node()
            if root is not None:
                self._walk(loader, root, (), None, None, {})
        finally:
            loader.dispose()

    def _walk(
        self, loader: _Loader, node: yaml.Node, path: tuple, key: yaml.Node | None, parent: yaml.Node | None, seen: dict
    ) -> None:
        if id(node) in seen:
            self.shared.update((path, seen[id(node)]))
            return
        seen[id(node)] = path
        self.entries[path] = _Entry(node, key, parent)
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(loader, item, path + (i,), None, node, seen)
        elif isinstance(node, yaml.MappingNode):
            merged = any(k.tag == "tag:yaml.org,2002:merge" for k, _ in node.value)
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                name = loader.construct_object(key_node, deep=True)
                if merged:
                    self.shared.add(path + (name,))
                self._walk(loader, value_node, path + (name,), key_node, node, seen)

    def at_position(self, line: int, col: int) -> tuple | None:
        """The path of the value that starts at (line, col), 1-based, or None."""
        if self._positions is None:
            self._positions = {
                (e.node.start_mark.line + 1, e.node.start_mark.column + 1): path for path, e in self.entries.items()
            }
        return self._positions.get((line, col))

    def editable(self, path: tuple) -> bool:
        return path in self.entries and not any(path[: len(s)] == s for s in self.shared)

    def text_edits(self, edits: Iterable[Edit]) -> list[TextEdit]:
        """The text edits that make ``edits``; raises :class:`CannotEdit`."""
        out = [self._one(edit) for edit in edits]
        return _check_apart(out)

    def _one(self, edit: Edit) -> TextEdit:
        path = edit.path
        if any(path[: len(s)] == s for s in self.shared):
            raise CannotEdit(f"{path} is reached through an alias")
        if edit.op == "set" and path in self.entries:
            entry = self.entries[path]
            if isinstance(entry.node, yaml.ScalarNode) or entry.node.flow_style:
                return self._span(
                    entry.node.start_mark.index, entry.node.end_mark.index, render(edit.value, _style(entry.node))
                )
            raise CannotEdit(f"{path} is written in block style")
        if edit.op == "rename" and path[:-1] + (edit.value,) in self.entries:
            raise CannotEdit(f"{path[:-1] + (edit.value,)} exists already")
        if edit.op == "rename" and path in self.entries and self.entries[path].key is not None:
            entry = self.entries[path]
            key = entry.key
            plain_dotted = (  # a dotted override key (`...table[0].kernel`), plain in a block mapping, stays plain
                not key.style  # plain ('' or None by loader)
                and not getattr(entry.parent, "flow_style", False)
                and _DOTTED.fullmatch(str(edit.value)) is not None
            )
            text = str(edit.value) if plain_dotted else render(edit.value, _style(key))
            return self._span(key.start_mark.index, key.end_mark.index, text)
        parent = self.entries.get(path[:-1])
        if parent is None:
            raise CannotEdit(f"no node at {path[:-1]}")
        node = parent.node
        if edit.op == "set" and isinstance(node, yaml.SequenceNode) and isinstance(path[-1], int) and node.flow_style:
            gap = [PLACEHOLDER] * (path[-1] - len(node.value))
            return self._append(node, ", ".join(gap + [render(edit.value)]))
        if edit.op == "set" and isinstance(node, yaml.SequenceNode) and isinstance(path[-1], str) and node.flow_style:
            return self._row_as_mapping(node, path[-1], edit.value)
        if edit.op == "set" and isinstance(node, yaml.MappingNode):
            return self._add_key(node, path[-1], edit.value)
        if edit.op == "delete" and isinstance(node, yaml.MappingNode) and path in self.entries:
            return self._delete_key(node, self.entries[path])
        if edit.op == "insert" and isinstance(node, yaml.SequenceNode) and node.flow_style:
            index = path[-1]
            if index >= len(node.value):
                return self._append(node, render(edit.value))
            at = node.value[index].start_mark.index
            return self._span(at, at, render(edit.value) + ", ")
        raise CannotEdit(f"cannot {edit.op} at {path}")

    def _span(self, start: int, end: int, text: str) -> TextEdit:
        line, col = _line_col(self.text, start)
        end_line, end_col = _line_col(self.text, end)
        return TextEdit(start, end, text, line, col, end_line, end_col)

    def _append(self, node: yaml.SequenceNode, items: str) -> TextEdit:
        if not node.value:
            at = node.end_mark.index - 1  # just inside ']'
            return self._span(at, at, items)
        at = node.value[-1].end_mark.index
        return self._span(at, at, ", " + items)

    def _row_as_mapping(self, node: yaml.SequenceNode, key: str, value: Any) -> TextEdit:
        cells = [
            f"{name}: {self.text[item.start_mark.index : item.end_mark.index]}"
            for name, item in zip(ROW_COLUMNS, node.value)
        ]
        cells.append(f"{key}: {render(value)}")
        return self._span(node.start_mark.index, node.end_mark.index, "{" + ", ".join(cells) + "}")

    def _add_key(self, node: yaml.MappingNode, key: str, value: Any) -> TextEdit:
        entry = f"{render(key)}: {render(value)}"
        if node.flow_style:
            if not node.value:
                at = node.end_mark.index - 1
                return self._span(at, at, entry)
            at = node.value[-1][1].end_mark.index
            return self._span(at, at, ", " + entry)
        if not node.value:
            raise CannotEdit("an empty block mapping")
        indent = node.value[0][0].start_mark.column
        end = node.value[-1][1].end_mark.index
        if end > 0 and self.text[end - 1] == "\n":  # the last value is a block: it ends where the next line starts
            return self._span(end, end, " " * indent + entry + "\n")
        line_end = self.text.find("\n", end)
        line_end = len(self.text) if line_end < 0 else line_end
        return self._span(line_end, line_end, "\n" + " " * indent + entry)

    def _delete_key(self, node: yaml.MappingNode, entry: _Entry) -> TextEdit:
        pairs = node.value
        index = next(i for i, (k, _) in enumerate(pairs) if k is entry.key)
        if node.flow_style:
            if index > 0:
                return self._span(pairs[index - 1][1].end_mark.index, entry.node.end_mark.index, "")
            end = pairs[1][0].start_mark.index if len(pairs) > 1 else entry.node.end_mark.index
            return self._span(entry.key.start_mark.index, end, "")
        start = self.text.rfind("\n", 0, entry.key.start_mark.index) + 1
        end = entry.node.end_mark.index
        if not (end > 0 and self.text[end - 1] == "\n"):
            newline = self.text.find("\n", end)
            end = len(self.text) if newline < 0 else newline + 1
        return self._span(start, end, "")


def _check_apart(edits: list[TextEdit]) -> list[TextEdit]:
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    for a, b in zip(ordered, ordered[1:]):
        if b.start < a.end or (b.start == a.end == b.end == a.start):
            raise CannotEdit("two edits of the same place")
    return ordered


def apply_fix(text: str, fix: Fix) -> str:
    """``text`` with ``fix`` made (its edits by path, found in this text, and its raw edits)."""
    return apply_text(text, (Spans(text).text_edits(fix.edits) if fix.edits else []) + list(fix.raw))


def apply_text(text: str, edits: Iterable[TextEdit]) -> str:
    """``text`` with non-overlapping ``edits`` made."""
    for edit in sorted(_check_apart(list(edits)), key=lambda e: e.start, reverse=True):
        text = text[: edit.start] + edit.text + text[edit.end :]
    return text


def unified_diff(old: str, new: str, path: str) -> str:
    """A unified diff of the two texts; a relative path gets git's a/ and b/ (``patch -p1`` applies it)."""
    before, after = (path, path) if os.path.isabs(path) else (f"a/{path}", f"b/{path}")
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), before, after)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _style(node: yaml.Node) -> str | None:
    return node.style if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"') else None


_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[[0-9]+\])*")
_PLAIN = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_.-]*|[0-9]*/[0-9]+|-?[0-9]+)$")


@lru_cache(maxsize=4096)
def _reads_back(text: str) -> bool:
    """Does YAML read ``text``, written plain, back as this very string?"""
    if not _PLAIN.match(text):
        return False
    loader = _FastLoader(text)  # a safe loader (CSafeLoader or SafeLoader): plain scalars only
    try:
        return loader.get_single_data() == text
    finally:
        loader.dispose()


def render(value: Any, quote: str | None = None) -> str:
    """A value as YAML that fits on one line of a flow row: plain where YAML reads it back the
    same, quoted (in the original's quotes, where it had them) otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "~"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render(k)}: {render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render(v) for v in value) + "]"
    text = str(value)
    if quote is None and _reads_back(text):
        return text
    if quote == '"':
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "'" + text.replace("'", "''") + "'"
