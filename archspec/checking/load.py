"""YAML -> validated :class:`~archspec.language.spec.Spec`, with ``file:line:col`` on every error.

The pipeline: parse safe YAML with positions; apply ``--set`` overrides; validate with
pydantic; check names and references (:mod:`archspec.checking.semantics`); check that shapes flow
(:mod:`archspec.checking.shapes`). Every stage's problems are collected; a stage that cannot run on a
broken spec is skipped, and all problems found so far are raised together in one
:class:`~archspec.language.errors.SpecError`.
"""

from __future__ import annotations

import copy
import os
import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from archspec.checking import semantics
from archspec.composition import compose, scale
from archspec.language.errors import Problem, SpecError, format_loc
from archspec.language.evolve import upgrade_data
from archspec.language.pydantic_problems import describe, from_pydantic, is_row_path, position_path
from archspec.language.resolve import fill_placeholders
from archspec.language.spec import ROW_COLUMNS, Spec
from archspec.text.files import MAX_SPEC_BYTES, Unreadable, read_bounded  # noqa: F401  (MAX_SPEC_BYTES: public)
from archspec.text.yamlpos import Document, YamlProblems, parse

# Problems about a key's name point at the key, not at its value.
_NAME_CODES = {"unknown_key", "removed_key", "duplicate_key", "unknown_network", "unknown_shape", "bad_name"}


