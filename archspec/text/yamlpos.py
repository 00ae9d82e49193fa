"""Safe YAML with positions: plain Python data plus the line and column of every node.

PyYAML's safe loader composes a node tree that knows where each node starts; we turn that tree
into dicts, lists and scalars ourselves, so that we can (1) remember the position of every key
and value by its path, (2) report duplicate keys, which PyYAML silently overwrites, and
(3) refuse every tag outside the safe set (``!!python/object`` and friends) with a position,
and (4) refuse a document that expands to more than :data:`MAX_VALUES` values: aliases of
aliases ("a billion laughs") expand exponentially, and would hang every check after the parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from archspec.language.errors import Problem


class _Loader(yaml.SafeLoader):
    """The safe loader, except that ``1e-3`` is a float (YAML 1.2), not the string '1e-3'."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)

Path = tuple  # tuple[str | int, ...]
MAX_VALUES = 100_000  # values (keys, scalars, lists, mappings) after aliases are expanded; a paper spec has ~1,000


class _TooManyValues(Exception):
    def __init__(self, node: yaml.Node):
        self.node = node


@dataclass
class Document:
    """Parsed YAML and where each of its nodes stands (1-based line and column)."""

    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)  # path -> position of the value
    count: int = 0  # values converted so far (aliases expanded)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)  # path -> position of its key
    problems: list[Problem] = field(default_factory=list)  # duplicate keys, forbidden tags: the rest still loads
    edits: list = field(default_factory=list)  # a composed spec's: the extends: edits applied, every file's

    def position(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The position of ``path``, or of its nearest ancestor that exists."""
        path = tuple(path)
        while True:
            if key and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            if not path:
                return (1, 1)
            path = path[:-1]

    def locate(self, path: Path, *, key: bool = False, file: str = "<spec>") -> tuple[str, int, int]:
        """(file, line, column) of ``path``: a parsed document is one file, ``file``
        (a composed one, :class:`archspec.text.located.Composed`, knows each node's own file)."""
        return (file, *self.position(path, key=key))


class YamlProblems(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


def _pos(mark: yaml.Mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


def parse(text: str) -> Document:
    """Parse one YAML document. Raises :class:`YamlProblems` for YAML that cannot be read at all;
    duplicate keys and forbidden tags are kept in ``Document.problems`` (the node is dropped)."""
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = _pos(mark) if mark else (1, 1)
        message = f"invalid YAML: {exc.problem or exc.context}"
        if "\\t" in str(exc.problem) or "'\\t'" in str(exc):
            message += " (a tab: YAML indents with spaces only)"
        raise YamlProblems(
            [Problem("yaml", (), message, "fix the YAML syntax at this position", line=line, col=col)]
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. a control character
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise YamlProblems(
            [
                Problem(
                    "yaml",
                    (),
                    "invalid YAML: character "
                    f"{(chr(exc.character) if isinstance(exc.character, int) else exc.character)!r} "
                    "is not allowed in YAML text",
                    "remove it",
                    line=line,
                    col=col,
                )
            ]
        ) from None
    except yaml.YAMLError as exc:  # any other reader or scanner failure, without a mark
        raise YamlProblems([Problem("yaml", (), f"invalid YAML: {exc}", line=1, col=1)]) from None
    except RecursionError:
        raise YamlProblems([Problem("yaml", (), "invalid YAML: nested too deeply", line=1, col=1)]) from None
    finally:
        if loader is not None:
            loader.dispose()
    doc = Document(data=None)
    if node is None:
        return doc
    try:
        doc.data = _convert(node, (), doc, doc.problems, loader, active=set())
    except RecursionError:
        raise YamlProblems([Problem("yaml", (), "a spec nested too deeply to be a spec", line=1, col=1)]) from None
    except _TooManyValues as exc:
        line, col = _pos(exc.node.start_mark)
        raise YamlProblems(
            [
                Problem(
                    "yaml_size",
                    (),
                    f"expected a spec of at most {MAX_VALUES:,} values, found more once "
                    "its aliases are expanded (aliases of aliases grow exponentially)",
                    "write the values out, or use blocks and defaults",
                    line=line,
                    col=col,
                )
            ]
        ) from None
    return doc


def _convert(
    node: yaml.Node, path: Path, doc: Document, problems: list[Problem], loader: _Loader, active: set[int]
) -> Any:
    doc.values.setdefault(path, _pos(node.start_mark))
    doc.count += 1
    if doc.count > MAX_VALUES:
        raise _TooManyValues(node)
    if id(node) in active:  # an alias that contains itself
        problems.append(
            Problem(
                "yaml_recursion",
                path,
                "a recursive alias: a node that contains itself",
                "remove the alias",
                line=_pos(node.start_mark)[0],
                col=_pos(node.start_mark)[1],
            )
        )
        return None
    if isinstance(node, yaml.MappingNode):
        if node.tag != "tag:yaml.org,2002:map":
            return _bad_tag(node, path, problems)
        return _convert_mapping(node, path, doc, problems, loader, active | {id(node)})
    if isinstance(node, yaml.SequenceNode):
        if node.tag != "tag:yaml.org,2002:seq":
            return _bad_tag(node, path, problems)
        return [
            _convert(item, path + (i,), doc, problems, loader, active | {id(node)}) for i, item in enumerate(node.value)
        ]
    try:
        return loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError:
        return _bad_tag(node, path, problems)
    except (ValueError, OverflowError) as exc:  # e.g. a malformed !!timestamp
        line, col = _pos(node.start_mark)
        problems.append(Problem("yaml_value", path, f"invalid value {node.value!r}: {exc}", line=line, col=col))
        return None


def _convert_mapping(
    node: yaml.MappingNode, path: Path, doc: Document, problems: list[Problem], loader: _Loader, active: set[int]
) -> dict:
    try:
        loader.flatten_mapping(node)  # resolves '<<' merge keys the way PyYAML does
    except yaml.constructor.ConstructorError as exc:
        line, col = _pos(exc.problem_mark or node.start_mark)
        problems.append(Problem("yaml_merge", path, f"invalid merge key: {exc.problem}", line=line, col=col))
        return {}
    result: dict = {}
    for key_node, value_node in node.value:
        line, col = _pos(key_node.start_mark)
        if not isinstance(key_node, yaml.ScalarNode):
            problems.append(
                Problem(
                    "key_type",
                    path,
                    "expected a plain key (a name), found a list or mapping used as a key",
                    line=line,
                    col=col,
                )
            )
            continue
        key = _convert(key_node, path + ("<key>",), doc, problems, loader, active)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            key = str(key)
        if key in result:
            first = doc.keys.get(path + (key,), (line, col))
            problems.append(
                Problem(
                    "duplicate_key",
                    path + (key,),
                    f"duplicate key {key!r} (first defined at line {first[0]})",
                    "remove one of the two, or rename it",
                    line=line,
                    col=col,
                )
            )
            continue
        doc.keys[path + (key,)] = (line, col)
        result[key] = _convert(value_node, path + (key,), doc, problems, loader, active)
    doc.values.pop(path + ("<key>",), None)
    return result


def _bad_tag(node: yaml.Node, path: Path, problems: list[Problem]) -> None:
    line, col = _pos(node.start_mark)
    problems.append(
        Problem(
            "yaml_tag",
            path,
            f"expected plain YAML data, found the tag {node.tag!r}, which a spec may not use",
            "remove the tag: specs are data, never code or objects",
            line=line,
            col=col,
        )
    )
    return None
