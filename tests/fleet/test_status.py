"""A fleet's status per node against the fake Swarm: in sync only when the proxy itself reports the target,
applying and pending while a rollout is under way, stale for a partitioned node, failed with the release it
rolled back to and the agent's reason."""

from __future__ import annotations

import pytest

from ctlplane.fleet.fake import Outcome
from ctlplane.fleet.specs import agent_name
from ctlplane.fleet.state import Record
from ctlplane.fleet.status import FleetStatus, NodeData, gather, node_status
from ctlplane.fleet.swarm import Node, Service, Task
from tests.fleet.helpers import FLEET, NODES, R1, R2, SELECTOR, Killed, apply, fleet


def states(status: FleetStatus) -> dict[str, str]:
    return {row.node: row.state for row in status.nodes}


def test_a_fleet_that_served_its_release_is_in_sync_node_by_node() -> None:
    fake = fleet()
    apply(fake, R1)
    status = gather(fake, FLEET, SELECTOR)
    assert status.in_sync and status.phase == "idle" and status.target == R1
    assert [(r.hostname, r.wave, r.desired, r.reported) for r in status.nodes] == [
        ("lb1", 0, R1, R1), ("lb2", 1, R1, R1), ("lb3", 1, R1, R1), ("lb4", 2, R1, R1), ("lb5", 2, R1, R1)]


def test_during_a_rollout_no_node_is_in_sync_before_its_proxy_reports_the_target() -> None:
    fake = fleet()
    apply(fake, R1)
    seen: list[FleetStatus] = []

    def look(op: str, name: str) -> None:
        if op == "tasks" and name == agent_name(FLEET, NODES[1]) and not seen and \
                fake.spec(name).labels["ctlplane.release"] == R2:
            fake.hook = None
            seen.append(gather(fake, FLEET, SELECTOR))
            fake.hook = look

    fake.hook = look
    assert apply(fake, R2).ok
    assert states(seen[0]) == {NODES[0]: "in-sync", NODES[1]: "applying", NODES[2]: "applying",
                               NODES[3]: "pending", NODES[4]: "pending"}
    assert {r.node: r.reported for r in seen[0].nodes}[NODES[1]] == R1


def test_a_proxy_reporting_another_release_is_never_in_sync_even_with_a_healthy_agent() -> None:
    fake = fleet()
    apply(fake, R1)
    fake.script(NODES[2], Outcome(reports=R1), release=R2)
    assert apply(fake, R2).ok  # the agent's healthcheck passed: Swarm's view alone would say done
    status = gather(fake, FLEET, SELECTOR)
    row = {r.node: r for r in status.nodes}[NODES[2]]
    assert (row.desired, row.reported, row.state) == (R2, R1, "applying")
    assert not status.in_sync


def test_a_partitioned_node_is_stale_and_in_sync_again_after_the_heal() -> None:
    fake = fleet()
    apply(fake, R1)
    fake.set_down(NODES[3])
    row = {r.node: r for r in gather(fake, FLEET, SELECTOR).nodes}[NODES[3]]
    assert row.state == "stale" and "down" in row.detail
    fake.set_down(NODES[3], False)
    assert states(gather(fake, FLEET, SELECTOR))[NODES[3]] == "in-sync"


def test_the_logs_of_a_node_that_is_not_ready_are_not_asked_for() -> None:
    """A real manager waits without end for the logs of a task on a node it lost (seen on the lab's Swarm)."""
    fake = fleet()
    apply(fake, R1)
    fake.set_down(NODES[3])
    asked: list[str] = []
    fake.hook = lambda op, name: asked.append(name) if op == "logs" else None
    rows = {r.node: r for r in gather(fake, FLEET, SELECTOR).nodes}
    assert rows[NODES[3]].state == "stale" and agent_name(FLEET, NODES[3]) not in asked
    assert sorted(asked) == sorted(agent_name(FLEET, n) for n in NODES if n != NODES[3])


