"""Faults against the fake Swarm: a killed controller whose process is provably gone is taken over at once and
shown interrupted by status, and an agent that dies without a verdict is started once more."""

from __future__ import annotations

import socket

import pytest

from ctlplane.fleet.fake import Outcome
from ctlplane.fleet.rollout import Controller
from ctlplane.fleet.specs import agent_name
from ctlplane.fleet.state import FleetBusy, owner_gone, read_record
from ctlplane.fleet.status import gather
from tests.fleet.helpers import FLEET, NODES, R1, R2, R3, SELECTOR, Killed, apply, fleet, releases, rollout_spec, serving

HOST = "ops-host-1"
DEAD = f"{HOST}-4242-0badcafe"  # hostname (with dashes), pid, random part: as controller_id() makes them
HERE = socket.gethostname()
KILLED = f"{HERE}-4242-0badcafe"  # a controller that ran on this host


def test_an_owner_is_gone_when_its_heartbeat_is_stale_or_its_pid_does_not_run_on_this_host() -> None:
    def alive(pid: int) -> bool:
        return pid != 4242

    assert owner_gone(DEAD, 1000.0, 1010.0, 180.0, HOST, alive) == \
        f"its process (pid 4242) no longer runs on this host ({HOST})"
    assert owner_gone(f"{HOST}-4243-0badcafe", 1000.0, 1010.0, 180.0, HOST, alive) == ""  # it runs
    assert owner_gone(DEAD, 1000.0, 1010.0, 180.0, "other-host", alive) == ""  # another host: cannot tell
    assert owner_gone("ctl-a", 1000.0, 1010.0, 180.0, HOST, alive) == ""  # not an id we can read
    assert owner_gone(f"{HOST}-4242-nothex!", 1000.0, 1010.0, 180.0, HOST, alive) == ""
    assert owner_gone("ctl-a", 1000.0, 1181.0, 180.0, HOST, alive) == "its last heartbeat is 181 s old (stale after 180 s)"


def run(fake: object, release: str, owner: str, dead: set[int] | frozenset[int] = frozenset()) -> object:
    controller = Controller(fake, rollout_spec(release), fake.clock, owner=owner,  # type: ignore[arg-type,attr-defined]
                            alive=lambda pid: pid not in dead)
    return controller.run()


def killed_during_wave_1(fake: object, release: str) -> None:
    def kill(op: str, name: str) -> None:
        if op == "tasks" and name == agent_name(FLEET, NODES[1]) and \
                fake.spec(name).labels["ctlplane.release"] == release:  # type: ignore[attr-defined]
            raise Killed

    fake.hook = kill  # type: ignore[attr-defined]
    with pytest.raises(Killed):
        run(fake, release, KILLED)
    fake.hook = None  # type: ignore[attr-defined]


def test_a_re_run_takes_over_at_once_from_a_controller_whose_pid_is_gone() -> None:
    fake = fleet()
    apply(fake, R1)
    killed_during_wave_1(fake, R2)
    with pytest.raises(FleetBusy, match=KILLED):  # while its pid runs, it is alive
        run(fake, R2, f"{HERE}-99-00000001")
    start = fake.clock.now()
    result = run(fake, R2, f"{HERE}-99-00000001", dead={4242})
    assert result.ok and result.took_over == KILLED  # type: ignore[attr-defined]
    assert fake.clock.now() - start < 60  # no wait for the heartbeat to go stale (3 x 60 s)
    assert serving(fake) == {n: R2 for n in NODES}


def test_a_re_run_with_another_release_after_the_kill_first_rolls_back_then_rolls_the_new_one() -> None:
    fake = fleet()
    apply(fake, R1)
    killed_during_wave_1(fake, R2)
    since = len(fake.calls)
    result = run(fake, R3, f"{HERE}-99-00000001", dead={4242})
    assert result.ok and result.took_over == KILLED  # type: ignore[attr-defined]
    moved = [n for op, n in fake.calls[since:] if op == "update_service" and n == agent_name(FLEET, NODES[1])]
    assert len(moved) >= 2  # back to R1 first, then on to R3
    assert releases(fake) == {n: (R3, R3) for n in NODES}


def test_status_shows_a_rollout_whose_owner_is_gone_as_interrupted_and_never_in_sync_off_target() -> None:
    fake = fleet()
    apply(fake, R1)
    killed_during_wave_1(fake, R2)
    record = read_record(fake, FLEET)
    assert record is not None

    def gone(r: object) -> str:
        return owner_gone(record.owner, record.heartbeat, fake.clock.now(), 180.0, HERE, lambda pid: pid != 4242)

    status = gather(fake, FLEET, SELECTOR, gone=gone)
    assert status.phase == "interrupted" and status.target == R2
    assert KILLED in status.reason and "pid 4242" in status.reason and "apply again" in status.reason
    rows = {r.node: r for r in status.nodes}
    assert rows[NODES[0]].state == "in-sync" and rows[NODES[0]].reported == R2
    assert rows[NODES[1]].state == rows[NODES[2]].state == "applying"  # their agents go on without the controller
    for node in NODES[3:]:
        assert rows[node].state == "pending" and "interrupted" in rows[node].detail
    assert all(r.state != "in-sync" or r.reported == R2 for r in status.nodes)
    fake.clock.sleep(30)  # the started agents finish on their own: in sync once their proxies report R2
    rows = {r.node: r for r in gather(fake, FLEET, SELECTOR, gone=gone).nodes}
    assert rows[NODES[1]].state == "in-sync" and rows[NODES[3]].state == "pending"
    alive = gather(fake, FLEET, SELECTOR, gone=lambda r: "")
    assert alive.phase == "rolling"


def test_an_agent_that_dies_without_a_verdict_is_started_once_more() -> None:
    fake = fleet()
    apply(fake, R1)
    fake.script(NODES[1], Outcome("died", after_s=1), release=R2, once=True)
    generation = fake.spec(agent_name(FLEET, NODES[1])).generation
    result = apply(fake, R2)
    assert result.ok, result.reason
    assert fake.spec(agent_name(FLEET, NODES[1])).generation == generation + 2  # moved, then started again
    assert serving(fake) == {n: R2 for n in NODES}


def test_an_agent_that_dies_twice_halts_the_rollout() -> None:
    fake = fleet()
    apply(fake, R1)
    fake.script(NODES[1], Outcome("died", after_s=1), release=R2)
    result = apply(fake, R2)
    assert result.phase == "halted" and "lb2" in result.reason and "died" in result.reason
    assert serving(fake) == {n: R1 for n in NODES}


def test_an_agent_that_failed_with_its_verdict_is_not_started_again() -> None:
    fake = fleet()
    apply(fake, R1)
    fake.script(NODES[1], Outcome("failed", reason="bind: address in use"), release=R2, once=True)
    result = apply(fake, R2)
    assert result.phase == "halted" and "address in use" in result.reason
