"""The fleet controller against the fake Swarm: waves canary first, halt and rollback of every changed node, the
wave deadline, down nodes, compare-and-swap between concurrent applies, idempotent content-addressed publishing,
keys only in secrets, and retiring and restoring a node's agent."""

from __future__ import annotations

import json

import pytest

from ctlplane.errors import DriverError
from ctlplane.fleet.bundle import sha256
from ctlplane.fleet.fake import Outcome
from ctlplane.fleet.specs import agent_name
from ctlplane.fleet.state import FleetBusy, read_record
from tests.fleet.helpers import (DEADLINE, FLEET, KEY, NODES, R1, R2, R3, SELECTOR, WAVES, Killed, apply, fleet,
                                 releases, rollout_spec, serving, touched)


def test_a_first_rollout_goes_wave_by_wave_and_makes_the_release_last_known_good() -> None:
    fake = fleet()
    result = apply(fake, R1)
    assert result.ok and result.phase == "idle"
    assert [(n.node, n.wave, n.outcome) for n in result.nodes] == [
        (NODES[0], 0, "applied"), (NODES[1], 1, "applied"), (NODES[2], 1, "applied"), (NODES[3], 2, "applied"),
        (NODES[4], 2, "applied")]
    assert releases(fake) == {n: (R1, R1) for n in NODES}
    assert serving(fake) == {n: R1 for n in NODES}
    record = read_record(fake, FLEET)
    assert record is not None and (record.phase, record.target, record.lkg) == ("idle", R1, R1)
    creates = [name for op, name in fake.calls if op == "create_service" and "-agent-" in name]
    assert creates == [agent_name(FLEET, n) for n in NODES]  # canary first, then the waves in order


def test_a_canary_failure_halts_with_no_other_node_touched() -> None:
    fake = fleet()
    apply(fake, R1)
    fake.script(NODES[0], Outcome("failed", after_s=3, reason="bind 0.0.0.0:443: address in use"), release=R2)
    since = len(fake.calls)
    result = apply(fake, R2)
    assert not result.ok and result.phase == "halted"
    assert "lb1" in result.reason and "address in use" in result.reason
    assert touched(fake, since) == {agent_name(FLEET, NODES[0])}
    assert releases(fake) == {n: (R1, R1) for n in NODES}
    assert serving(fake) == {n: R1 for n in NODES}
    outcomes = {n.node: n.outcome for n in result.nodes}
    assert outcomes == {NODES[0]: "failed", NODES[1]: "not-reached", NODES[2]: "not-reached",
                        NODES[3]: "not-reached", NODES[4]: "not-reached"}
    record = read_record(fake, FLEET)
    assert record is not None and (record.phase, record.lkg, record.failed) == ("halted", R1, NODES[0])


def test_a_failure_in_the_last_wave_returns_every_earlier_wave_to_last_known_good() -> None:
    fake = fleet()
    apply(fake, R1)
    fake.script(NODES[4], Outcome("failed", reason="gate: 5xx share rose by 0.20"), release=R2)
    result = apply(fake, R2)
    assert result.phase == "halted" and "lb5" in result.reason and "5xx" in result.reason
    assert {n.node: n.outcome for n in result.nodes} == {
        NODES[0]: "rolled-back", NODES[1]: "rolled-back", NODES[2]: "rolled-back", NODES[3]: "rolled-back",
        NODES[4]: "failed"}
    assert releases(fake) == {n: (R1, R1) for n in NODES}
    assert serving(fake) == {n: R1 for n in NODES}


def test_a_failure_in_the_second_wave_leaves_the_third_untouched() -> None:
    fake = fleet()
    apply(fake, R1)
    fake.script(NODES[2], Outcome("failed", reason="haproxy -c refused"), release=R2)
    since = len(fake.calls)
    result = apply(fake, R2)
    assert result.phase == "halted" and "wave 1" in result.reason
    assert agent_name(FLEET, NODES[3]) not in touched(fake, since)
    assert agent_name(FLEET, NODES[4]) not in touched(fake, since)
    assert serving(fake) == {n: R1 for n in NODES}


def test_a_missed_wave_deadline_halts_and_rolls_back() -> None:
    fake = fleet()
    apply(fake, R1)
    fake.script(NODES[1], Outcome("never"), release=R2)
    start = fake.clock.now()
    result = apply(fake, R2)
    assert result.phase == "halted" and "lb2" in result.reason
    assert f"missed the wave deadline of {DEADLINE:g} s" in result.reason
    assert fake.clock.now() - start < 4 * DEADLINE  # bounded: canary, the missed wave, the rollback
    assert serving(fake) == {n: R1 for n in NODES}


