"""A release larger than one Swarm config allows, and a corrupted part of one (issue 16's test 11).

A model of 10,000 servers (one pool on loopback addresses that need not answer, reached only by the ``/big/``
route, with no health checks, so no proxy probes them) makes a bundle over Swarm's 500 KB config limit:
``ctlplane apply`` publishes it in parts, every node's agent joins them and checks each part's sha256 and the
whole digest, and every node's HAProxy serves it by hot reload under keep-alive load (its admin socket lists the
10,000 servers). A corrupted part is then published the one way that reaches a node: a Swarm config of the
release's own part name whose labels promise the right sha256 but whose bytes differ (the controller reuses an
object whose sha label matches). The canary's agent refuses it naming that config, the rollout halts and every
node keeps answering with its last-known-good release, with no failed request. A part whose labels say other
content is refused by the controller before any node is touched (shown on a small release: the controller
checks every part alike). The bundle's size, its parts and the apply
time are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ctlplane.fleet.bundle import Part, build_bundle, sha256, split
from ctlplane.fleet.sources import release_sources
from ctlplane.fleet.specs import part_labels
from ctlplane.pipeline import build
from integration.fleet.kit import AGENT_ROOT, CONTAINER, FLEET, ctl, fleet_lab, fleet_model, release_of, write_model
from integration.fleet.lab import Node, SwarmLab
from integration.fleet.test_rollout import Fleet, ensure_serving
from integration.fleet.traffic import NodeLoad
from integration.harness.wait import wait_until

SERVERS = 10_000
SWARM_CONFIG_LIMIT = 500 * 1024
BIG_TIMEOUT = 300.0  # the whole apply of a 10,000-server release: three nodes on a 2-core machine
ADMIN_SOCKET = f"{AGENT_ROOT}/fleet/{FLEET}/state/edge/run/admin.sock"
COUNT_SERVERS = f"""
import socket
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect({ADMIN_SOCKET!r})
s.sendall(b"show servers state be_big\\n")
data = b""
while chunk := s.recv(1 << 16):
    data += chunk
print(sum(1 for line in data.decode().splitlines() if line.split()[1:2] == ["be_big"]))
"""


def big_model(lab: SwarmLab, release: str) -> dict[str, Any]:
    """The lab's fleet with a pool of 10,000 servers on 127.1.0.0/16 behind ``/big/`` (load goes to ``/``)."""
    data = fleet_model(lab, release, soak="1s", deadline="120s")
    data["pools"].append({"name": "big", "health": {"passive": None}, "servers": [
        {"name": f"s{i}", "address": f"127.1.{i // 250}.{1 + i % 250}", "port": 8080} for i in range(SERVERS)]})
    data["services"][0]["routes"] = [{"path_prefix": "/big/", "pool": "big"}]
    return data


def parts_of(path: Path) -> tuple[str, list[Part], int]:
    """What ``ctlplane apply`` of ``path`` publishes: the release digest, its parts and the bundle's size."""
    built = build(path)
    sources = release_sources(built.loaded, built.assets)
    bundle = build_bundle(FLEET, sources.model, sources.files, sources.keys)
    return bundle.digest, split(FLEET, bundle.tar, secrets=sorted(bundle.secrets)), len(bundle.tar)


def servers_in(node: Node) -> int:
    """The servers of pool ``big`` the node's HAProxy itself lists (its admin socket)."""
    container = node.client.containers.get(CONTAINER)
    rc, out = container.exec_run(["python3", "-c", COUNT_SERVERS])
    assert rc == 0, out
    return int(out.decode().strip())


def versions(mgr: Any) -> dict[str, int]:
    """The version of every Swarm service of the fleet (its agents and its state record)."""
    return {s.name: s.attrs["Version"]["Index"] for s in mgr.services.list(filters={"label": f"ctlplane.fleet={FLEET}"})}


