"""Generate docs/reference.md — the model reference — from ctlplane's JSON Schema.

One section per object of the schema, in the order a reader meets them from
the top of a model, each with the YAML paths where it appears and a table of
its fields (type, default, constraints, description). Durations and sizes are
shown in their written forms (``5s``, ``10m``). Deterministic: the same schema
always gives the same bytes, and a test checks the committed file is in sync.

Usage: python docs/gen_reference.py [--check]   (--check: exit 1 when docs/reference.md is stale)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "reference.md"
DURATION_PATTERN = "^[0-9]{1,9}(ms|s|m|h|d)$"
SIZE_PATTERN = "^[0-9]{1,9}[kmgKMG]?$"
Schema = dict[str, Any]

HEADER = """# Model reference

<!-- Generated from the model's JSON Schema by docs/gen_reference.py: do not edit by hand.
     After a model change: `ctlplane schema && python docs/gen_reference.py` (a test checks both). -->

Every field of a ctlplane model, from the top of the file down. Unknown fields are errors.
**Durations** are written `500ms`, `5s`, `2m`, `1h` or `1d` (or as integer milliseconds);
**sizes** as `512`, `64k`, `10m` or `1g` (bytes). Editors complete and check models with the
JSON Schema in [`schemas/ctlplane.schema.json`](../schemas/ctlplane.schema.json): start a model
with `# yaml-language-server: $schema=<path to>/ctlplane.schema.json`. Recipes per feature are in
[recipes/](recipes/README.md); the engine support of each feature is in the
[README](../README.md#what-each-engine-can-do).
"""


def ref_name(node: Schema) -> str | None:
    ref = node.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def link(name: str) -> str:
    return f"[{name}](#{name.lower()})"


def _variants(node: Schema) -> list[Schema]:
    return [v for v in node.get("anyOf", node.get("oneOf", [])) if v.get("type") != "null"]


def type_text(node: Schema) -> str:
    """A field's type for people: links to object sections, durations and sizes by name."""
    name = ref_name(node)
    if name:
        return link(name)
    if "oneOf" in node and "discriminator" in node:
        key = node["discriminator"]["propertyName"]
        return " or ".join(type_text(v) for v in node["oneOf"]) + f" (chosen by `{key}`)"
    if "anyOf" in node:
        kinds = _variants(node)
        patterns = {k.get("pattern") for k in kinds}
        if DURATION_PATTERN in patterns:
            return "duration"
        if SIZE_PATTERN in patterns:
            return "size"
        return " or ".join(dict.fromkeys(type_text(k) for k in kinds))
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return " | ".join(f"`{v}`" for v in node["enum"])
    if node.get("type") == "array":
        return f"list of {type_text(node.get('items', {}))}"
    return {"integer": "integer", "string": "string", "boolean": "boolean", "number": "number"}.get(
        str(node.get("type")), "any")


def constraints(node: Schema) -> list[str]:
    """Bounds and patterns worth telling (durations and sizes explain themselves)."""
    found: list[str] = []
    kinds = _variants(node) if "anyOf" in node else [node]
    if any(kind.get("pattern") in (DURATION_PATTERN, SIZE_PATTERN) for kind in kinds):
        return found
    for kind in kinds:
        low, high = kind.get("minimum"), kind.get("maximum")
        if low is not None and high is not None:
            found.append(f"{low}–{high}")
        elif low is not None:
            found.append(f"at least {low}")
        elif high is not None:
            found.append(f"at most {high}")
        if "pattern" in kind:
            found.append(f"pattern `{kind['pattern']}`")
        if kind.get("type") == "array":
            low_items, high_items = kind.get("minItems"), kind.get("maxItems")
            if low_items and high_items:
                found.append(f"{low_items}–{high_items} items")
            elif low_items:
                found.append(f"at least {low_items} item{'s' if low_items > 1 else ''}")
            found += constraints(kind.get("items", {}))
    return found


def default_text(node: Schema, required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in node:
        return "optional"
    value = node["default"]
    kind = type_text(node)
    if kind == "duration" and isinstance(value, int):
        from ctlplane.model.types import format_duration

        return f"`{format_duration(value)}`"
    if kind == "size" and isinstance(value, int):
        from ctlplane.model.types import format_size

        return f"`{format_size(value)}`"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    return f"`{value}`"


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def children(node: Schema) -> list[tuple[str, str]]:
    """(object name, path suffix) of every object a field refers to."""
    if ref_name(node):
        return [(str(ref_name(node)), "")]
    found: list[tuple[str, str]] = []
    for variant in node.get("oneOf", []) + node.get("anyOf", []):
        found += children(variant)
    if node.get("type") == "array":
        found += [(name, "[]" + rest) for name, rest in children(node.get("items", {}))]
    return found


def walk(schema: Schema) -> tuple[list[str], dict[str, list[str]]]:
    """Objects in reading order (breadth first from the root) and the YAML paths where each appears."""
    order = ["Model"]
    paths: dict[str, list[str]] = {"Model": ["(top level)"]}
    queue = [("Model", schema, "")]
    while queue:
        _, node, prefix = queue.pop(0)
        for field, sub in node.get("properties", {}).items():
            for name, rest in children(sub):
                path = f"{prefix}{field}{rest}"
                if f"`{path}`" not in paths.setdefault(name, []):
                    paths[name].append(f"`{path}`")
                if name not in order:
                    order.append(name)
                    queue.append((name, schema["$defs"][name], path + "."))
    return order, paths


def section(name: str, node: Schema, paths: list[str]) -> str:
    required = set(node.get("required", []))
    lines = [f"## {name}", "", cell(node.get("description", "")), ""]
    lines += [f"Used at: {', '.join(paths)}.", "", "| field | type | default | description |", "|---|---|---|---|"]
    for field, sub in node.get("properties", {}).items():
        notes = constraints(sub)
        description = sub.get("description", "") + (f" ({'; '.join(notes)})" if notes else "")
        lines.append(f"| `{field}` | {cell(type_text(sub))} | {default_text(sub, field in required)} "
                     f"| {cell(description)} |")
    return "\n".join(lines) + "\n"


def reference(schema: Schema) -> str:
    order, paths = walk(schema)
    parts = [HEADER, "Sections: " + ", ".join(link(n) for n in order) + ".\n"]
    parts += [section(name, schema if name == "Model" else schema["$defs"][name], paths[name]) for name in order]
    return "\n".join(parts)


def generate() -> str:
    """The reference for the current model (its JSON Schema in model field order)."""
    sys.path.insert(0, str(ROOT))
    from ctlplane.schema import schema_dict

    return reference(schema_dict())


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if OUT.read_text() != text:
            print(f"{OUT} is stale: run python docs/gen_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