def test_a_node_that_goes_down_during_its_wave_halts_the_rollout() -> None:
    fake = fleet()
    apply(fake, R1)

    def partition(op: str, name: str) -> None:
        if op == "tasks" and name == agent_name(FLEET, NODES[3]) and fake.node_map[NODES[3]].state == "ready":
            fake.set_down(NODES[3])

    fake.hook = partition
    result = apply(fake, R2)
    assert result.phase == "halted" and "node lb4 is down" in result.reason
    outcomes = {n.node: n for n in result.nodes}
    assert outcomes[NODES[3]].outcome == "failed" and "rollback-failed" in outcomes[NODES[3]].reason
    assert releases(fake)[NODES[3]] == (R1, R1)  # pointed back: it returns to last-known-good when it is back
    fake.set_down(NODES[3], False)
    fake.clock.sleep(5)
    assert serving(fake)[NODES[3]] == R1


def test_of_two_concurrent_applies_exactly_one_wins() -> None:
    fake = fleet()
    apply(fake, R1)
    other: list[object] = []

    def race(op: str, name: str) -> None:
        if op == "config" and not other:  # A has read the idle record and is publishing: B runs now
            other.append(None)
            other[0] = apply(fake, R3, owner="ctl-b")

    fake.hook = race
    with pytest.raises(FleetBusy, match="ctl-b"):
        apply(fake, R2, owner="ctl-a")
    [won] = other
    assert won.ok and won.release == R3  # type: ignore[attr-defined]
    assert releases(fake) == {n: (R3, R3) for n in NODES}


def test_an_apply_is_refused_while_a_live_controller_rolls_out() -> None:
    fake = fleet()
    refused: list[Exception] = []

    def second(op: str, name: str) -> None:
        if op == "create_service" and name == agent_name(FLEET, NODES[1]) and not refused:
            refused.append(Exception())
            with pytest.raises(FleetBusy) as busy:
                apply(fake, R2, owner="ctl-b")
            refused[0] = busy.value

    fake.hook = second
    assert apply(fake, R1, owner="ctl-a").ok
    assert "another apply (owner ctl-a) is rolling out" in refused[0].message
    assert releases(fake) == {n: (R1, R1) for n in NODES}


def test_publishing_is_content_addressed_and_idempotent() -> None:
    fake = fleet()
    first = apply(fake, R1)
    assert len(first.published) == 3  # two parts and one key
    again = apply(fake, R1)
    assert again.published == () and again.ok
    assert {n.outcome for n in again.nodes} == {"unchanged"}
    with pytest.raises(DriverError, match="exists with other content"):
        apply(fake, R2, key=b"another key under the same name")
    assert releases(fake) == {n: (R1, R1) for n in NODES}


def test_every_agent_is_told_the_sha256_the_controller_computed_for_each_part() -> None:
    fake = fleet()
    spec = rollout_spec(R1)
    fake.create_config(spec.parts[1].name, b"other bytes", {"ctlplane.fleet": FLEET, "ctlplane.release": R1,
                                                           "ctlplane.sha256": sha256(spec.parts[1].data)})
    apply(fake, R1)  # the label says the right sha: the config is reused, and the agent checks its bytes
    for node in NODES:
        env = fake.spec(agent_name(FLEET, node)).env
        assert json.loads(env["CTLPLANE_PARTS"]) == [sha256(p.data) for p in spec.parts]


def test_private_keys_travel_only_as_secrets() -> None:
    fake = fleet()
    apply(fake, R1)
    assert fake.data("secret", "ctl-edge-key-0123456789abcdef") == KEY
    for (kind, name), (blob, data) in fake.blobs.items():
        assert KEY not in data or kind == "secret", name
        assert all(b"secret-bytes" not in v.encode() for v in blob.labels.values())
    for service in fake.svcs.values():
        assert all("secret-bytes" not in v for v in [*service.spec.labels.values(), *service.spec.env.values()])
        for ref in service.spec.secrets:
            assert ref.mode == 0o400


def test_a_node_whose_label_is_removed_is_retired_and_restored_when_labelled_again() -> None:
    fake = fleet()
    apply(fake, R1)
    fake.set_labels(NODES[4], {})
    result = apply(fake, R1, waves=WAVES[:2] + ((NODES[3],),))
    assert [(n.node, n.outcome) for n in result.nodes if n.outcome == "retired"] == [(NODES[4], "retired")]
    assert agent_name(FLEET, NODES[4]) not in fake.svcs
    fake.set_labels(NODES[4], SELECTOR)
    result = apply(fake, R1)
    assert {n.node: n.outcome for n in result.nodes}[NODES[4]] == "applied"
    assert releases(fake) == {n: (R1, R1) for n in NODES}


def test_a_new_node_that_fails_has_no_last_known_good_and_its_agent_is_removed() -> None:
    fake = fleet()
    apply(fake, R1, waves=WAVES[:2])  # lb4 and lb5 not selected yet
    fake.script(NODES[3], Outcome("failed", reason="port held"), release=R1)
    result = apply(fake, R1)
    assert result.phase == "halted"
    assert {n.node: n.outcome for n in result.nodes}[NODES[3]] == "failed"
    assert agent_name(FLEET, NODES[3]) not in fake.svcs


