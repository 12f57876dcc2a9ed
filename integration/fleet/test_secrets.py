"""Certificate rotation through Swarm secrets, in wave order (issue 16's test 9).

The fleet serves HTTPS on every node with a certificate and key beside the model (a trustme CA; the leaf names
every node's address, so the host's client verifies it). Release A, then release B with another certificate and
another key, are rolled out while TLS load from the host opens a new connection (a full handshake, verified
against the CA) every three requests on every node: no handshake and no request fails, each node switches from
A's certificate to B's, the canary before the others. The keys never appear in anything the manager's API
returns (configs' bytes, every label, the services' specs and environment, the agents' logs) nor in the proxies'
logs; on each node the key is ``0400`` in the agent's secret mount, ``0600`` in the bundle the agent unpacked
and ``0600`` in the combined PEM the proxy reads. While B rolls out (every agent already on B, every node's
last-known-good still A: no service mounts A's key any more, so Swarm alone would let it go) a prune removes
nothing of A; once B serves everywhere, the controller's own prune removes A's key and parts.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ctlplane.fleet.bundle import secret_name
from ctlplane.fleet.docker_swarm import DockerSwarm
from ctlplane.fleet.prune import prune, record_releases
from ctlplane.fleet.state import read_record
from integration.fleet.kit import (AGENT_ROOT, CONTAINER, FLEET, PORT, finish, fleet_lab, fleet_model, start_ctl,
                                   write_model)
from integration.fleet.lab import Node, SwarmLab
from integration.fleet.test_rollout import Fleet, assert_in_sync
from integration.fleet.traffic import NodeLoad
from integration.harness.wait import wait_until

HOST = "edge.test"


class Pki:
    """A test CA and one leaf per release, each naming every node's address (the host connects by address)."""

    def __init__(self, lab: SwarmLab) -> None:
        import trustme

        self.ca = trustme.CA()
        self.names = [HOST, *(n.ip for n in lab.nodes)]
        self.leaves: dict[str, Any] = {}

    def leaf(self, release: str) -> Any:
        if release not in self.leaves:
            self.leaves[release] = self.ca.issue_cert(*self.names)
        return self.leaves[release]

    def key(self, release: str) -> bytes:
        return bytes(self.leaf(release).private_key_pem.bytes())

    def fingerprint(self, release: str) -> str:
        pem = self.leaf(release).cert_chain_pems[0].bytes().decode()
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca.cert_pem.bytes().decode())


def tls_model(fleet: Fleet, pki: Pki, release: str) -> Path:
    """The fleet model with ``web`` on HTTPS, its certificate and key written beside the model (key 0600)."""
    directory = fleet.home / release
    certs = directory / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    leaf = pki.leaf(release)
    (certs / "edge.crt").write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key = certs / "edge.key"
    key.touch(mode=0o600)
    key.chmod(0o600)
    key.write_bytes(pki.key(release))
    data = fleet_model(fleet.lab, release, soak="4s")
    data["services"][0]["tls"] = {"certificates": [{"cert": "certs/edge.crt", "key": "certs/edge.key"}]}
    return write_model(directory, data)


def key_lines(key: bytes) -> list[bytes]:
    """The base64 lines of a PEM key's body: any one of them found somewhere is a leak."""
    return [line for line in key.splitlines()[1:-1] if len(line) >= 40]