def test_a_halted_rollout_shows_the_failed_node_rolled_back_with_its_reason() -> None:
    fake = fleet()
    apply(fake, R1)
    fake.script(NODES[1], Outcome("failed", reason="gate: pool api has no healthy server"), release=R2)
    assert not apply(fake, R2).ok
    status = gather(fake, FLEET, SELECTOR)
    assert status.phase == "halted" and status.target == R2 and "lb2" in status.reason
    row = {r.node: r for r in status.nodes}[NODES[1]]
    assert row.state == "failed"
    assert row.detail == f"rolled back to {R1[:16]}: gate: pool api has no healthy server"
    assert {n: s for n, s in states(status).items() if n != NODES[1]} == {n: "in-sync" for n in NODES if n != NODES[1]}


def test_an_agent_that_failed_while_its_controller_died_shows_failed_from_its_own_line() -> None:
    fake = fleet()
    apply(fake, R1)
    fake.script(NODES[0], Outcome("failed", reason="bind :443: address in use"), release=R2)

    def die(op: str, name: str) -> None:
        if op == "logs":
            raise Killed

    fake.hook = die
    with pytest.raises(Killed):
        apply(fake, R2)
    fake.hook = None
    row = {r.node: r for r in gather(fake, FLEET, SELECTOR).nodes}[NODES[0]]
    assert (row.state, row.detail) == ("failed", f"rolled back to {R1[:16]}: bind :443: address in use")


def test_a_selected_node_without_an_agent_is_pending() -> None:
    fake = fleet()
    apply(fake, R1, waves=((NODES[0],),))
    assert states(gather(fake, FLEET, SELECTOR))[NODES[4]] == "pending"


def _data(lines: tuple[str, ...] | None, state: str = "running") -> NodeData:
    node = Node("n1", "lb1", {}, "ready", "active", "10.0.0.3")
    service = Service("s", "ctl-edge-agent-n1", 5, {"ctlplane.release": R2, "ctlplane.wave": "0"}, 2, 1)
    task = Task("t", "n1", state, "running", "", 1.0, 1.0, 2, R2)
    return NodeData("n1", node, service, (task,), lines, "" if lines is not None else "timed out")


def test_the_pure_rules() -> None:
    record = Record(phase="idle", target=R2, lkg=R2)
    serving = '{"event":"serving","release":"%s","proxy_reports":{"edge":"%s","api":"%s"}}'
    assert node_status(_data((serving % (R2, R2, R2),)), record).state == "in-sync"
    mixed = node_status(_data((serving % (R2, R2, R1),)), record)
    assert mixed.state == "applying" and mixed.reported.startswith("mixed: ")
    assert node_status(_data((serving % (R2, R2, R2),), state="starting"), record).state == "applying"
    assert node_status(_data(("not json", serving % (R2, R2, R2), "plain text")), record).state == "in-sync"
    unread = node_status(_data(None), record)  # logs unreadable (a healed partition): the healthy task reports
    assert (unread.state, unread.reported) == ("in-sync", R2) and "health check" in unread.detail
    assert node_status(_data(None, state="starting"), record).state == "stale"
    old_failure = '{"event":"failed","release":"%s","serving":"%s","reason":"port held"}' % (R1, R1)
    relayed = node_status(_data((old_failure,)), record)  # an earlier task's line; this healthy task said nothing
    assert (relayed.state, relayed.reported) == ("in-sync", R2) and "health check" in relayed.detail
    other = '{"event":"serving","release":"%s","proxy_reports":{"edge":"%s"}}' % (R1, R1)
    assert node_status(_data((other,), state="starting"), record).reported == R1  # the proxy's last word so far
    assert node_status(_data((old_failure.replace(R1, R2, 1),)), record).state == "failed"
    assert node_status(_data((), state="starting"), record).reported == ""
    assert node_status(_data((serving % (R2, R2, R2),), state="failed"), record).state == "failed"
    stopped = node_status(_data((serving % (R2, R2, R2),), state="shutdown"), record)  # Swarm ended it after a
    assert stopped.state == "stale" and "apply starts the agent again" in stopped.detail  # partition, not a failure
