"""The Swarm manager stopped (issue 16's test 7): the fleet's nodes keep serving, a crashed proxy comes back on
its last-known-good release, ``ctlplane apply`` refuses and changes nothing; the manager started again finds the
fleet in sync and can roll out again.

The lab's manager ``m1`` is drained and runs no proxy (the production shape), so stopping its container leaves
every fleet node's proxy and agent running. For 60 s (the issue's figure) keep-alive load through every node
must see no failed request while an apply is tried against the stopped manager: it exits 1 with the manager's
address and no traceback, and no proxy changed (same container, master and workers, same release). Then the
HAProxy master of one node's proxy is SIGKILLed from the node's namespace (inside its own PID namespace the
master is PID 1, which ignores SIGKILL there): the engine's restart policy (``unless-stopped``) starts the same
container again on its own command, which reads the active release, the last-known-good, and the node answers
with that release again, with no manager and no ctlplane involved.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from integration.fleet.kit import ctl, fleet_lab, fleet_model, proxy_facts, release_of
from integration.fleet.lab import SwarmLab
from integration.fleet.test_rollout import Fleet, assert_in_sync
from integration.fleet.traffic import NodeLoad
from integration.harness.wait import wait_until

WITHOUT_MANAGER_S = 60.0  # the figure


@pytest.fixture(scope="module")
def fleet(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with fleet_lab(swarm_lab):  # its sweep needs the manager: the manager is running again before it
        try:
            yield Fleet(swarm_lab, tmp_path_factory.mktemp("manager"))
        finally:
            swarm_lab.manager.container.reload()
            if swarm_lab.manager.container.status != "running":  # a failure before the test started it again
                swarm_lab.start_manager()


def test_without_the_manager_the_nodes_serve_a_killed_proxy_returns_and_apply_changes_nothing(
        fleet: Fleet) -> None:
    lab = fleet.lab
    run, path = fleet.apply(fleet_model(lab, "m0"), "m0")
    assert run.code == 0, run
    assert_in_sync(fleet, path)
    before = fleet.facts()
    lab.stop_manager()
    try:
        # 1. 60 s of load through every node; meanwhile apply and status are tried against the stopped manager
        with NodeLoad(fleet.targets, rate=10, limit=WITHOUT_MANAGER_S + 60) as load:
            wait_until(lambda: all(load.answers[t] for t in fleet.targets), timeout=10, what="load on every node")
            started = time.monotonic()
            refused, _ = fleet.apply(fleet_model(lab, "m1"), "m1")
            after_refusal = fleet.facts()
            status = ctl("status", str(path), timeout=90)
            wait_until(lambda: time.monotonic() - started >= WITHOUT_MANAGER_S, timeout=WITHOUT_MANAGER_S + 30,
                       interval=1, what=f"{WITHOUT_MANAGER_S:g} s of load with the manager stopped")
            load.stop()
        print(f"without the manager: {load.total()} answers in {time.monotonic() - started:.0f} s, apply refused "
              f"after {refused.took:.1f} s: {(refused.out + refused.err).strip()[:400]}")
        assert load.failures() == [], load.failures()[:10]
        assert all(load.total(t) >= WITHOUT_MANAGER_S * 5 for t in fleet.targets), {
            t: load.total(t) for t in fleet.targets}
        assert {a.release for t in fleet.targets for a in load.answers[t]} == {"m0"}
        for run_ in (refused, status):  # exit 1, the manager's address, no traceback
            assert run_.code == 1 and "Traceback" not in run_.err + run_.out, run_
            assert f"tcp://{lab.manager.ip}:2375" in run_.err + run_.out, run_
        assert after_refusal == before and fleet.facts() == before  # same containers, masters, workers: no reload
        assert {n.name: release_of(n) for n in fleet.nodes} == {n.name: "m0" for n in fleet.nodes}

        # 2. one node's HAProxy master killed by hand: the engine starts the container again on the active release
        node = fleet.nodes[1]
        others = [n for n in fleet.nodes if n is not node]
        container = node.client.containers.get(before[node.name].container)
        restarts = int(container.attrs["RestartCount"])
        with NodeLoad([fleet.target(n) for n in others], rate=10) as load:
            wait_until(lambda: load.total() > 10, timeout=10, what="load on the other nodes")
            rc, out = node.exec("kill", "-KILL", str(before[node.name].master))  # the master, in the node's view
            assert rc == 0, out

            def back() -> bool:
                container.reload()
                return (int(container.attrs["RestartCount"]) > restarts and container.status == "running"
                        and release_of(node) == "m0")

            wait_until(back, timeout=30, interval=0.5, what=f"the proxy on {node.name} back on its last-known-good")
            wait_until(lambda: load.total() > 40, timeout=10, what="load on the other nodes after the kill")
        after = proxy_facts(node)
        print(f"{node.name}: master {before[node.name].master} SIGKILLed, master {after.master} serves "
              f"{release_of(node)} (restart count {container.attrs['RestartCount']}, policy "
              f"{container.attrs['HostConfig']['RestartPolicy']['Name']})")
        assert after.container == before[node.name].container and after.master != before[node.name].master
        assert load.failures() == [], load.failures()[:10]  # the other nodes never noticed
        assert {n.name: proxy_facts(n) for n in others} == {n.name: before[n.name] for n in others}
    finally:
        lab.start_manager()
    # 3. the manager back: the fleet is in sync (the restarted proxy reports what its agent applied), and the next
    # release rolls out by hot reload on every node, the restarted one included
    wait_until(lambda: ctl("status", str(path), "-o", "json", timeout=90).json()["in_sync"], timeout=60, interval=2,
               what="the fleet in sync after the manager's restart")
    assert_in_sync(fleet, path)
    restarted = fleet.facts()
    run, path = fleet.apply(fleet_model(lab, "m2"), "m2")
    assert run.code == 0, run
    assert {n.name: release_of(n) for n in fleet.nodes} == {n.name: "m2" for n in fleet.nodes}
    assert {k: (v.container, v.master) for k, v in fleet.facts().items()} == {
        k: (v.container, v.master) for k, v in restarted.items()}
    assert_in_sync(fleet, path)
