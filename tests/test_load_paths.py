"""The two ways a model is read give the same result: the plain-JSON fast path and the YAML path (JSON is
YAML); whatever JSON and YAML 1.1 might read differently goes the YAML way; positions are found lazily and
every error is still located."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctlplane.errors import ModelError
from ctlplane.model import load
from ctlplane.model.load import LazyPositions, load_bytes, load_file
from tests.helpers import ROOT

MINIMAL = ROOT / "tests" / "model" / "valid" / "minimal.yaml"


def as_json(path: Path) -> bytes:
    return json.dumps(load.parse_yaml(path.read_text(), str(path))[0], indent=1).encode()


def test_json_and_yaml_give_the_same_model(monkeypatch: pytest.MonkeyPatch) -> None:
    yaml_model = load_file(MINIMAL).model
    text = as_json(MINIMAL)
    calls = []
    original = load.parse_yaml
    monkeypatch.setattr(load, "parse_yaml", lambda *a, **k: calls.append(a) or original(*a, **k))
    json_model = load_bytes(text, "m.json").model
    assert json_model == yaml_model and calls == []  # the fast path: no YAML parse at all


@pytest.mark.parametrize("text", ['{"pools": [], "x": 1e3}', '{"a": 1, "a": 2}', '{"a": NaN}', '// c\n{"a": 1}'])
def test_what_json_and_yaml_may_read_differently_goes_the_yaml_way(text: str) -> None:
    assert load._json(text) is None


def test_errors_of_a_json_model_are_located_by_line() -> None:
    text = as_json(MINIMAL).decode().replace('"port": 9001', '"port": 99999')
    with pytest.raises(ModelError) as caught:
        load_bytes(text.encode(), "m.json")
    [finding] = caught.value.findings
    assert finding.path == "pools[0].servers[0].port" and finding.line == text.splitlines().index(
        next(line for line in text.splitlines() if "99999" in line)) + 1
    with pytest.raises(ModelError, match="duplicate key 'pools'"):
        load_bytes(b'{"pools": [],\n "pools": []}', "d.json")


def test_positions_are_found_only_when_asked() -> None:
    positions = LazyPositions("a:\n  b: 1\n", "m")
    assert positions._found is None
    assert positions[("a", "b")] == (2, 6) and positions._found is not None
