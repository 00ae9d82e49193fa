"""The JSON Schema of the spec language, generated from the pydantic models.

`specs/schema.json` is this output (a test fails when it is stale); each spec points to it with a
`# yaml-language-server: $schema=schema.json` line so editors validate and autocomplete.

A spec with ``extends:`` says only what it changes (:mod:`archspec.composition.compose`), so it is checked
against a partial copy of the language: the same keys, none of them required, and path keys
(``generator.B.table[9]``, ``~...``, ``+...``) allowed wherever a mapping is. Its values are
checked where a key is a plain name; a path key's value is the loader's to check.
"""

from __future__ import annotations

import json
from typing import Any

from archspec.language.spec import Spec

SCHEMA_ID = "https://archspec.dev/schema/archspec-1.json"
PARTIAL = "Partial"  # prefix of the definitions a spec with extends: is checked against
# A key that is a path or an edit: starts with ~ or +, or has a dot or [ after its first name.
# Plain names do not match, so a misspelt plain key is still flagged in an editor.
PATH_KEY = r"^(?:[~+]|[A-Za-z0-9_-]+[.\[])"
_EXTENDS = {
    "type": "string",
    "minLength": 1,
    "description": "the spec this one starts from, relative to this file; the keys below say what changes "
    "(paths such as generator.B.table[9], ~ to remove, + to insert rows)",
}


def schema() -> dict:
    spec = Spec.model_json_schema(mode="validation")
    defs = spec.pop("$defs")
    partial = {PARTIAL + name: _partial(d) for name, d in defs.items()}
    partial[PARTIAL + "Spec"] = _partial(spec)
    partial[PARTIAL + "Spec"]["properties"] = {"extends": _EXTENDS, **partial[PARTIAL + "Spec"]["properties"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": spec["title"],
        "description": spec["description"],
        "type": "object",
        "if": {"required": ["extends"]},
        "then": {"$ref": f"#/$defs/{PARTIAL}Spec"},
        "else": {"$ref": "#/$defs/Spec"},
        "$defs": {**defs, "Spec": spec, **partial},
    }


def _partial(node: Any) -> Any:
    """A copy of a schema node that requires nothing, refers to partial definitions, and lets
    path keys through."""
    if isinstance(node, list):
        return [_partial(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _partial(v) for k, v in node.items() if k != "required"}
    if isinstance(out.get("$ref"), str) and out["$ref"].startswith("#/$defs/"):
        out["$ref"] = "#/$defs/" + PARTIAL + out["$ref"].removeprefix("#/$defs/")
    if node.get("type") == "object" and ("properties" in node or "additionalProperties" in node):
        out["patternProperties"] = {PATH_KEY: {}}
    return out


def schema_text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"