def test_a_controller_killed_between_waves_is_resumed_by_a_re_run_once_its_heartbeat_is_stale() -> None:
    fake = fleet()
    apply(fake, R1)

    def kill(op: str, name: str) -> None:
        if op == "update_service" and name == agent_name(FLEET, NODES[1]):
            raise Killed

    fake.hook = kill
    with pytest.raises(Killed):
        apply(fake, R2, owner="ctl-dead")
    fake.hook = None
    record = read_record(fake, FLEET)
    assert record is not None and (record.phase, record.wave, record.owner) == ("rolling", 1, "ctl-dead")
    with pytest.raises(FleetBusy, match="ctl-dead"):
        apply(fake, R2)
    fake.clock.sleep(3 * DEADLINE + 1)
    result = apply(fake, R2)
    assert result.ok and result.took_over == "ctl-dead"
    assert {n.node: n.outcome for n in result.nodes}[NODES[0]] == "unchanged"
    assert releases(fake) == {n: (R2, R2) for n in NODES}
    assert serving(fake) == {n: R2 for n in NODES}


def test_a_controller_killed_during_a_wave_is_resumed_without_restarting_started_agents() -> None:
    fake = fleet()
    apply(fake, R1)

    def kill(op: str, name: str) -> None:
        if op == "tasks" and name == agent_name(FLEET, NODES[2]) and fake.spec(name).labels["ctlplane.release"] == R2:
            raise Killed

    fake.hook = kill
    with pytest.raises(Killed):
        apply(fake, R2, owner="ctl-dead")
    fake.hook = None
    generation = fake.spec(agent_name(FLEET, NODES[1])).generation
    fake.clock.sleep(3 * DEADLINE + 1)
    result = apply(fake, R2)
    assert result.ok
    assert fake.spec(agent_name(FLEET, NODES[1])).generation == generation
    assert serving(fake) == {n: R2 for n in NODES}


def test_a_re_run_with_another_target_first_finishes_the_dead_controllers_rollback() -> None:
    fake = fleet()
    apply(fake, R1)
    fake.script(NODES[3], Outcome("failed", reason="bad"), release=R2)

    def kill(op: str, name: str) -> None:
        record = read_record(fake, FLEET) if op == "update_service" and "-agent-" in name else None
        if record is not None and record.phase == "rolling-back":
            raise Killed

    fake.hook = kill
    with pytest.raises(Killed):
        apply(fake, R2, owner="ctl-dead")
    fake.hook = None
    assert read_record(fake, FLEET).phase == "rolling-back"  # type: ignore[union-attr]
    fake.clock.sleep(3 * DEADLINE + 1)
    since = len(fake.calls)
    result = apply(fake, R3)
    assert result.ok and result.took_over == "ctl-dead"
    # the canary went back to R1 before it moved to R3: the rollback was finished first
    canary = [n for op, n in fake.calls[since:] if op == "update_service" and n == agent_name(FLEET, NODES[0])]
    assert len(canary) >= 2
    assert releases(fake) == {n: (R3, R3) for n in NODES}


def test_a_live_controller_keeps_its_claim_fresh_through_a_rollout_longer_than_the_stale_limit() -> None:
    fake = fleet()
    apply(fake, R1)
    for node in NODES:
        fake.script(node, Outcome(after_s=DEADLINE - 5), release=R2)
    start = fake.clock.now()
    refused: list[Exception] = []

    def second(op: str, name: str) -> None:
        if op == "tasks" and name == agent_name(FLEET, NODES[4]) and fake.clock.now() - start > 3 * DEADLINE \
                and not refused:
            refused.append(Exception())
            with pytest.raises(FleetBusy) as busy:
                apply(fake, R3, owner="ctl-b")
            refused[0] = busy.value

    fake.hook = second
    assert apply(fake, R2, owner="ctl-a", waves=tuple((n,) for n in NODES)).ok  # five waves of 55 s
    assert refused and "owner ctl-a" in refused[0].message


def test_a_stale_read_of_its_own_record_does_not_make_a_controller_give_up() -> None:
    from ctlplane.fleet.state import StateRecord

    fake = fleet()
    state = StateRecord(fake, FLEET, "img", "ctl-a", fake.clock, stale_s=180)
    state.read()
    state.claim(phase="rolling", target=R2)
    svc = fake.svcs["ctl-edge-state"]
    svc.version += 1  # the manager moved on while our read answered the version before
    assert state.write(wave=1).wave == 1
    other = StateRecord(fake, FLEET, "img", "ctl-b", fake.clock, stale_s=180)
    other.read()
    fake.clock.sleep(181)
    other.claim(phase="rolling-back")  # takes over the stale record
    with pytest.raises(FleetBusy, match="owner ctl-b"):
        state.write(wave=2)