def load(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Spec:
    """Read, validate and shape-check the spec at ``path``. Raises :class:`SpecError`."""
    return trusted(check_file(path, overrides))


def check_file(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Loaded:
    """:func:`check_text` of the file at ``path`` (bounded, UTF-8). Raises :class:`SpecError` for
    a file too large or not text, FileNotFoundError for one that cannot be read."""
    path = FsPath(path)
    try:
        raw = read_bounded(path)
    except Unreadable as exc:
        raise SpecError([Problem("too_large", (), str(exc), exc.fix, file=str(path))]) from None
    except OSError as exc:
        raise FileNotFoundError(f"cannot read spec {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(
            [
                Problem(
                    "encoding",
                    (),
                    f"expected UTF-8 text, found a byte {raw[exc.start]:#04x} that is not",
                    "save the spec as UTF-8",
                    file=str(path),
                    line=line,
                    col=col,
                )
            ]
        ) from None
    return check_text(text, filename=str(path), overrides=overrides)


def loads(text: str, filename: str = "<string>", overrides: Sequence[str] = ()) -> Spec:
    """Validate spec text. ``filename`` only labels the errors."""
    return trusted(check_text(text, filename, overrides))


def trusted(found: Loaded) -> Spec:
    """The spec of a check that found no problem, marked as checked; raises :class:`SpecError`."""
    if found.problems:
        raise SpecError(found.problems)
    assert found.checked is not None and found.checked.spec is not None and not found.checked.problems
    return _trusted(found.checked.spec)


# Specs that passed every check, by identity: archspec.build trusts these instead of checking
# again (a spec is frozen; a copy made with model_copy is a new object and is checked).
_CHECKED: weakref.WeakValueDictionary[int, Spec] = weakref.WeakValueDictionary()


def _trusted(spec: Spec) -> Spec:
    _CHECKED[id(spec)] = spec
    return spec


def is_checked(spec: Spec) -> bool:
    """Whether ``spec`` is an object that :func:`load`, :func:`loads` or :func:`load_saved` checked."""
    return _CHECKED.get(id(spec)) is spec


# The stages of a check, in order; a stage runs only on a spec that passed the one before.
FORM, NAMES, SHAPES = 1, 2, 3  # types and keys (pydantic); names and references; shapes


@dataclass
class Checked:
    """What the checks found in a spec's plain data: the spec (once it has the right form; valid
    only without problems), the problems (not yet placed in a file), and the last stage that ran
    (all problems are of that stage)."""

    spec: Spec | None
    problems: list[Problem]
    stage: int
    written: Spec | None = None  # the spec as its rows are written, before model.scale (default: spec)

    @property
    def rows(self) -> Spec | None:
        """The spec whose rows are the document's (what a fix edits)."""
        return self.written or self.spec


@dataclass
class Loaded:
    """One check of a spec text: its parsed document, what the overrides set, what was found."""

    text: str
    filename: str
    doc: Document | None  # None: the text is not YAML
    origins: dict[tuple, str]  # document path -> the --set that wrote it
    prior: list[Problem]  # YAML and --set problems, found before the data was checked
    checked: Checked | None
    problems: list[Problem]  # everything, placed at file:line:col
    composed: Any = None  # the document's data after `extends:`, before the overrides (a copy)
    overrides: tuple[str, ...] = ()  # the --set values it was checked with

    def check_again(self, text: str, overrides: Sequence[str] = ()) -> Loaded:
        """Another text checked as this one was (same file name, so ``extends`` paths resolve
        alike), without fixes: the fixer's re-check of an edited text (archspec.fixing never
        imports this module, which imports it)."""
        return check_text(text, self.filename, overrides, fixes=False)

    def place(self, problems: Iterable[Problem]) -> list[Problem]:
        """Problems about this document, placed at file:line:col (or at the --set that caused them)."""
        assert self.doc is not None
        return _place(problems, self.doc, self.filename, self.origins)


def check_text(text: str, filename: str = "<string>", overrides: Sequence[str] = (), fixes: bool = True) -> Loaded:
    """Parse, apply overrides, check; never raises for a bad spec. With ``fixes``, each problem
    comes with the fixes that were checked to work (:mod:`archspec.fixing.repair`)."""
    try:
        doc = parse(text)
    except YamlProblems as exc:
        from archspec.fixing.yamlhints import explain  # imported here: only a text that is not YAML needs it

        judge = lambda candidate: _count_problems(candidate, filename)  # noqa: E731  (a variant finds its base from it)
        problems = [p.at(filename, p.line, p.col) for p in explain(text, exc.problems, judge)]
        return Loaded(text, filename, None, {}, problems, None, problems)
    composed, problems = compose.resolve_extends(doc, filename)  # `extends:` (archspec.composition.compose)
    if composed is None:
        problems = _place(problems, doc, filename, {})
        return Loaded(text, filename, doc, {}, problems, None, problems)
    doc = composed
    origins: dict[tuple, str] = {}
    before = copy.deepcopy(doc.data) if overrides else doc.data
    prior = problems + list(doc.problems) + _apply_overrides(doc, overrides, origins)
    checked = check_data(doc.data, prior)
    loaded = Loaded(
        text,
        filename,
        doc,
        origins,
        prior,
        checked,
        _place(prior + checked.problems, doc, filename, origins),
        composed=before,
        overrides=tuple(overrides),
    )
    if fixes and checked.problems:
        from archspec.fixing.repair import repair  # imported here: a valid spec never needs it

        loaded.problems = repair(loaded, check_data)
    if doc.edits and any(p.line and p.file != filename for p in loaded.problems):
        loaded.problems = compose.blame(loaded.problems, filename, doc.edits, _alone(fixes))
    return loaded


def _alone(fixes: bool):
    """``file -> its problems`` checked on its own (each base once): what blame compares with."""
    seen: dict[str, list[Problem]] = {}

    def problems(file: str) -> list[Problem]:
        if file not in seen:
            try:
                seen[file] = check_text(FsPath(file).read_text(encoding="utf-8"), file, fixes=fixes).problems
            except (OSError, UnicodeDecodeError):
                seen[file] = []
        return seen[file]

    return problems


def _count_problems(text: str, filename: str = "<string>") -> int | None:
    """How many problems a text has, checked as the file ``filename`` (a variant's base is found
    from it: judged as "<string>", every candidate of a variant would fail alike on its missing
    base), or None where it is not YAML either."""
    try:
        parse(text)
    except YamlProblems:
        return None
    return len(check_text(text, filename, fixes=False).problems)


def check_data(data: Any, prior: Sequence[Problem] = ()) -> Checked:
    """Every check of a spec's plain data, stage by stage. ``prior`` problems (YAML, overrides)
    stop the checks after the form stage, and nodes they dropped are not reported again."""
    if data is None:
        return Checked(
            None,
            [
                Problem(
                    "empty",
                    (),
                    "expected a mapping with keys archspec, name and model; found an empty document",
                    "start from specs/quickstart.yaml",
                )
            ],
            FORM,
        )
    if not isinstance(data, dict):
        return Checked(
            None,
            [
                Problem(
                    "root_type",
                    (),
                    f"expected a mapping with keys archspec, name and model at the top; found {describe(data)}",
                )
            ],
            FORM,
        )
    filled, problems = fill_placeholders(data)
    seen = [p.loc for p in list(prior) + problems]  # a node dropped or reported already is not reported twice
    try:
        spec = Spec.model_validate(filled)
    except ValidationError as exc:
        problems.extend(p for p in from_pydantic(exc, filled) if not any(p.loc[: len(s)] == s for s in seen))
        seen += [p.loc for p in problems]  # a row reported as a whole is not reported again for its names
        problems.extend(p for p in semantics.check_raw_names(filled) if not any(p.loc[: len(s)] == s for s in seen))
        return Checked(None, problems, FORM)
    if problems or prior:
        return Checked(None, problems, FORM)
    problems = semantics.check(spec)
    if problems:
        return Checked(spec, problems, NAMES)
    resolved, problems = scale.scaled(spec)  # model.scale, before the shapes are checked
    if resolved is None:
        return Checked(None, problems, SHAPES, written=spec)
    from archspec.checking import shapes  # imported here: shapes builds on a spec that passed the checks above

    return Checked(resolved, shapes.check(resolved), SHAPES, written=spec)


def load_saved(data: Any, label: str = "the saved spec") -> tuple[Spec, list[str]]:
    """A spec saved as plain data by any earlier version (a checkpoint's, a run folder's), read
    under today's schema: fields added since take their defaults, fields removed or moved since
    are handled by :data:`archspec.language.evolve.CHANGES` (one note each).

    Returns:
        (the spec, the notes).

    Raises:
        SpecError: it is not a valid spec even so; each problem is labelled with ``label``.
    """
    data, notes = upgrade_data(data, label)
    if not isinstance(data, dict):
        raise SpecError(
            [Problem("root_type", (), f"expected a spec as a mapping, found {describe(data)}", file=label, line=0)]
        )
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError([p.at(label, 0, 0) for p in from_pydantic(exc, data)]) from None
    spec, problems = scale.scaled(spec)
    problems = problems or check_spec(spec)
    if problems:
        raise SpecError([p.at(label, 0, 0) for p in problems])
    return _trusted(spec), notes


def spec_with(loaded: Loaded, overrides: Sequence[str]) -> Spec | None:
    """The spec of ``loaded``'s composed document under other ``overrides``, through the form
    stage only (types, placeholders, model.scale; no name or shape checks): what it would mean,
    or None where it would not even have a form."""
    if loaded.composed is None:
        return None
    doc = Document(copy.deepcopy(loaded.composed))
    if _apply_overrides(doc, overrides, {}) or not isinstance(doc.data, dict):
        return None
    filled, problems = fill_placeholders(doc.data)
    if problems:
        return None
    try:
        spec = Spec.model_validate(filled)
    except ValidationError:
        return None
    return scale.scaled(spec)[0]


def check_spec(spec: Spec) -> list[Problem]:
    """The checks beyond one node's: names and references, then (on a spec that passed them) shapes."""
    problems = semantics.check(spec)
    if not problems:
        from archspec.checking import shapes  # imported here: shapes builds on a spec that passed the checks above

        problems = shapes.check(spec)
    return problems


# --- overrides ------------------------------------------------------------------------------


def parse_override(item: str) -> tuple[tuple, Any]:
    """``training.samples=2000`` -> (('training', 'samples'), 2000). The value is safe YAML."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"expected KEY=VALUE such as training.samples=2000, found {item!r}")
    segments = key.strip().replace("[", ".").replace("]", "").split(".")
    if not all(segments):
        raise ValueError(f"expected a dotted key such as training.samples, found {key.strip()!r}")
    path = tuple(int(p) if re.fullmatch(r"[0-9]+", p) else p for p in segments)
    if not value.strip():
        return path, ""
    try:
        doc = parse(value)
    except YamlProblems as exc:
        raise ValueError(f"the value of {key.strip()} is not valid YAML: {exc.problems[0].message}") from None
    if doc.problems:
        raise ValueError(f"the value of {key.strip()}: {doc.problems[0].message}")
    return path, doc.data


def _row_to_mapping(data: Any, path: tuple) -> None:
    """Rewrite the flow-list row that ``path`` sets a non-column key of as a mapping, in place."""
    node, parent, step = data, None, None
    for step in path[:-1]:
        parent = node
        node = (
            node.get(step)
            if isinstance(node, dict)
            else node[step]
            if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)
            else None
        )
        if node is None:
            return
    if isinstance(node, list) and is_row_path(path[:-1]) and isinstance(path[-1], str) and path[-1] not in ROW_COLUMNS:
        parent[step] = {name: item for name, item in zip(ROW_COLUMNS, node)}


def override_arg(text: str) -> str:
    """argparse type for ``--set``: a malformed KEY=VALUE is a usage error (exit 2)."""
    import argparse

    try:
        parse_override(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _apply_overrides(doc: Document, overrides: Sequence[str], origins: dict[tuple, str]) -> list[Problem]:
    problems = []
    for item in overrides:
        label = f"--set {item}"
        try:
            path, value = parse_override(item)
        except ValueError as exc:
            problems.append(Problem("override", (), str(exc).splitlines()[0], file=label, line=0))
            continue
        if doc.data is None:
            doc.data = {}
        _row_to_mapping(doc.data, path)  # `table.0.output_padding` has no column: write the row as a mapping
        node = doc.data
        path = position_path(path, doc.data)  # `table.0.kernel` on a flow-list row is column 2
        for i, step in enumerate(path[:-1]):
            if isinstance(node, dict):
                node = node.setdefault(step, {})
            elif isinstance(node, list) and isinstance(step, int) and step < len(node):
                node = node[step]
            else:
                problems.append(
                    Problem(
                        "override",
                        path[: i + 1],
                        _cannot_set(node, step, path[:i]),
                        _index_fix(node, step, path, i, item),
                        file=label,
                        line=0,
                    )
                )
                break
        else:
            last = path[-1]
            if isinstance(node, list) and isinstance(last, int) and is_row_path(path[:-1]) and last < len(ROW_COLUMNS):
                node.extend([None] * (last + 1 - len(node)))  # e.g. padding on a 7-column row
                node[last] = value
            elif isinstance(node, list) and isinstance(last, int) and last < len(node):
                node[last] = value
            elif isinstance(node, dict):
                node[last] = value
            else:
                problems.append(
                    Problem(
                        "override",
                        path,
                        _cannot_set(node, last, path[:-1]),
                        _index_fix(node, last, path, len(path) - 1, item),
                        file=label,
                        line=0,
                    )
                )
                continue
            origins[path] = label
    return problems


def _cannot_set(node: Any, step: Any, above: tuple) -> str:
    """Why ``--set`` cannot reach ``step`` under ``node``: an index past a list's end, or no container."""
    if isinstance(node, list) and isinstance(step, int):
        if above and above[-1] == "table":
            rows = f"{len(node)} row{'s' if len(node) != 1 else ''}"
            which = "only table[0]" if len(node) == 1 else f"table[0] to table[{len(node) - 1}]"
            return f"there is no row {step}: the table has {rows} ({which})" if node else "the table has no rows"
        return f"there is no item {step}: the list has {len(node)} item{'s' if len(node) != 1 else ''}" + (
            f" (0 to {len(node) - 1})" if node else ""
        )
    return f"expected a mapping or list to set into, found {describe(node)}"


def _index_fix(node: Any, step: Any, path: tuple, i: int, item: str) -> str | None:
    """The same --set with the last index the list has (the commonest slip: counting from 1)."""
    if not (isinstance(node, list) and isinstance(step, int) and node):
        return None
    key = format_loc(path[:i] + (len(node) - 1,) + path[i + 1 :])
    return f"--set {key}={item.partition('=')[2]}" + (
        f" (indices run from 0 to {len(node) - 1})" if len(node) > 1 else ""
    )


# --- positions ------------------------------------------------------------------------------


def _place(problems: Iterable[Problem], doc: Document, filename: str, origins: dict[tuple, str]) -> list[Problem]:
    placed = []
    for p in problems:
        if p.line is not None:  # placed already: a YAML problem, one from an override, or one in a base file
            placed.append(p if p.line == 0 or p.file != Problem.file else p.at(filename, p.line, p.col))
            continue
        where = position_path(p.loc, doc.data)
        origin = next(
            (
                label
                for path, label in origins.items()  # at or inside what an override set, or above it
                if where[: len(path)] == path or (where and path[: len(where)] == where)
            ),
            None,
        )
        if origin is not None:
            placed.append(p.at(origin, 0, 0))
            continue
        placed.append(p.at(*doc.locate(where, key=p.code in _NAME_CODES, file=filename)))
    return compose.inherited(placed, filename)
