"""The parity table stays complete and true without Docker: docs/engine-behaviour.md
is what docs/gen_engine_behaviour.py makes from it; every field of the model has a
parity scenario or a documented reason (so the next field cannot skip the suite);
every issue-12 item has a scenario; every refusal the table promises is really
a located error naming the engine and the alternative, and the other engine
takes the same model."""

from __future__ import annotations

import json
import sys
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from ctlplane.errors import ModelError
from ctlplane.model.load import load_file
from ctlplane.model.root import Model
from integration.parity import groups
from integration.parity.probes import PROBES
from integration.parity.table import AREAS, NO_SCENARIO, SCENARIOS, Scenario
from tests.helpers import ROOT

ENGINES = ("nginx", "haproxy")


def model_fields() -> set[str]:
    """Every ``Class.field`` reachable from the root model."""
    found: set[str] = set()
    seen: set[type] = set()

    def leaves(annotation: object) -> typing.Iterator[object]:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            yield from leaves(typing.get_args(annotation)[0])
        elif origin in (typing.Union, types.UnionType, list, tuple, dict):
            for arg in typing.get_args(annotation):
                yield from leaves(arg)
        else:
            yield annotation

    def walk(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for name, info in cls.model_fields.items():
            found.add(f"{cls.__name__}.{name}")
            for leaf in leaves(info.annotation):
                if isinstance(leaf, type) and issubclass(leaf, BaseModel):
                    walk(leaf)

    walk(Model)
    return found


def _exempt(field: str) -> bool:
    return field in NO_SCENARIO or f"{field.split('.')[0]}.*" in NO_SCENARIO


def test_every_model_field_has_a_scenario_or_a_documented_reason() -> None:
    fields = model_fields()
    covered = {f for s in SCENARIOS for f in s.fields}
    missing = sorted(f for f in fields - covered if not _exempt(f))
    assert not missing, f"model fields with no parity scenario and no reason in NO_SCENARIO: {missing}"
    unknown = sorted(covered - fields) + sorted(f for f in NO_SCENARIO if not f.endswith(".*") and f not in fields)
    assert not unknown, f"the table names fields the model does not have: {unknown}"


def test_every_issue_item_has_a_scenario() -> None:
    assert {i for s in SCENARIOS for i in s.items} == set(range(1, 16))


def test_scenarios_are_well_formed() -> None:
    assert len({s.id for s in SCENARIOS}) == len(SCENARIOS)
    for s in SCENARIOS:
        assert s.group in groups.GROUPS and s.probe in PROBES and s.area in AREAS, s.id
        assert set(s.refused) <= set(ENGINES), s.id
        if s.differs is not None:
            assert set(s.differs) == set(ENGINES) - set(s.refused) and s.why, s.id
            assert s.differs["nginx"] != s.differs["haproxy"], s.id


def test_engine_behaviour_page_is_in_sync() -> None:
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import gen_engine_behaviour  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    committed = (ROOT / "docs" / "engine-behaviour.md").read_text()
    assert committed == gen_engine_behaviour.generate(), \
        "docs/engine-behaviour.md drifted: run python docs/gen_engine_behaviour.py"


def _load(group: str, engine: str, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    groups.prepare(group, directory)
    path = directory / "model.yaml"
    path.write_text(json.dumps(groups.model(group, engine, groups.FAKE_BOOK), indent=2))  # JSON is YAML
    load_file(path)


REFUSED = [(s, e) for s in SCENARIOS for e in sorted(s.refused)]


@pytest.mark.parametrize(("scenario", "engine"), REFUSED, ids=[f"{s.id}-{e}" for s, e in REFUSED])
def test_refusal_is_located_and_names_engine_and_alternative(scenario: Scenario, engine: str,
                                                             tmp_path: Path) -> None:
    with pytest.raises(ModelError) as caught:
        _load(scenario.group, engine, tmp_path)
    hits = [f for f in caught.value.findings if scenario.refused[engine] in f.message]
    assert hits, caught.value
    for finding in hits:
        assert finding.file == str(tmp_path / "model.yaml") and finding.line and finding.path, finding.one_line()
        assert engine in finding.message.lower() and ("use " in finding.message or "remove" in finding.message)


@pytest.mark.parametrize("group", sorted(groups.GROUPS))
def test_every_group_model_loads_on_each_engine_the_table_runs_it_on(group: str, tmp_path: Path) -> None:
    for engine in ENGINES:
        if all(engine in s.refused for s in SCENARIOS if s.group == group):
            continue
        _load(group, engine, tmp_path / engine)
