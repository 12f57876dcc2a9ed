"""Nodes that come and go during a fleet's life, against the fake Swarm: a node the manager cannot reach when a
rollout runs is given the proven release without waiting and takes it when it returns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctlplane.fleet.status import gather
from tests.fleet.helpers import FLEET, NODES, R1, R2, SELECTOR, apply, fleet, releases, serving
from tests.fleet.test_fleet_controller import model_file, run_cli, swarm

WAVES_WITHOUT_LB5 = ((NODES[0],), (NODES[1], NODES[2]), (NODES[3],))


def test_a_node_down_during_the_rollout_is_deferred_shown_stale_and_takes_the_release_when_it_returns() -> None:
    fake = fleet()
    apply(fake, R1)
    fake.set_down(NODES[4])
    result = apply(fake, R2, waves=WAVES_WITHOUT_LB5)  # the planner leaves a Down node out of the waves
    assert result.ok and result.phase == "idle"
    row = next(n for n in result.nodes if n.node == NODES[4])
    assert row.outcome == "deferred" and "node is down" in row.reason
    assert releases(fake) == {n: (R2, R2) for n in NODES}  # its agent service already names R2
    status = {n.node: n for n in gather(fake, FLEET, SELECTOR).nodes}
    assert status[NODES[4]].state == "stale" and not gather(fake, FLEET, SELECTOR).in_sync
    assert all(status[n].state == "in-sync" for n in NODES[:4])
    fake.set_down(NODES[4], False)
    fake.clock.sleep(30)
    assert serving(fake) == {n: R2 for n in NODES}
    assert gather(fake, FLEET, SELECTOR).in_sync


def test_a_drained_node_is_left_as_it_is() -> None:
    from dataclasses import replace

    fake = fleet()
    apply(fake, R1)
    fake.node_map[NODES[4]] = replace(fake.node_map[NODES[4]], availability="drain")
    result = apply(fake, R2, waves=WAVES_WITHOUT_LB5)
    assert {n.node: n.outcome for n in result.nodes}[NODES[4]] == "skipped"
    assert releases(fake)[NODES[4]] == (R1, R1)


def test_the_cli_says_which_node_was_deferred_and_does_not_claim_every_node(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = model_file(tmp_path, manager={"url": "tcp://10.213.0.10:2375", "allow_plain_tcp": True})
    fake = swarm()
    down = "down1" + "x" * 20
    fake.set_down(down, False)
    assert run_cli(tmp_path, monkeypatch, fake, "apply", str(model), "--yes").exit_code == 0  # lb9 has an agent
    fake.set_down(down)
    model.write_text(model.read_text().replace('"client": "30s"', '"client": "31s"'))
    done = run_cli(tmp_path, monkeypatch, fake, "apply", str(model), "--yes")
    assert done.exit_code == 0, done.output
    assert "serves on every node the manager reaches; 1 deferred" in done.output
    assert "lb9 (no wave): deferred: node is down" in done.output and "left out" not in done.output
    as_json = run_cli(tmp_path, monkeypatch, fake, "apply", str(model), "--yes", "-o", "json")
    payload = json.loads(as_json.stdout[as_json.stdout.index("{"):])
    assert {n["hostname"]: n["outcome"] for n in payload["nodes"]}["lb9"] == "deferred"
    assert payload["left_out"] == []


def test_a_node_that_leaves_the_selector_has_its_proxies_stopped_by_a_last_task_before_its_agent_goes() -> None:
    from ctlplane.fleet.retire import L_RETIRE, RETIRE_COMMAND
    from ctlplane.fleet.specs import agent_name

    fake = fleet()
    apply(fake, R1)
    fake.set_labels(NODES[4], {})
    specs = []
    fake.hook = lambda op, name: specs.append(fake.spec(name)) if op == "tasks" and name.endswith(
        NODES[4][:12]) and name in fake.svcs else None
    result = apply(fake, R1, waves=((NODES[0],), (NODES[1], NODES[2]), (NODES[3],)))
    fake.hook = None
    row = next(n for n in result.nodes if n.node == NODES[4])
    assert (row.outcome, row.wave) == ("retired", -1) and "proxies were stopped" in row.reason
    retiring = specs[-1]  # what ran on the node before the service was removed
    assert retiring.command == RETIRE_COMMAND and retiring.labels[L_RETIRE] == "1" and retiring.health is None
    assert retiring.labels["ctlplane.lkg"] == "" and retiring.env["CTLPLANE_RELEASE"] == R1
    assert agent_name(FLEET, NODES[4]) not in fake.svcs
    assert [n.node for n in gather(fake, FLEET, SELECTOR).nodes] == NODES[:4]


def test_a_leaving_node_that_is_down_keeps_its_retiring_task_until_a_later_rollout_sees_it_done() -> None:
    from ctlplane.fleet.specs import agent_name

    fake = fleet()
    apply(fake, R1)
    fake.set_labels(NODES[4], {})
    fake.set_down(NODES[4])
    result = apply(fake, R2, waves=((NODES[0],), (NODES[1], NODES[2]), (NODES[3],)))
    row = next(n for n in result.nodes if n.node == NODES[4])
    assert row.outcome == "retiring" and "node is down" in row.reason and result.ok
    assert agent_name(FLEET, NODES[4]) in fake.svcs
    fake.set_down(NODES[4], False)
    fake.clock.sleep(5)
    assert {n.node: n.state for n in gather(fake, FLEET, SELECTOR).nodes}[NODES[4]] == "retiring"
    result = apply(fake, R2, waves=((NODES[0],), (NODES[1], NODES[2]), (NODES[3],)))
    assert {n.node: n.outcome for n in result.nodes}[NODES[4]] == "retired"
    assert agent_name(FLEET, NODES[4]) not in fake.svcs
    fake.set_labels(NODES[4], SELECTOR)  # labelled again: a new agent, as for a new node
    result = apply(fake, R2)
    assert {n.node: n.outcome for n in result.nodes}[NODES[4]] == "applied"
    assert serving(fake)[NODES[4]] == R2 and releases(fake)[NODES[4]] == (R2, R2)


def test_a_retiring_task_that_failed_is_tried_again_by_the_next_rollout() -> None:
    from ctlplane.fleet.fake import Outcome
    from ctlplane.fleet.specs import agent_name

    fake = fleet()
    apply(fake, R1)
    fake.set_labels(NODES[4], {})
    fake.script(NODES[4], Outcome("failed", after_s=1, reason="cannot stop the proxy"), release="retire")
    waves = ((NODES[0],), (NODES[1], NODES[2]), (NODES[3],))
    first = {n.node: n for n in apply(fake, R1, waves=waves).nodes}[NODES[4]]
    assert first.outcome == "retiring" and "retiring task failed" in first.reason
    del fake.scripts[(NODES[4], "retire")]  # whatever held the proxy is gone
    second = {n.node: n for n in apply(fake, R1, waves=waves).nodes}[NODES[4]]
    assert second.outcome == "retired" and agent_name(FLEET, NODES[4]) not in fake.svcs
