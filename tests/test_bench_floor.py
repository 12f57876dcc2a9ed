"""The scale benchmark's floor (``bench/scale_floor.py``) counts only what the libraries take: its pydantic
share validates the benchmark's models with the Model's types and constraints and runs none of ctlplane's
own validators, which are ctlplane's work and belong to the other side of the comparison."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from ctlplane.model.root import Model
from tests.helpers import ROOT


def bench_modules(*names: str) -> list[Any]:
    """The benchmark scripts' modules (bench/ is not a package: its scripts import each other by name)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        return [importlib.import_module(name) for name in names]
    finally:
        sys.path.pop(0)


@pytest.fixture(scope="module")
def bench() -> Any:
    return tuple(bench_modules("common", "scale_floor"))


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_the_library_validator_builds_the_same_model_from_the_benchmarks_model(bench: Any, engine: str) -> None:
    common, floor = bench
    data = yaml.safe_load(common.scale_model_text(engine, 3))
    assert floor.library_validator().validate_python(data) == Model.model_validate(data)


@pytest.mark.parametrize(("change", "refused"), [
    (lambda d: d["services"][0].update(default_pool="nowhere"), "nowhere"),  # a cross-reference check
    (lambda d: d["pools"][1]["servers"][0].update(address="10.0.0.1/8"), "IP address"),  # a field check
])
def test_the_library_validator_runs_none_of_ctlplanes_checks(bench: Any, change: Any, refused: str) -> None:
    common, floor = bench
    data = yaml.safe_load(common.scale_model_text("haproxy", 2))
    change(data)
    with pytest.raises(ValidationError, match=refused):
        Model.model_validate(data)
    assert isinstance(floor.library_validator().validate_python(data), Model)


def test_the_library_validator_keeps_the_models_types_and_bounds(bench: Any) -> None:
    common, floor = bench
    data = yaml.safe_load(common.scale_model_text("haproxy", 2))
    data["pools"][0]["servers"][0]["port"] = 70000
    with pytest.raises(ValidationError, match="port"):
        floor.library_validator().validate_python(data)


def test_a_validator_a_class_built_before_is_not_reused_with_its_checks(bench: Any) -> None:
    """pydantic-core takes the validator a model class already built in place of the schema it is given."""
    from ctlplane.model.pool import Server

    common, floor = bench
    Server.model_validate({"name": "s", "address": "127.0.0.1", "port": 9})  # as discovery does
    data = yaml.safe_load(common.scale_model_text("haproxy", 2))
    data["pools"][1]["servers"][0]["address"] = "10.0.0.1/8"
    assert floor.library_validator().validate_python(data).pools[1].servers[0].address == "10.0.0.1/8"


def test_the_floor_row_gives_the_libraries_own_growth_beside_the_growth_target(bench: Any, tmp_path: Any,
                                                                              monkeypatch: Any) -> None:
    """The floor's growth column divides the floor at the largest size by the floor at the smaller one (its
    parts faked here, so the arithmetic is checked, not the machine)."""
    common, floor = bench
    small, large = tmp_path / "haproxy-1.json", tmp_path / "haproxy-10.json"
    times = {small: (0.001, 0.002, 0.007), large: (0.01, 0.02, 0.075)}
    monkeypatch.setattr(floor, "library_times", lambda engine, fmt, path, runs, library: times[path])
    monkeypatch.setattr(floor, "library_validator", lambda: None)
    row = floor.floor_row("haproxy", "json", large, 3, ours=0.2, theirs=0.15, smaller=(small, 10))
    assert dict(zip(floor.FLOOR_HEADERS, row, strict=True)) == {
        "engine": "haproxy", "format": "json", "read text ms": "10", "pydantic ms": "20", "Jinja print ms": "75",
        "floor ms": "105", "proxy check ms": "150", "floor / proxy": "0.70", "ctlplane ms": "200",
        "ctlplane's own ms": "95", "own ms the target leaves": "45", "floor growth (x size)": "10.5x (10x)"}
    assert floor.floor_verdict(row).endswith("for 10x the size the libraries alone take 10.5x the time")
    assert floor.floor_row("haproxy", "json", large, 3, 0.2, 0.15)[-1] == "-"


@pytest.fixture(scope="module")
def edit_floor() -> Any:
    return bench_modules("edit_floor")[0]


def test_the_edit_floor_adds_the_proxys_own_switch_to_the_libraries_share(edit_floor: Any, tmp_path: Any,
                                                                           monkeypatch: Any) -> None:
    """The edit floor is the p50 of the proxy's own switches (config test + reload to the first answer) plus
    the libraries' share of building the model; ctlplane's own work is what its p50 adds on top (times faked,
    so the arithmetic is checked, not the machine)."""
    monkeypatch.setattr(edit_floor, "library_times", lambda engine, fmt, path, runs, library: (0.1, 0.03, 0.07))
    monkeypatch.setattr(edit_floor, "library_validator", lambda: None)
    bare = [(0.22, 0.55), (0.2, 0.5), (0.24, 0.6)]
    row = edit_floor.floor_row("haproxy", tmp_path / "model.yaml", [1.4, 1.5, 1.45], bare, 1.0)
    assert dict(zip(edit_floor.FLOOR_HEADERS, row, strict=True)) == {
        "engine": "haproxy", "ctlplane p50 ms": "1450", "proxy check p50 ms": "220",
        "reload to answer p50 ms": "330", "proxy alone p50 ms": "550", "libraries ms": "200", "floor ms": "750",
        "target ms": "1000", "own ms the target leaves": "250", "ctlplane's own ms": "700"}
    assert edit_floor.floor_verdict(row) == ("haproxy: the proxy alone and the libraries take 750 ms for this "
                                             "edit; the target leaves ctlplane's own work 250 ms, it takes 700 ms")
    high = edit_floor.floor_row("haproxy", tmp_path / "model.yaml", [1.4], bare, 0.6)
    assert "cannot be met on this host whatever ctlplane's own code does" in edit_floor.floor_verdict(high)
