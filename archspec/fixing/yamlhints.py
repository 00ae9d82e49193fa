"""Clear words for YAML that does not parse because one line is indented wrong.

PyYAML says "expected <block end>, but found '<block mapping start>'" or "mapping values are not
allowed here" at a misaligned key. We find which column the line should be at the way a fix is
found anywhere in archspec: try moving it (alone, or with the lines nested under it) to each
indentation used above it, keep the moves after which the text parses, and of those the one
after which the spec has the fewest problems (then the smallest move). The message names the
key, its column, and a key beside it at the column it should be at; the fix is that edit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from archspec.fixing.fixes import Fix, TextEdit, apply_text
from archspec.language.errors import Problem
from archspec.text.yamlpos import YamlProblems, parse

_STRUCTURE = (
    "expected <block end>",
    "mapping values are not allowed",
    "did not find expected key",
    "could not find expected ':'",
    "did not find expected '-' indicator",
    "expected <document start>",
)
_MAX_SHIFT = 8  # columns: a slip, not a restructuring


def explain(text: str, problems: Sequence[Problem], judge: Callable[[str], int | None]) -> list[Problem]:
    """``problems`` with an indentation slip explained and fixed where one is found.

    Args:
        text: the spec text that did not parse.
        problems: the YAML problems found (one, at the position PyYAML gave).
        judge: the number of problems of a candidate text, or None where it does not parse either.
    """
    out = []
    for p in problems:
        found = (
            _indentation(text, p, judge)
            if p.code == "yaml" and p.line and any(s in p.message for s in _STRUCTURE)
            else None
        )
        out.append(found or p)
    return out


def _indentation(text: str, problem: Problem, judge: Callable[[str], int | None]) -> Problem | None:
    lines = text.split("\n")
    number = problem.line
    if not 1 <= number <= len(lines) or not lines[number - 1].strip():
        return None
    line = lines[number - 1]
    col = _indent(line) + 1
    levels = sorted({_indent(other) + 1 for other in lines[: number - 1] if _content(other)} - {col})
    tried = []
    for target in (c for c in levels if abs(c - col) <= _MAX_SHIFT):
        for block in (False, True):
            edits = _shift(lines, number, target - col, block)
            if not edits:
                continue
            count = judge(apply_text(text, edits))
            if count is not None:
                tried.append((count, abs(target - col), block, target, edits))
    if not tried:
        return None
    _, _, _, target, edits = min(tried, key=lambda t: t[:3])
    what, sibling = _describe(lines, number, target)
    shift = target - col
    return Problem(
        "yaml_indent",
        _path_at(apply_text(text, edits), number, target),
        f"invalid YAML: {what} is at column {col}, but {sibling}; YAML reads a line by its indentation",
        f"indent it to column {target} ({abs(shift)} space{'s' if abs(shift) != 1 else ''} "
        f"{'right' if shift > 0 else 'left'})",
        line=number,
        col=col,
        fixes=(Fix(f"indent line {number} to column {target}", raw=tuple(edits)),),
    )


def _path_at(text: str, line: int, col: int) -> tuple:
    """The document path of the first node on ``line`` at or after ``col`` (a key, or a list
    item after its '- '), in a text that parses."""
    try:
        doc = parse(text)
    except YamlProblems:
        return ()
    at = [
        (where[1], len(path), path)
        for positions in (doc.keys, doc.values)
        for path, where in positions.items()
        if where[0] == line and where[1] >= col
    ]
    return min(at)[2] if at else ()


def _shift(lines: list[str], number: int, delta: int, block: bool) -> list[TextEdit]:
    """Edits moving line ``number`` (1-based) by ``delta`` columns, and with ``block`` the lines
    nested under it too."""
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    first = _indent(lines[number - 1])
    span = [number]
    if block:
        for n in range(number + 1, len(lines) + 1):
            if _content(lines[n - 1]) and _indent(lines[n - 1]) <= first:
                break
            span.append(n)
        if len(span) == 1:
            return []
    edits = []
    for n in span:
        line = lines[n - 1]
        if not line.strip():
            continue
        indent = _indent(line)
        if indent + delta < 0:
            return []
        start = offsets[n - 1]
        edits.append(TextEdit(start, start + indent, " " * (indent + delta), n, 1, n, indent + 1))
    return edits


def _describe(lines: list[str], number: int, target: int) -> tuple[str, str]:
    """('key 'table'', "the keys beside it are at column 9 ('input' at line 34)")."""
    line = lines[number - 1].strip()
    is_item = line.startswith("- ") or line == "-"
    key = re.match(r"([^:#\s][^:#]*?)\s*:(\s|$)", line)
    what = "this list item" if is_item else f"key '{key.group(1)}'" if key else "this line"
    for n in range(number - 1, 0, -1):
        other = lines[n - 1]
        if not _content(other):
            continue
        indent = _indent(other) + 1
        if indent < target:
            break
        if indent == target:
            stripped = other.strip()
            if is_item and stripped.startswith("-"):
                return what, f"the items above it are at column {target} (line {n})"
            found = re.match(r"([^:#\s][^:#]*?)\s*:(\s|$)", stripped)
            if found and not is_item:
                return what, f"the keys beside it are at column {target} ('{found.group(1)}' at line {n})"
    return what, f"the lines it belongs with are at column {target}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")
