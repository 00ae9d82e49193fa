"""The JSON Schema of the spec language, generated from the pydantic models.

`specs/schema.json` is this output (a test fails when it is stale); each spec points to it with a
`# yaml-language-server: $schema=schema.json` line so editors validate and autocomplete.
"""
from __future__ import annotations

import json

from archspec.spec import Spec

SCHEMA_ID = "https://archspec.dev/schema/archspec-1.json"


def schema() -> dict:
    data = Spec.model_json_schema(mode="validation")
    data = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **data}
    return data


def schema_text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"
