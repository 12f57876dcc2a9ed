"""The JSON Schema of the model, generated from the pydantic classes.

Editors use it (``# yaml-language-server: $schema=...``) to complete and check
model files; a test keeps ``schemas/ctlplane.schema.json`` in sync.
"""

from __future__ import annotations

import json

from ctlplane.model.root import Model

SCHEMA_ID = "https://ctlplane.dev/schemas/ctlplane.schema.json"


def schema_dict() -> dict[str, object]:
    schema = Model.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def schema_text() -> str:
    return json.dumps(schema_dict(), indent=2, sort_keys=True) + "\n"
