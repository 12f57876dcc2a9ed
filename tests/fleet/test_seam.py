"""The Swarm seam's pure parts and its in-memory fake: agent service specs exactly as the fleet plan fixes them,
releases recovered from their part labels, compare-and-swap versions, tasks restarted only by a template change,
scripted task outcomes, frozen down nodes and the agents' log lines."""

from __future__ import annotations

import json

import pytest

from ctlplane.errors import DriverError
from ctlplane.fleet.fake import FakeSwarm, Outcome
from ctlplane.fleet.specs import (CHECK_COMMAND, AgentSettings, Release, agent_spec, part_labels, release_from_parts,
                                  with_labels)
from ctlplane.fleet.swarm import BindMount, Blob, FileRef, SwarmConflict

SETTINGS = AgentSettings("edge", "ctlplane-agent:1", soak_s=30, deadline_s=120, gate={"max_5xx_increase": 0.01})
NODE = "n1abcdefghijklmnop"


def test_the_agent_service_spec_is_the_plans() -> None:
    spec = agent_spec(SETTINGS, NODE, 2, Release("d" * 64, ("p1", "p2"), ("ctl-edge-key-0123",)), "c" * 64, 7)
    assert spec.name == "ctl-edge-agent-n1abcdefghij"
    assert spec.replicas == 1 and spec.restart == "none" and spec.generation == 7
    assert spec.constraints == (f"node.id=={NODE}",)
    assert spec.image == "ctlplane-agent:1" and spec.command == ("ctlplane", "agent", "run")
    assert spec.binds == (BindMount("/var/run/docker.sock", "/var/run/docker.sock"),
                          BindMount("/var/lib/ctlplane", "/var/lib/ctlplane"))
    assert spec.configs == (FileRef("p1", "/run/ctlplane/release/part-1"), FileRef("p2", "/run/ctlplane/release/part-2"))
    assert spec.secrets == (FileRef("ctl-edge-key-0123", "ctl-edge-key-0123", 0o400),)
    assert spec.env == {"CTLPLANE_FLEET": "edge", "CTLPLANE_NODE": NODE, "CTLPLANE_RELEASE": "d" * 64,
                        "CTLPLANE_SOAK_MS": "30000", "CTLPLANE_GATE": '{"max_5xx_increase":0.01}'}
    assert spec.labels == {"ctlplane.fleet": "edge", "ctlplane.role": "agent", "ctlplane.node": NODE,
                           "ctlplane.wave": "2", "ctlplane.release": "d" * 64, "ctlplane.lkg": "c" * 64}
    assert spec.health is not None
    assert spec.health.test == CHECK_COMMAND and "$CTLPLANE_RELEASE" in CHECK_COMMAND[-1]
    assert (spec.health.interval_s, spec.health.retries, spec.health.start_period_s) == (1.0, 1, 120)
    assert with_labels(spec, {"ctlplane.lkg": "d" * 64}).labels["ctlplane.lkg"] == "d" * 64


def test_a_release_is_recovered_from_its_part_labels_only_when_every_part_is_there() -> None:
    blobs = [Blob(f"id{k}", f"ctl-edge-dd-{k}-of-3", part_labels("edge", "dd", k, 3, "s", ["k1", "k2"]))
             for k in (3, 1, 2)]
    assert release_from_parts("dd", blobs) == Release("dd", ("ctl-edge-dd-1-of-3", "ctl-edge-dd-2-of-3",
                                                             "ctl-edge-dd-3-of-3"), ("k1", "k2"), ("s", "s", "s"))
    assert release_from_parts("dd", blobs[:2]) is None
    assert release_from_parts("other", blobs) is None


