"""The event builder reads exactly what the node-tree conversion reads, and refuses the same at the same place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ctlplane.errors import ModelError
from ctlplane.model.load import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = [
    "a: 1\n",
    "a: &x 1\nb: 2\n",  # an anchor nobody refers to
    "a: &x {b: 1}\nc: *x\n",
    "a: &x [1, 2]\nc: [*x]\n",
    "a: 1\n<<: {b: 2}\n",
    "a: 1\na: 2\n",
    "{b: 1}: 2\n",
    "? [a, b]\n: 1\n",
    "a: 1\n---\nb: 2\n",
    "",
    "# only a comment\n",
    "---\n",
    "- 1\n- 2\n",
    "just text\n",
    "a: !!str 1\nb: !!int '3'\nc: !!float 1\n",
    "a: !custom x\n",
    "a: [yes, no, on, off, true, False, ~, null, '', 1.5, 1e3, .inf, -.NaN]\n",
    "a: [010, 0x1F, 0o17, 1_000, +5, -3, 0, 00, 12:30, 2020-01-01, 2020-01-01T10:00:00Z]\n",
    "a: |\n  line one\n  line two\nb: >-\n  folded\n  text\n",
    "a: {b: [1, {c: [2, 3]}], d: 'it''s', e: \"\\t\\u00e9\"}\n",
    "1: one\ntrue: two\n~: three\n",
    "a: [1, 2\n",
    "a: b: c\n",
    "a:\n  - b\n - c\n",
    "a: !!binary aGVsbG8=\n",
    "a: !!set {x, y}\n",
    "a: !!omap [x: 1]\n",
    "a: !!map {b: 1}\nc: !!seq [1]\n",
]


def outcome(text: str, *, positions: bool) -> tuple[str, Any]:
    try:
        return "data", parse_yaml(text, "m.yaml", positions=positions)[0]
    except ModelError as exc:
        return "error", [(f.message, f.line, f.column) for f in exc.findings]


def test_every_snippet_reads_the_same_both_ways() -> None:
    for text in SNIPPETS:
        assert outcome(text, positions=False) == outcome(text, positions=True), text


def test_every_yaml_file_of_the_project_reads_the_same_both_ways() -> None:
    files = [p for d in ("tests", "examples", "integration", "docs") for p in (ROOT / d).rglob("*.y*ml")]
    assert len(files) > 30
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert outcome(text, positions=False) == outcome(text, positions=True), path


def test_an_alias_is_refused_at_its_anchor_and_an_alias_as_a_key_too() -> None:
    kind, findings = outcome("a: &x {b: 1}\nc: *x\n", positions=False)
    assert (kind, findings) == ("error", [("YAML anchors and aliases are not allowed in a model", 1, 4)])
    kind, findings = outcome("a: &k key\nb: {*k : 1}\n", positions=False)
    assert kind == "error" and findings[0][0] == "YAML anchors and aliases are not allowed in a model"


def test_many_documents_and_syntax_errors_are_located() -> None:
    kind, findings = outcome("a: 1\n---\nb: 2\n", positions=False)
    assert kind == "error" and findings == [("YAML syntax error: but found another document", 2, 1)]
    with pytest.raises(ModelError) as caught:
        parse_yaml("a: [1, 2\n", "m.yaml")
    assert caught.value.findings[0].line == 2 and "YAML syntax error" in caught.value.findings[0].message


def test_a_deep_document_needs_no_recursion_and_libyaml_bounds_the_depth() -> None:
    depth = 900
    text = "a: " + "[" * depth + "]" * depth + "\n"
    data = parse_yaml(text, "m.yaml")[0]["a"]
    for _ in range(depth - 1):
        data = data[0]
    assert data == []
    with pytest.raises(ModelError) as caught:
        parse_yaml("a: " + "[" * 5000 + "]" * 5000 + "\n", "m.yaml")
    assert caught.value.findings[0].message == "YAML syntax error: exceeded maximum nesting depth"
