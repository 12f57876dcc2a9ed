"""From a fleet model to a rollout and a status, and the CLI around them, on the fake Swarm (real config tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ctlplane.cli import app
from ctlplane.errors import CtlplaneError
from ctlplane.fleet import controller
from ctlplane.fleet.bundle import join_parts, read_manifest
from ctlplane.fleet.fake import FakeSwarm, Outcome
from ctlplane.pipeline import build
from tests.fleet.agent_kit import fleet_model
from tests.helpers import example_certs

SELECTOR = {"ctlplane.fleet": "edge"}


def model_file(tmp_path: Path, **fleet: Any) -> Path:
    data = fleet_model(18080, 19080)
    data["fleet"].update(fleet)
    example_certs(tmp_path / "certs")
    path = tmp_path / "model.yaml"
    path.write_text(json.dumps(data))
    return path


def swarm() -> FakeSwarm:
    fake = FakeSwarm()
    for i in range(1, 4):
        fake.add_node(f"node{i}" + "x" * 20, f"lb{i}", SELECTOR)
    fake.add_node("other" + "x" * 20, "db1", {"role": "db"})
    fake.add_node("down1" + "x" * 20, "lb9", SELECTOR)
    fake.set_down("down1" + "x" * 20)
    return fake


def test_the_rollout_of_a_model_carries_its_bundle_to_the_selected_ready_nodes(tmp_path: Path) -> None:
    built = build(model_file(tmp_path, rollout={"canary": 1, "wave_size": 2, "soak": "2s", "deadline": "30s"}))
    plan = controller.rollout_spec(built, swarm().nodes())
    spec = plan.spec
    assert [[n[:5] for n in wave] for wave in spec.waves] == [["node1"], ["node2", "node3"]]
    assert [(x.node.hostname, x.reason) for x in plan.left] == [("lb9", plan.left[0].reason)]
    assert "down" in plan.left[0].reason or "ready" in plan.left[0].reason
    tar = join_parts([(p.name, p.data, None) for p in spec.parts], spec.release)
    manifest = read_manifest(tar)
    assert "model.yaml" in manifest["files"] and "certs/www.key" not in manifest["files"]
    assert [s.name for s in spec.secrets] == [m["secret"] for m in manifest["secrets"].values()]
    assert (spec.soak_s, spec.deadline_s, spec.selector) == (2.0, 30.0, SELECTOR)


def test_a_fleet_without_a_selectable_node_is_refused_where_the_selector_is(tmp_path: Path) -> None:
    built = build(model_file(tmp_path, nodes={"labels": {"ctlplane.fleet": "nowhere"}}))
    with pytest.raises(CtlplaneError) as caught:
        controller.rollout_spec(built, swarm().nodes())
    assert caught.value.findings[0].path == "fleet.nodes.labels"
    assert "ctlplane.fleet=nowhere" in caught.value.findings[0].message


def test_apply_rolls_out_and_status_tells_each_node(tmp_path: Path) -> None:
    fake = swarm()
    built = build(model_file(tmp_path))
    result, _ = controller.apply_fleet(built, fake, fake.clock)
    assert result.ok and sorted(n.outcome for n in result.nodes) == ["applied"] * 3 + ["skipped"]
    found = controller.fleet_status(built, fake)
    assert [n.state for n in found.nodes] == ["in-sync"] * 3 + ["stale"]
    assert not found.in_sync, "a selected node that is down keeps the fleet out of sync"


def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeSwarm, *args: str) -> Any:
    monkeypatch.setattr(controller, "open_swarm", lambda built: fake)
    monkeypatch.setattr("ctlplane.fleet.rollout.SystemClock", lambda: fake.clock)
    return CliRunner().invoke(app, list(args))


def test_the_cli_applies_a_fleet_and_a_halted_rollout_exits_1_naming_the_node(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = model_file(tmp_path, manager={"url": "tcp://10.213.0.10:2375", "allow_plain_tcp": True})
    fake = swarm()
    done = run_cli(tmp_path, monkeypatch, fake, "apply", str(model), "--yes", "-o", "json")
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout[done.stdout.index("{"):])
    assert payload["ok"] and [n["hostname"] for n in payload["nodes"]] == ["lb1", "lb2", "lb3"]
    assert payload["left_out"][0]["hostname"] == "lb9"
    status = run_cli(tmp_path, monkeypatch, fake, "status", str(model), "--detailed-exitcode")
    assert status.exit_code == 2 and "lb1" in status.stdout and "in-sync" in status.stdout  # lb9 is stale

    model.write_text(model.read_text().replace('"client": "30s"', '"client": "31s"'))
    fake.script("node1" + "x" * 20, Outcome("failed", reason="cannot bind 0.0.0.0:18080"))
    halted = run_cli(tmp_path, monkeypatch, fake, "apply", str(model), "--yes")
    assert halted.exit_code == 1
    assert "halted" in halted.output and "lb1" in halted.output and "cannot bind" in halted.output
    assert "without TLS" in halted.output  # allow_plain_tcp is warned about

    fake.script("node1" + "x" * 20, Outcome("failed", reason="cannot bind 0.0.0.0:18080"))
    model.write_text(model.read_text().replace('"client": "31s"', '"client": "32s"'))
    as_json = run_cli(tmp_path, monkeypatch, fake, "apply", str(model), "--yes", "-o", "json")
    assert as_json.exit_code == 1
    document = json.loads(as_json.stdout)  # one JSON document, not the rollout then an error
    assert not document["ok"] and document["phase"] == "halted" and "lb1" in document["reason"]