def test_the_agent_is_told_the_sha256_of_every_part_so_it_can_name_a_corrupted_one() -> None:
    release = Release("d" * 64, ("p1", "p2"), (), ("s1", "s2"))
    spec = agent_spec(SETTINGS, NODE, 0, release, "", 1)
    assert spec.env["CTLPLANE_PARTS"] == '["s1","s2"]'
    blobs = [Blob(f"id{k}", f"ctl-edge-dd-{k}-of-2", part_labels("edge", "dd", k, 2, f"sha{k}", [])) for k in (2, 1)]
    found = release_from_parts("dd", blobs)
    assert found is not None and found.shas == ("sha1", "sha2")
    assert agent_spec(SETTINGS, NODE, 0, found, "", 1).env["CTLPLANE_PARTS"] == '["sha1","sha2"]'


def _fake_with_agent(outcome: Outcome) -> tuple[FakeSwarm, str]:
    fake = FakeSwarm()
    fake.add_node(NODE, "lb1")
    fake.script(NODE, outcome)
    fake.create_config("p1", b"tar", {"ctlplane.fleet": "edge"})
    fake.create_secret("ctl-edge-key-0123", b"KEY", {})
    spec = agent_spec(SETTINGS, NODE, 0, Release("r1", ("p1",), ("ctl-edge-key-0123",)), "", 1)
    fake.create_service(spec)
    return fake, spec.name


def test_a_stale_version_and_a_taken_name_are_conflicts() -> None:
    fake, name = _fake_with_agent(Outcome())
    read = fake.service(name)
    assert read is not None
    fake.update_service(read, with_labels(fake.spec(name), {"ctlplane.wave": "1"}))
    with pytest.raises(SwarmConflict):
        fake.update_service(read, with_labels(fake.spec(name), {"ctlplane.wave": "2"}))
    with pytest.raises(SwarmConflict):
        fake.create_service(fake.spec(name))
    with pytest.raises(SwarmConflict):
        fake.create_config("p1", b"other", {})


def test_labels_change_no_task_a_generation_starts_a_new_one() -> None:
    fake, name = _fake_with_agent(Outcome(after_s=2))
    fake.clock.sleep(3)
    [first] = fake.tasks(name)
    assert (first.state, first.generation, first.release, first.node_id) == ("running", 1, "r1", NODE)
    read = fake.service(name)
    assert read is not None
    fake.update_service(read, with_labels(fake.spec(name), {"ctlplane.lkg": "r1"}))
    assert [t.id for t in fake.tasks(name)] == [first.id]
    read = fake.service(name)
    assert read is not None
    from dataclasses import replace
    fake.update_service(read, replace(fake.spec(name), generation=2))
    old, new = fake.tasks(name)
    assert (old.state, old.desired_state) == ("shutdown", "shutdown")
    assert (new.state, new.generation) == ("starting", 2)


def test_scripted_outcomes_and_their_log_lines() -> None:
    fake, name = _fake_with_agent(Outcome("failed", after_s=1, reason="port 443 held"))
    assert fake.tasks(name)[0].state == "starting" and fake.service_logs(name, 10) == []
    fake.clock.sleep(1)
    [task] = fake.tasks(name)
    assert task.state == "failed" and task.terminal and "non-zero exit" in task.error
    [line] = fake.service_logs(name, 10)
    assert json.loads(line) == {"event": "failed", "node": NODE, "release": "r1", "serving": "",
                                "reason": "port 443 held"}

    fake, name = _fake_with_agent(Outcome("never"))
    fake.clock.sleep(3600)
    assert fake.tasks(name)[0].state == "starting"

    fake, name = _fake_with_agent(Outcome(after_s=1, reports="r0"))
    fake.clock.sleep(1)
    assert json.loads(fake.service_logs(name, 1)[0])["proxy_reports"] == {"edge": "r0"}


def test_a_down_node_freezes_its_tasks_and_its_logs_are_unreachable() -> None:
    fake, name = _fake_with_agent(Outcome(after_s=5))
    fake.clock.sleep(1)
    fake.set_down(NODE)
    fake.clock.sleep(60)
    assert fake.tasks(name)[0].state == "starting"
    assert [n.state for n in fake.nodes()] == ["down"]
    with pytest.raises(DriverError, match="node unreachable"):
        fake.service_logs(name, 5)
    fake.set_down(NODE, False)
    fake.clock.sleep(4)
    assert fake.tasks(name)[0].state == "running"