def flip(data: bytes) -> bytes:
    """The same bytes with one bit changed in the middle."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:]


@pytest.fixture(scope="module")
def fleet(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with fleet_lab(swarm_lab):
        yield Fleet(swarm_lab, tmp_path_factory.mktemp("large"))


def test_a_release_of_10000_servers_is_split_checked_on_every_node_and_served(fleet: Fleet) -> None:
    ensure_serving(fleet)
    before = fleet.facts()
    path = write_model(fleet.home / "big-1", big_model(fleet.lab, "big-1"))
    digest, parts, size = parts_of(path)
    assert size > SWARM_CONFIG_LIMIT and len(parts) >= 2, (size, len(parts))
    with NodeLoad(fleet.targets) as load:
        wait_until(lambda: all(load.answers[t] for t in fleet.targets), timeout=10, what="load on every node")
        run = ctl("apply", str(path), "--yes", "-o", "json", timeout=BIG_TIMEOUT)
        assert run.code == 0, run
        wait_until(lambda: all(load.last_release(t) == "big-1" for t in fleet.targets), timeout=10,
                   what="the load sees big-1 on every node")
    result = run.json()
    assert result["release"] == digest and result["phase"] == "idle", result
    assert {n["outcome"] for n in result["nodes"]} == {"applied"}, result
    published = [name for name in result["published"] if name.startswith(f"ctl-{FLEET}-{digest[:16]}-")]
    assert published == [p.name for p in parts], result["published"]
    assert load.failures() == [], load.failures()[:10]
    after = fleet.facts()
    for node in fleet.nodes:
        assert release_of(node) == "big-1", node.name
        assert servers_in(node) == SERVERS, node.name
        assert (after[node.name].container, after[node.name].master) == (before[node.name].container,
                                                                          before[node.name].master), node.name
    fleet.serving, fleet.model = "big-1", path
    print(f"\n10,000-server release: bundle {size} bytes in {len(parts)} parts "
          f"({', '.join(str(len(p.data)) for p in parts)} bytes), apply to 3 nodes took {run.took:.1f}s")


def test_a_corrupted_part_is_refused_on_the_canary_and_the_fleet_stays_on_last_known_good(fleet: Fleet) -> None:
    ensure_serving(fleet)
    serving = fleet.serving
    path = write_model(fleet.home / "big-bad", big_model(fleet.lab, "big-bad"))
    digest, parts, _ = parts_of(path)
    bad = parts[-1]  # the right name and labels (the sha256 of the right bytes), other bytes
    fleet.lab.manager.client.configs.create(name=bad.name, data=flip(bad.data), labels=dict(bad.labels))
    before = fleet.facts()
    with NodeLoad(fleet.targets) as load:
        wait_until(lambda: all(load.answers[t] for t in fleet.targets), timeout=10, what="load on every node")
        run = ctl("apply", str(path), "--yes", "-o", "json", timeout=BIG_TIMEOUT)
        wait_until(lambda: load.total() > 30, timeout=10, what="some load after the apply")
    assert run.code != 0, run
    result = run.json()
    assert result["release"] == digest and result["phase"] == "halted", result
    assert "n1" in result["reason"] and "wave 0" in result["reason"], result
    assert bad.name in result["reason"] and "corrupted" in result["reason"], result
    assert {n["hostname"]: n["outcome"] for n in result["nodes"]} == {
        "n1": "failed", "n2": "not-reached", "n3": "not-reached"}, result
    assert load.failures() == [], load.failures()[:10]
    assert all(load.last_release(t) == serving for t in fleet.targets)
    assert {a.release for t in fleet.targets for a in load.answers[t]} == {serving}
    for node in fleet.nodes:
        assert release_of(node) == serving, node.name
    after = fleet.facts()
    for name in ("n2", "n3"):  # untouched: the same workers, no reload
        assert after[name] == before[name], name
    assert (after["n1"].container, after["n1"].master) == (before["n1"].container, before["n1"].master)
    assert fleet.model is not None
    status = fleet.status(fleet.model)
    assert status["phase"] == "halted" and bad.name in status["reason"], status
    print(f"\nthe corrupted part halted the rollout: {result['reason']}")


def test_a_part_published_with_other_content_is_refused_before_any_node_is_touched(fleet: Fleet) -> None:
    if not fleet.serving:  # a release serving is all this needs (a halted rollout before it is fine too)
        ensure_serving(fleet)
    answering = {node.name: release_of(node) for node in fleet.nodes}
    path = write_model(fleet.home / "stale", fleet_model(fleet.lab, "stale"))  # small: the refusal is the same
    digest, parts, _ = parts_of(path)
    stale = parts[0]  # the release's part name, with other bytes that its labels honestly describe
    other = flip(stale.data)
    labels = part_labels(FLEET, digest, stale.index, stale.count, sha256(other), [])
    mgr = fleet.lab.manager.client
    mgr.configs.create(name=stale.name, data=other, labels=labels)
    services = versions(mgr)
    run = ctl("apply", str(path), "--yes", "-o", "json", timeout=BIG_TIMEOUT)
    assert run.code != 0, run
    assert stale.name in run.out + run.err and "other content" in run.out + run.err, run
    assert "Traceback" not in run.err, run
    assert versions(mgr) == services  # no agent service and not the state record was written
    assert not [c.name for c in mgr.configs.list(filters={"label": f"ctlplane.release={digest}"})
                if c.name != stale.name]  # nothing of the release was published
    assert {node.name: release_of(node) for node in fleet.nodes} == answering
