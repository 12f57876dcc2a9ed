"""The committed JSON Schema matches the model, and every field is described."""

from __future__ import annotations

import json
from typing import Any

from ctlplane.schema import schema_dict, schema_text
from tests.helpers import ROOT


def test_committed_schema_is_in_sync() -> None:
    committed = (ROOT / "schemas" / "ctlplane.schema.json").read_text()
    assert committed == schema_text(), "schema drifted from the model: run `make schema` and commit"


def _properties(node: Any, where: str) -> list[str]:
    missing = []
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if isinstance(prop, dict) and not prop.get("description"):
                missing.append(f"{where}.{name}")
        for key, value in node.items():
            missing += _properties(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            missing += _properties(value, f"{where}[{i}]")
    return missing


def test_every_field_has_a_description() -> None:
    assert _properties(schema_dict(), "#") == []


def test_schema_is_valid_json_schema() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(json.loads(schema_text()))


def test_every_field_has_an_example_that_the_schema_accepts() -> None:
    import jsonschema

    schema = schema_dict()
    classes = {"Model": schema, **schema["$defs"]}  # type: ignore[dict-item]
    missing, invalid = [], []
    for cls, node in classes.items():
        for name, prop in (node.get("properties") or {}).items():
            if not prop.get("examples"):
                missing.append(f"{cls}.{name}")
                continue
            checker = jsonschema.Draft202012Validator({**prop, "$defs": schema["$defs"]})
            invalid += [f"{cls}.{name}: {e.message}" for ex in prop["examples"] for e in checker.iter_errors(ex)]
    assert missing == [] and invalid == []
