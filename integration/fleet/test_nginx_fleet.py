"""An NGINX fleet on the real three-node Swarm (issue 16's test 1 for NGINX): ten releases roll out canary first
under keep-alive load through every node, hot-reloaded (the same proxy container and master on every node, new
workers), and the failed requests are compared with a bare-reload baseline measured in the same run: the same
number of plain SIGHUP reloads of every node's NGINX under the same load. NGINX closes idle keep-alive
connections of its old workers on a reload; a client that retries an idempotent request on a new connection
(as NodeLoad does, once) sees no failure, and anything the fleet machinery added would show above the baseline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.fleet.kit import CONTAINER, ctl, fleet_lab, fleet_model, proxy_facts, release_of, sweep, write_model
from integration.fleet.lab import Node, SwarmLab
from integration.fleet.test_rollout import Fleet, assert_in_sync, first_seen
from integration.fleet.traffic import NodeLoad
from integration.harness.wait import wait_until

RELEASES = 10  # NGINX releases rolled out (the ten); the baseline does as many bare reloads of every node


@pytest.fixture(scope="module")
def nginx_fleet(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    sweep(swarm_lab)  # another module's fleet may have left its proxies
    with fleet_lab(swarm_lab):
        yield Fleet(swarm_lab, tmp_path_factory.mktemp("nginx-fleet"))


def apply(fleet: Fleet, release: str) -> tuple[Any, Path]:
    path = write_model(fleet.home / release, fleet_model(fleet.lab, release, engine="nginx"))
    return ctl("apply", str(path), "--yes", "-o", "json"), path


def bare_reload(node: Node) -> None:
    """What an operator's ``nginx -s reload`` does: SIGHUP to the master (PID 1 of the proxy container, so sent
    through the node's engine), then wait until new workers serve."""
    before = proxy_facts(node).workers
    node.client.containers.get(CONTAINER).kill(signal="SIGHUP")
    wait_until(lambda: proxy_facts(node).workers - before, timeout=20, interval=0.2,
               what=f"new NGINX workers on {node.name}")


def test_nginx_releases_roll_out_hot_with_no_more_failures_than_bare_reloads(nginx_fleet: Fleet) -> None:
    fleet = nginx_fleet
    run, path = apply(fleet, "n0")
    assert run.code == 0, run
    assert all(release_of(node) == "n0" for node in fleet.nodes)
    before = fleet.facts()
    releases = [f"n{k}" for k in range(1, RELEASES + 1)]
    with NodeLoad(fleet.targets, limit=60.0 * RELEASES) as load:
        wait_until(lambda: all(load.answers[t] for t in fleet.targets), timeout=10, what="load on every node")
        for release in releases:
            run, path = apply(fleet, release)
            assert run.code == 0, run
            assert {n["outcome"] for n in run.json()["nodes"]} == {"applied"}, run
        wait_until(lambda: all(load.last_release(t) == releases[-1] for t in fleet.targets), timeout=10,
                   what="the load sees the last release on every node")
    rolled = load.failures()
    for release in releases:  # canary first
        canary = first_seen(load, fleet.target(fleet.canary), release)
        assert all(canary < first_seen(load, fleet.target(n), release) for n in fleet.nodes[1:]), release
    after = fleet.facts()
    for name, facts in before.items():  # hot: the same container and master, new workers
        assert (after[name].container, after[name].master) == (facts.container, facts.master), name
        assert after[name].workers != facts.workers, name
    assert_in_sync(fleet, path)

    with NodeLoad(fleet.targets) as baseline:
        wait_until(lambda: all(baseline.answers[t] for t in fleet.targets), timeout=10, what="load on every node")
        for _ in range(RELEASES):
            for node in fleet.nodes:
                bare_reload(node)
    bare = baseline.failures()
    print(f"\nNGINX fleet: {RELEASES} rollouts, {load.total()} requests, {len(rolled)} failed; same-run baseline: "
          f"{RELEASES} bare reloads of every node, {baseline.total()} requests, {len(bare)} failed")
    assert len(rolled) <= len(bare), (rolled[:10], bare[:10])
