"""A HAProxy fleet on the real three-node Swarm, end to end (issue 16's tests 1, 2, 3, 8, 10 and 12).

``ctlplane apply`` (a subprocess, against the manager's engine API) rolls releases out canary first, then in a
wave of the two other nodes; keep-alive load from the test host through every node's proxy checks that no
request fails, and each node's proxy container id and HAProxy master pid (in the node's namespace) show the
reloads were hot. The tests share one fleet (module fixture): each starts from the release the previous one
left serving. A fault only the canary has (its new port held by another listener) and a release that breaks a
route during the soak are both caught on the canary, which is back on last-known-good while no other node is
touched; a weight-only change reloads nothing; of two concurrent applies exactly one wins; a node partitioned
from the manager serves on, is shown stale and takes the release rolled out meanwhile by a hot reload after the
heal; a node whose label is removed has its proxy stopped and removed, and is restored when labelled again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integration.fleet.kit import (CONTAINER, EXTRA_PORT, PORT, ProxyFacts, Run, ctl, finish, fleet_lab, fleet_model,
                                   held_port, proxy_facts, release_of, start_ctl, write_model)
from integration.fleet.lab import Node, SwarmLab
from integration.fleet.traffic import NodeLoad
from integration.harness.wait import wait_until

RELEASES = 10  # the ten releases through canary and waves under load


@dataclass
class Fleet:
    """The fleet under test: where its models are written and what it serves now."""

    lab: SwarmLab
    home: Path
    serving: str = ""  # the X-Release of the release every node serves
    model: Path | None = None

    @property
    def nodes(self) -> list[Node]:
        return sorted(self.lab.nodes, key=lambda n: n.name)

    @property
    def canary(self) -> Node:
        return self.nodes[0]  # waves are ordered by hostname: n1 is the canary

    def target(self, node: Node) -> str:
        return f"{node.ip}:{PORT}"

    @property
    def targets(self) -> list[str]:
        return [self.target(n) for n in self.nodes]

    def apply(self, data: dict[str, Any], name: str) -> tuple[Run, Path]:
        path = write_model(self.home / name, data)
        return ctl("apply", str(path), "--yes", "-o", "json"), path

    def status(self, path: Path) -> dict[str, Any]:
        run = ctl("status", str(path), "-o", "json", timeout=90)
        assert run.code == 0, run
        found: dict[str, Any] = run.json()
        return found

    def facts(self) -> dict[str, ProxyFacts]:
        return {n.name: proxy_facts(n) for n in self.nodes}


def assert_in_sync(fleet: Fleet, path: Path) -> dict[str, Any]:
    status = fleet.status(path)
    assert status["phase"] == "idle" and status["in_sync"], status
    for row in status["nodes"]:
        assert row["state"] == "in-sync" and row["reported"] == row["desired"] == status["target"], row
    assert sorted(r["hostname"] for r in status["nodes"]) == [n.name for n in fleet.nodes]
    return status


@pytest.fixture(scope="module")
def fleet(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with fleet_lab(swarm_lab):
        yield Fleet(swarm_lab, tmp_path_factory.mktemp("fleet"))


def ensure_serving(fleet: Fleet) -> None:
    """Start from an idle fleet in sync on one release. The order of the tests is not promised (xdist's loadgroup
    scheduling ran the partition test right after the canary fault in CI), so the one before may have left
    nothing serving (run alone, or it failed) or a halted rollout (a fault test: its canary is rightly shown
    failed until the next rollout); then the serving release (else r0) is rolled out again."""
    if fleet.serving and fleet.model is not None:
        status = fleet.status(fleet.model)
        if status["phase"] == "idle" and status["in_sync"]:
            return
    release = fleet.serving or "r0"
    run, path = fleet.apply(fleet_model(fleet.lab, release), release)
    assert run.code == 0, run
    fleet.serving, fleet.model = release, path


def first_seen(load: NodeLoad, target: str, release: str) -> float:
    return min((a.at for a in load.answers[target] if a.release == release), default=float("inf"))


def test_releases_roll_out_canary_first_with_hot_reloads_under_load(fleet: Fleet) -> None:
    run, path = fleet.apply(fleet_model(fleet.lab, "r0"), "r0")
    assert run.code == 0, run
    result = run.json()
    assert result["ok"] and result["phase"] == "idle", result
    waves = {n["hostname"]: n["wave"] for n in result["nodes"]}
    assert waves == {"n1": 0, "n2": 1, "n3": 1}, result
    for node in fleet.nodes:
        assert release_of(node) == "r0"
    first = assert_in_sync(fleet, path)
    before = fleet.facts()
    releases = [f"r{k}" for k in range(1, RELEASES + 1)]
    with NodeLoad(fleet.targets, limit=60.0 * RELEASES) as load:  # ten rollouts take minutes on a loaded machine
        wait_until(lambda: all(load.answers[t] for t in fleet.targets), timeout=10, what="load on every node")
        for release in releases:
            run, path = fleet.apply(fleet_model(fleet.lab, release), release)
            assert run.code == 0, run
            assert {n["outcome"] for n in run.json()["nodes"]} == {"applied"}, run
            for node in fleet.nodes:
                assert release_of(node) == release, node.name
        wait_until(lambda: all(load.last_release(t) == releases[-1] for t in fleet.targets), timeout=10,
                   what="the load sees the last release on every node")
    assert load.failures() == [], load.failures()[:10]
    assert all(load.total(t) > 50 for t in fleet.targets), {t: load.total(t) for t in fleet.targets}
    for release in releases:  # canary first: the canary served each release before any node of wave 1
        canary = first_seen(load, fleet.target(fleet.canary), release)
        assert all(canary < first_seen(load, fleet.target(n), release) for n in fleet.nodes[1:]), release
    after = fleet.facts()
    for name, facts in before.items():  # the same container and master on every node: hot reloads only
        assert (after[name].container, after[name].master) == (facts.container, facts.master), name
        assert after[name].workers and after[name].workers != facts.workers, name  # they did reload
    last = assert_in_sync(fleet, path)
    assert last["target"] != first["target"]
    fleet.serving, fleet.model = releases[-1], path


def test_a_fault_only_the_canary_has_halts_the_rollout_there(fleet: Fleet) -> None:
    ensure_serving(fleet)
    before = fleet.facts()
    squatter = held_port(fleet.canary, fleet.lab.images[0], EXTRA_PORT)
    try:
        with NodeLoad(fleet.targets) as load:
            wait_until(lambda: all(load.answers[t] for t in fleet.targets), timeout=10, what="load on every node")
            run, _ = fleet.apply(fleet_model(fleet.lab, "r-bad", extra_service=True), "r-bad")
            wait_until(lambda: load.total() > 30, timeout=10, what="some load after the apply")
    finally:
        squatter.remove(force=True)
    assert run.code != 0, run
    result = run.json()
    assert not result["ok"] and result["phase"] == "halted", result
    assert "n1" in result["reason"] and "wave 0" in result["reason"], result
    outcomes = {n["hostname"]: n["outcome"] for n in result["nodes"]}
    assert outcomes == {"n1": "failed", "n2": "not-reached", "n3": "not-reached"}, result
    assert load.failures() == [], load.failures()[:10]
    for node in fleet.nodes:
        assert release_of(node) == fleet.serving, node.name
    after = fleet.facts()
    assert (after["n1"].container, after["n1"].master) == (before["n1"].container, before["n1"].master)
    for name in ("n2", "n3"):  # untouched: the same workers, no reload
        assert after[name] == before[name], name
    assert fleet.model is not None
    status = fleet.status(fleet.model)
    assert status["phase"] == "halted" and "n1" in status["reason"], status


def test_the_soak_gate_catches_a_dead_route_on_the_canary(fleet: Fleet) -> None:
    ensure_serving(fleet)
    before = fleet.facts()
    with NodeLoad(fleet.targets, path="/dead/x", rate=20) as dead, NodeLoad(fleet.targets) as load:
        wait_until(lambda: all(dead.answers[t] for t in fleet.targets), timeout=10, what="load on every node")
        started = time.time()
        run, _ = fleet.apply(fleet_model(fleet.lab, "r-dead", dead_route=True, soak="6s"), "r-dead")
        ended = time.time()
        wait_until(lambda: dead.total() > 60, timeout=10, what="some load after the apply")
    assert run.code != 0, run
    result = run.json()
    assert not result["ok"] and "n1" in result["reason"] and "5xx" in result["reason"], result
    assert {n["hostname"]: n["outcome"] for n in result["nodes"]} == {
        "n1": "failed", "n2": "not-reached", "n3": "not-reached"}, result
    assert load.failures() == [], load.failures()[:10]
    errors = dead.failures()
    assert errors and {t for t, _ in errors} == {fleet.target(fleet.canary)}, errors[:10]
    assert all(started <= a.at <= ended for _, a in errors), (started, ended, errors[:3])
    assert all(a.status >= 500 for _, a in errors), errors[:10]
    for node in fleet.nodes:
        assert release_of(node) == fleet.serving, node.name
    after = fleet.facts()
    for name in ("n2", "n3"):
        assert after[name] == before[name], name


def test_a_weight_only_change_reloads_no_node_and_the_split_holds(fleet: Fleet) -> None:
    ensure_serving(fleet)
    run, path = fleet.apply(fleet_model(fleet.lab, fleet.serving), "w11")  # back to the serving release
    assert run.code == 0, run
    before = fleet.facts()
    with NodeLoad(fleet.targets, rate=25) as load:
        wait_until(lambda: all(load.answers[t] for t in fleet.targets), timeout=10, what="load on every node")
        run, path = fleet.apply(fleet_model(fleet.lab, fleet.serving, weights=(3, 1)), "w31")
        assert run.code == 0, run
        changed = time.time()
        wait_until(lambda: all(sum(load.servers(t, changed).values()) >= 80 for t in fleet.targets), timeout=30,
                   what="80 answers per node after the change")
    assert load.failures() == [], load.failures()[:10]
    assert fleet.facts() == before  # same containers, masters and workers: the runtime API only
    for node in fleet.nodes:
        split = load.servers(fleet.target(node), changed)
        first = split[f"b1-{node.name}"] / sum(split.values())
        assert set(split) == {f"b1-{node.name}", f"b2-{node.name}"} and 0.65 <= first <= 0.85, (node.name, split)
    assert_in_sync(fleet, path)
    fleet.model = path


def test_of_two_concurrent_applies_exactly_one_wins(fleet: Fleet) -> None:
    ensure_serving(fleet)
    paths = {r: write_model(fleet.home / r, fleet_model(fleet.lab, r)) for r in ("c1", "c2")}
    t0 = time.monotonic()
    procs = {r: start_ctl("apply", str(p), "--yes", "-o", "json") for r, p in paths.items()}
    runs = {r: finish(p, t0) for r, p in procs.items()}
    winners = [r for r, run in runs.items() if run.code == 0]
    assert len(winners) == 1, "\n".join(map(str, runs.values()))
    winner, loser = winners[0], next(r for r in runs if r not in winners)
    lost = runs[loser]
    assert lost.code == 1 and "another apply" in lost.out + lost.err, lost
    assert "Traceback" not in lost.err, lost
    for node in fleet.nodes:
        assert release_of(node) == winner, node.name
    assert_in_sync(fleet, paths[winner])
    fleet.serving, fleet.model = winner, paths[winner]


def test_a_partitioned_node_keeps_serving_is_shown_stale_and_takes_the_new_release_after_the_heal(
        fleet: Fleet) -> None:
    ensure_serving(fleet)
    node = fleet.nodes[-1]
    others = [n for n in fleet.nodes if n is not node]
    before = fleet.facts()
    new = "r-part" if fleet.serving != "r-part" else "r-part2"
    with NodeLoad(fleet.targets) as load:
        fleet.lab.partition(node)
        try:
            wait_until(lambda: fleet.lab.state(node) == "down", timeout=60, interval=0.5, what=f"{node.name} Down")
            run, path = fleet.apply(fleet_model(fleet.lab, new), new)
            assert run.code == 0, run
            outcomes = {n["hostname"]: (n["outcome"], n["reason"]) for n in run.json()["nodes"]}
            assert outcomes[node.name][0] == "deferred" and "down" in outcomes[node.name][1], outcomes
            assert {outcomes[n.name][0] for n in others} == {"applied"}, outcomes
            for other in others:
                assert release_of(other) == new, other.name
            t0 = time.monotonic()
            status = fleet.status(path)  # its agent's logs cannot come from a node the manager lost
            took = time.monotonic() - t0
            rows = {r["hostname"]: r for r in status["nodes"]}
            assert rows[node.name]["state"] == "stale" and not status["in_sync"], status
            assert rows[node.name]["desired"] == status["target"] != rows[node.name]["reported"], status
            assert all(rows[n.name]["state"] == "in-sync" for n in others), status
            assert release_of(node) == fleet.serving  # cut off from the manager, it serves on
        finally:
            fleet.lab.heal(node)
        wait_until(lambda: fleet.lab.state(node) == "ready", timeout=60, interval=0.5, what=f"{node.name} Ready")
        wait_until(lambda: fleet.status(path)["in_sync"], timeout=90, interval=2,
                   what=f"{node.name} in sync on the new release after the heal")
        wait_until(lambda: load.last_release(fleet.target(node)) == new, timeout=10,
                   what=f"the load sees {new} on {node.name}")
    assert release_of(node) == new
    assert load.failures() == [], load.failures()[:10]
    after = fleet.facts()
    for name, facts in before.items():  # the partition and the late release restarted no proxy
        assert (after[name].container, after[name].master) == (facts.container, facts.master), name
    assert after[node.name].workers != before[node.name].workers  # it took the release by a reload
    fleet.serving, fleet.model = new, path
    print(f"status with {node.name} partitioned took {took:.1f}s")


def proxy_container(node: Node) -> Any:
    found = node.client.containers.list(all=True, filters={"name": CONTAINER})
    return found[0] if found else None


def test_removing_a_nodes_label_retires_its_proxy_and_labelling_it_again_restores_it(fleet: Fleet) -> None:
    ensure_serving(fleet)
    assert fleet.model is not None
    node = fleet.nodes[-1]
    others = [n for n in fleet.nodes if n is not node]
    labels = {**fleet.lab.labels, "ctlplane.lab.node": node.name}
    before = fleet.facts()
    fleet.lab.set_labels(node, {"ctlplane.lab.node": node.name})
    try:
        with NodeLoad([fleet.target(n) for n in others]) as load:
            run, _ = fleet.apply(fleet_model(fleet.lab, fleet.serving), f"{fleet.serving}-without-{node.name}")
            assert run.code == 0, run
        outcomes = {n["hostname"]: (n["outcome"], n["reason"]) for n in run.json()["nodes"]}
        assert outcomes[node.name][0] == "retired" and "proxies were stopped" in outcomes[node.name][1], outcomes
        assert {outcomes[n.name][0] for n in others} <= {"unchanged", "applied"}, outcomes
        assert proxy_container(node) is None  # the proxy is gone from the node, not just its agent
        rc, _ = node.exec("curl", "-sS", "--max-time", "3", "-o", "/dev/null", f"http://{node.ip}:{PORT}/")
        assert rc != 0
        assert load.failures() == [], load.failures()[:10]
        for name in (n.name for n in others):  # still the same proxies
            facts = proxy_facts(fleet.lab.node(name))
            assert (facts.container, facts.master) == (before[name].container, before[name].master), name
        status = fleet.status(fleet.model)
        assert sorted(r["hostname"] for r in status["nodes"]) == [n.name for n in others] and status["in_sync"]
    finally:
        fleet.lab.set_labels(node, labels)
    run, path = fleet.apply(fleet_model(fleet.lab, fleet.serving), f"{fleet.serving}-with-{node.name}")
    assert run.code == 0, run
    assert {n["hostname"]: n["outcome"] for n in run.json()["nodes"]}[node.name] == "applied", run
    assert release_of(node) == fleet.serving
    assert proxy_facts(node).container != before[node.name].container  # a new proxy, as on a new node
    assert_in_sync(fleet, path)
    fleet.model = path