def manager_view(lab: SwarmLab) -> bytes:
    """Everything the manager's API returns about the Swarm: every config's bytes (each part alone and each
    release's parts joined), every secret's spec, every label and spec of nodes and services, the fleet's
    services' logs; and the nodes' proxy logs and agent records."""
    api = lab.manager.client.api
    out: list[bytes] = []
    parts: dict[str, list[tuple[int, bytes]]] = {}
    for config in api.configs():
        attrs = api.inspect_config(config["ID"])
        data = base64.b64decode(attrs["Spec"].get("Data", ""))
        out += [json.dumps(attrs).encode(), data]
        labels = attrs["Spec"].get("Labels") or {}
        if "ctlplane.release" in labels:
            parts.setdefault(labels["ctlplane.release"], []).append((int(labels["ctlplane.part"]), data))
    out += [b"".join(data for _, data in sorted(chunks)) for chunks in parts.values()]
    for secret in api.secrets():
        attrs = api.inspect_secret(secret["ID"])
        assert "Data" not in attrs["Spec"], attrs  # Swarm never gives a secret's bytes back
        out.append(json.dumps(attrs).encode())
    out += [json.dumps(api.nodes()).encode(), json.dumps(api.services()).encode()]
    for service in lab.manager.client.services.list(filters={"label": f"ctlplane.fleet={FLEET}"}):
        if service.attrs["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 1):
            out.append(b"".join(service.logs(stdout=True, stderr=True, tail=2000)))
    for node in lab.nodes:
        _, text = node.exec("sh", "-c", f"cat {AGENT_ROOT}/fleet/{FLEET}/state/edge/logs/* "
                                        f"{AGENT_ROOT}/fleet/{FLEET}/agent.json")
        out.append(text.encode())
    return b"\n".join(out)


def modes(node: Node, digest: str, secret: str) -> dict[str, set[str]]:
    """The key's file modes on a node: in the agent's secret mount and unpacked bundle, in the proxy's PEMs."""
    agent = next(c for c in node.client.containers.list(filters={"name": f"ctl-{FLEET}-agent-"})
                 if c.status == "running")
    found: dict[str, set[str]] = {}
    for where, container, pattern in (
            ("secret", agent, f"/run/secrets/{secret}"),
            ("bundle", agent, f"{AGENT_ROOT}/fleet/{FLEET}/bundles/{digest}/certs/edge.key"),
            ("proxy", node.client.containers.get(CONTAINER),
             f"$(find {AGENT_ROOT}/fleet/{FLEET}/state -name '*.pem' -path '*/certs/*')")):
        result = container.exec_run(["sh", "-c", f"stat -c %a {pattern}"])
        assert result.exit_code == 0, (where, result.output)
        found[where] = set(result.output.decode().split())
    return found


def https_release(node: Node, context: ssl.SSLContext) -> tuple[str, str]:
    """The X-Release and the certificate's sha256 a node answers with over HTTPS from the host."""
    conn = http.client.HTTPSConnection(node.ip, PORT, timeout=5, context=context)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        der = sock.getpeercert(binary_form=True) or b""
        return resp.getheader("X-Release") or "", hashlib.sha256(der).hexdigest()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def fleet(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with fleet_lab(swarm_lab):
        yield Fleet(swarm_lab, tmp_path_factory.mktemp("secrets"))


def agents(lab: SwarmLab) -> list[dict[str, Any]]:
    return [s.attrs for s in lab.manager.client.services.list(filters={"label": ["ctlplane.fleet=lab",
                                                                                  "ctlplane.role=agent"]})]


def test_a_certificate_rotates_through_secrets_in_wave_order_and_the_old_key_goes_only_once_unneeded(
        fleet: Fleet) -> None:
    lab, pki = fleet.lab, Pki(fleet.lab)
    context = pki.context()
    path_a = tls_model(fleet, pki, "s-a")
    run = finish(start_ctl("apply", str(path_a), "--yes", "-o", "json"), time.monotonic())
    assert run.code == 0, run
    digest_a, secret_a = run.json()["release"], secret_name(FLEET, pki.key("s-a"))
    assert_in_sync(fleet, path_a)
    assert {n.name: https_release(n, context) for n in fleet.nodes} == {
        n.name: ("s-a", pki.fingerprint("s-a")) for n in fleet.nodes}
    for node in fleet.nodes:
        assert modes(node, digest_a, secret_a) == {"secret": {"400"}, "bundle": {"600"}, "proxy": {"600"}}

    path_b = tls_model(fleet, pki, "s-b")
    secret_b = secret_name(FLEET, pki.key("s-b"))
    swarm = DockerSwarm(f"tcp://{lab.manager.ip}:2375")
    with NodeLoad(fleet.targets, rate=10, context=context, per_connection=3) as load:
        wait_until(lambda: all(load.answers[t] for t in fleet.targets), timeout=10, what="TLS load on every node")
        started = time.monotonic()
        proc = start_ctl("apply", str(path_b), "--yes", "-o", "json")
        try:
            def b_everywhere_lkg_a() -> list[dict[str, Any]] | None:
                found = agents(lab)
                labels = [a["Spec"]["Labels"] for a in found]
                return found if len(found) == 3 and all(
                    la["ctlplane.release"] not in ("", digest_a) and la["ctlplane.lkg"] == digest_a
                    for la in labels) else None

            mid = wait_until(b_everywhere_lkg_a, timeout=90, interval=0.3,
                             what="every agent on B while every node's last-known-good is A")
            mounted = {ref["SecretName"] for a in mid
                       for ref in a["Spec"]["TaskTemplate"]["ContainerSpec"].get("Secrets") or []}
            removed = prune(swarm, FLEET, record_releases(read_record(swarm, FLEET)))
            kept_a = [s.name for s in lab.manager.client.secrets.list(filters={"name": secret_a})]
        finally:
            run = finish(proc, started)
        wait_until(lambda: all(load.answers[t][-1].cert == pki.fingerprint("s-b") for t in fleet.targets),
                   timeout=10, what="the load sees B's certificate on every node")
    print(f"rotation: {sum(load.handshakes.values())} handshakes, {load.total()} requests; mid-rollout the agents "
          f"mounted {sorted(mounted)}, a prune removed {list(removed)}; after B the controller pruned "
          f"{run.json().get('pruned') if run.code == 0 else '?'}")
    assert run.code == 0, run
    # mid-rollout: A's key was mounted by no service, and still no prune removed it (it was every node's lkg)
    assert secret_a not in mounted and mounted == {secret_b}, mounted
    assert secret_a not in removed and kept_a == [secret_a], (removed, kept_a)
    # 0 failed handshakes and requests; every node went from A's certificate to B's, the canary first
    assert load.failed_handshakes == [] and load.failures() == [], (load.failed_handshakes[:5], load.failures()[:5])
    assert all(load.handshakes[t] >= 10 for t in fleet.targets), load.handshakes
    fingerprints = {pki.fingerprint("s-a"): "A", pki.fingerprint("s-b"): "B"}
    first_b = {}
    for node in fleet.nodes:
        seen = [fingerprints.get(a.cert, a.cert) for a in load.answers[fleet.target(node)]]
        assert seen[0] == "A" and seen[-1] == "B" and set(seen) == {"A", "B"}, (node.name, seen[:3], seen[-3:])
        assert "A" not in seen[seen.index("B"):], node.name  # once B, always B
        first_b[node.name] = next(a.at for a in load.answers[fleet.target(node)] if fingerprints.get(a.cert) == "B")
    canary, *rest = fleet.nodes
    assert all(first_b[canary.name] < first_b[n.name] for n in rest), first_b
    # after B: A is no node's last-known-good: the controller pruned its key and its parts; B's stay
    result = run.json()
    assert secret_a in result["pruned"], result
    assert [s.name for s in lab.manager.client.secrets.list(filters={"name": secret_a})] == []
    assert [s.name for s in lab.manager.client.secrets.list(filters={"name": secret_b})] == [secret_b]
    assert not lab.manager.client.configs.list(filters={"label": f"ctlplane.release={digest_a}"})
    digest_b = result["release"]
    assert_in_sync(fleet, path_b)
    for node in fleet.nodes:
        assert modes(node, digest_b, secret_b) == {"secret": {"400"}, "bundle": {"600"}, "proxy": {"600"}}
    # no private key in anything the manager returns, nor in the proxies' logs
    seen = manager_view(lab)
    for release in ("s-a", "s-b"):
        leaks = [line for line in key_lines(pki.key(release)) if line in seen]
        assert key_lines(pki.key(release)) and not leaks, (release, leaks[:2])
