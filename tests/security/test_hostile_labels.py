"""Hostile strings in everything a container says about itself: every member label value, its name, its
network names and addresses, its health status.

Containers are untrusted input (anyone who may start a container on the engine can label it). Each hostile
value goes into each slot of one container that a discovered pool selects. The judgement, for both engines:
the container is left out with a one-line reason (no control or line-break characters) that names the pool,
the container and, for a label, the label, and the rendered files are exactly those of the model without
that container; or, when the value passes the strict types (only plain IPs, digits, true/false and names do),
the files have the structure of the same container with the value's benign twin, and no code-loading
directive. A value can never add a service, route, host name or directive.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from ctlplane.discovery.containers import ContainerInfo
from ctlplane.discovery.expand import expand
from ctlplane.discovery.members import resolve
from ctlplane.model.assets import Assets
from ctlplane.render import Output, render_all
from tests.discovery.helpers import NET, container, loaded, model_data
from tests.security.hostile import CORE, CORPUS, hostile_text, twin
from tests.security.structure import analyse

VALUES = CORPUS if os.environ.get("CTLPLANE_PROOF_EXAMPLES") else CORE
LABELS = ("ctlplane.port", "ctlplane.weight", "ctlplane.backup", "ctlplane.drain")
SLOTS = (*LABELS, "name", "network", "address", "health")


def with_value(base: ContainerInfo, slot: str, value: str) -> ContainerInfo:
    if slot in LABELS:
        return replace(base, labels={**base.labels, slot: value})
    if slot == "name":
        return replace(base, name=value)
    if slot == "network":
        return replace(base, networks={value: "10.1.0.77"})
    if slot == "address":
        return replace(base, networks={NET: value})
    return replace(base, health=value)


def rendered(engine: str, containers: list[ContainerInfo]) -> tuple[Any, dict[str, Output]]:
    model = loaded(model_data(engine, static=[{"name": "s1", "address": "10.0.0.1", "port": 80}])).model
    snapshot = resolve(model, containers)
    return snapshot, render_all(expand(model, snapshot), Assets())


def judge(engine: str, slot: str, value: str) -> str:
    others = [container("web-1", "10.1.0.5")]
    target = container("target", "10.1.0.77", weight="2")
    snapshot, files = rendered(engine, [*others, with_value(target, slot, value)])
    if any(e.container_id == target.short_id[:12] or "target" in e.container for e in snapshot.excluded) or \
            len(snapshot.members) == len(others):
        (out,) = snapshot.excluded
        message = out.message()
        assert message.isprintable() and "\n" not in message, repr(message)
        assert message.startswith("pool 'web': container ")
        if slot in LABELS:
            assert f"label {slot}" in message, message
        _, without = rendered(engine, others)
        assert files == without, "a refused container changed the rendered files"
        return "refused"
    member = next(m for m in snapshot.members if m.container_id == target.short_id)
    shape, bad = analyse(engine, files["lb"])
    assert not bad, bad
    benign = twin(value)
    if benign != value:
        _, twin_files = rendered(engine, [*others, with_value(target, slot, benign)])
        assert shape == analyse(engine, twin_files["lb"])[0], f"{slot}={value!r} changed the structure"
    assert member.name in ("target", value)
    return "accepted"


@pytest.mark.parametrize("slot", SLOTS)
@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_known_attack_shapes_in_every_container_slot(engine: str, slot: str) -> None:
    outcomes = {value: judge(engine, slot, value) for value in VALUES}
    accepted = [v for v, o in outcomes.items() if o == "accepted"]
    assert all(re.fullmatch(r"[a-z][a-z0-9_-]*", v) for v in accepted), accepted  # names such as 'lua-load' only
    assert "refused" in outcomes.values()


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
@settings(max_examples=40, derandomize=bool(os.environ.get("CI")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(value=hostile_text())
def test_generated_hostile_values_in_every_container_slot(engine: str, value: str) -> None:
    for slot in SLOTS:
        judge(engine, slot, value)


def test_plain_values_pass_and_render_as_their_types() -> None:
    assert judge("haproxy", "ctlplane.port", "8081") == "accepted"
    assert judge("nginx", "address", "10.1.0.99") == "accepted"
    assert judge("haproxy", "name", "web-9") == "accepted"
