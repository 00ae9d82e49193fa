"""pydantic's validation errors as :class:`~archspec.language.errors.Problem` s a user can act on.

pydantic reports where it failed as a path through the *validated* model (with union tags such
as ``layer`` in it, and a flow-list row's columns by name); a spec's author needs the path
through the *document* (a row's column by index) and words for what was expected. The
alternatives of a union that failed at the same node are merged into one problem.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from archspec.language.errors import Problem, did_you_mean, one_of
from archspec.language.evolve import change_for
from archspec.language.spec import ROW_COLUMNS, BlockRow, LayerRow, Network, Part, Spec

_ROW_TAGS = ("layer", "block")  # the union tags pydantic puts into a row's error location


def is_row_path(path: Sequence) -> bool:
    """Does ``path`` name a row of a table (``..., 'table', 3``)?"""
    return len(path) >= 2 and path[-2] == "table" and isinstance(path[-1], int)


_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "literal_error": "one of {expected}",
    "greater_than_equal": "a value >= {ge}",
    "greater_than": "a value > {gt}",
    "less_than_equal": "a value <= {le}",
    "less_than": "a value < {lt}",
    "too_short": "at least {min_length} item(s)",
    "too_long": "at most {max_length} item(s)",
    "invalid_key": "a name (text) as the key",
    "string_pattern_mismatch": "a name of letters, digits, '_', '.' or '-' that starts with a letter, digit or '_'",
    "string_too_long": "at most {max_length} characters",
}


def from_pydantic(exc: ValidationError, data: Any) -> list[Problem]:
    """Translate pydantic's errors, merging the alternatives of a union at the same node."""
    merged: dict[tuple, list[dict]] = {}
    for err in exc.errors(include_url=False):
        path = _yaml_path(err["loc"], data, missing=err["type"] == "missing")
        merged.setdefault((path, err["type"] in ("missing", "extra_forbidden")), []).append(err)
    problems = [_problem(path, errs) for (path, _), errs in merged.items()]
    # A union tries each option: where one option got deeper into the value, its error is the
    # one that names the real mistake ('input: [A, 3]': item 1, not "expected a string").
    deeper = [p.loc for p in problems]
    return [
        p
        for p in problems
        if not (p.code in _EXPECTED and any(len(d) > len(p.loc) and d[: len(p.loc)] == p.loc for d in deeper))
    ]


def _problem(path: tuple, errs: list[dict]) -> Problem:
    err = errs[0]
    kind = err["type"]
    if kind == "missing" and isinstance(err["loc"][-1], int):  # a tuple that is too short
        return Problem("too_short", path, f"expected {_tuple_length(err['loc'])} items, found {err['loc'][-1]}")
    if kind == "missing":
        field = err["loc"][-1]
        return Problem("missing", path, f"missing required key '{field}'", f"add '{field}: ...' here")
    if kind == "extra_forbidden":
        key = err["loc"][-1]
        change = change_for(tuple(str(k) for k in err["loc"]))
        if change is not None:
            return Problem(
                "removed_key",
                path,
                f"'{key}' was removed from the spec language in archspec {change.since}: {change.why}",
                f"delete the line {key}: ...",
            )
        known = _known_keys(err["loc"][:-1])
        fix = did_you_mean(key, known) or (f"expected one of {one_of(known)}" if known else "remove it")
        return Problem("unknown_key", path, f"unknown key {key!r}", fix)
    custom = [e for e in errs if e["type"] not in _EXPECTED]
    if custom:  # our own messages say expected and found already
        msg = custom[0]["msg"].removeprefix("Value error, ")
        return Problem(custom[0]["type"], path, msg, (custom[0].get("ctx") or {}).get("fix"))
    expected = " or ".join(dict.fromkeys(_EXPECTED[e["type"]].format(**e.get("ctx", {})) for e in errs))
    found = describe(err["input"])
    fix = None
    if kind == "literal_error" and isinstance(err["input"], str):
        fix = did_you_mean(
            err["input"], [str(x).strip("'") for x in str(err["ctx"]["expected"]).replace(" or ", ", ").split(", ")]
        )
    return Problem(kind, path, f"expected {expected}, found {found}", fix)


def _tuple_length(loc: Sequence) -> int:
    tp = _type_at(loc[:-1])
    args = typing.get_args(_strip_annotated(tp)) if tp is not None else ()
    return len(args) or int(loc[-1]) + 1


def _strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        # repr of an integer of over ~4,300 digits raises (Python's int-to-str limit)
        return f"an integer of {value.bit_length():,} bits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _yaml_path(loc: Sequence, data: Any, missing: bool = False) -> tuple:
    """Map pydantic's ``loc`` onto the YAML document's path: drop the labels pydantic adds for
    union options (a row's tag, ``literal['auto']``, ``int``), keep real keys and indices."""
    path: list = []
    node = data
    for i, item in enumerate(loc):
        if item in _ROW_TAGS and i >= 2 and loc[i - 2] == "table" and isinstance(loc[i - 1], int):
            continue  # pydantic names the row union's option right after the row's index
        in_row = is_row_path(path)
        if isinstance(node, list) and isinstance(item, str) and item in ROW_COLUMNS and in_row:
            index = ROW_COLUMNS.index(item)  # a flow-list row: the column is named, placed by index
            path.append(item)
            node = node[index] if index < len(node) else None
            continue
        if isinstance(node, dict) and item in node:
            node = node[item]
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            node = node[item]
        elif isinstance(node, dict) and missing and i == len(loc) - 1:
            node = None
        else:
            continue  # a union option's label, or a step into a scalar
        path.append(item)
    return tuple(path)


def position_path(loc: Sequence, data: Any) -> tuple:
    """A display path -> the document path: a flow-list row's column names become indices."""
    out: list = []
    node = data
    for item in loc:
        if isinstance(node, list) and isinstance(item, str) and item in ROW_COLUMNS:
            item = ROW_COLUMNS.index(item)
        out.append(item)
        if isinstance(node, dict):
            node = node.get(item)
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            node = node[item]
        else:
            node = None
    return tuple(out)


def _type_at(loc: Sequence) -> Any:
    """The annotation pydantic validated at ``loc``, walking down from :class:`Spec`."""
    tp: Any = Spec
    for item in loc:
        tp = _step(tp, item)
        if tp is None:
            return None
    return tp


def _known_keys(loc: Sequence) -> list[str]:
    """The keys the model at pydantic ``loc`` accepts, for did-you-mean."""
    model = _first_model(_type_at(loc))
    if model is None:
        return []
    keys = [f.alias or name for name, f in model.model_fields.items()]
    return keys + (["(a part: A, B, ...)"] if model is Network else [])


def _step(tp: Any, item: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _step(typing.get_args(tp)[0], item)
    if origin in (typing.Union, types.UnionType):
        members = [_strip_annotated(option) for option in typing.get_args(tp)]
        if LayerRow in members and item in _ROW_TAGS:  # the row union: pydantic's tag picks the member
            return LayerRow if item == "layer" else BlockRow
        for option in typing.get_args(tp):
            found = _step(option, item)
            if found is not None:
                return found
        return None
    if origin in (dict, list, tuple):
        return typing.get_args(tp)[-1] if origin is not tuple else typing.get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if item in tp.model_fields:
            return tp.model_fields[item].annotation
        if tp is Network:
            return Part
    return None


def _first_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp):
        found = _first_model(arg)
        if found is not None:
            return found
    return None
