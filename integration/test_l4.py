"""Layer-4 (raw TCP) services on both engines: balancing and a per-client connection limit.

A ``mode: tcp`` service on port 9000 forwards connections to the echo
backends' TCP port, which sends the backend's name as its first line and then
echoes lines back, so each connection says where it landed.
"""

from __future__ import annotations

from integration.harness import Deployer, Deployment, Lab, Request
from integration.harness.l4 import tcp_limit

PORT = 9000


def deploy(deployer: Deployer, lab: Lab, engine: str, **service_fields: object) -> Deployment:
    pool = {"name": "tcp_app", "servers": lab.servers(port=PORT)}
    service = {"name": "raw", "mode": "tcp", "listen": {"port": PORT}, "pool": "tcp_app", **service_fields}
    return deployer.deploy(engine, pools=[pool], services=[service], workers=2)


def test_tcp_connections_round_robin(engine: str, lab: Lab, deployer: Deployer) -> None:
    lb = deploy(deployer, lab, engine)
    traffic = lab.client.load(Request(lb.target(PORT)), count=150, concurrency=3, mode="tcp")
    assert traffic.unsent == 0 and not traffic.failures(), traffic.summary()
    counts = traffic.counts(0)  # status 0: a TCP answer
    assert sum(counts.values()) == 150, traffic.summary()
    assert all(45 <= counts[name] <= 55 for name in "abc"), counts  # 50 each, +-10%
    print(f"\n{engine}: 150 TCP connections -> {dict(sorted(counts.items()))}")


def test_tcp_connections_per_client_limit(engine: str, lab: Lab, deployer: Deployer) -> None:
    lb = deploy(deployer, lab, engine, limits={"connections_per_client": 2})
    other = lab.clients[1]
    run = tcp_limit(lab.client, lb.target(PORT), hold=2, extra=1, pause=0.5,
                    during=lambda: other.load(Request(lb.target(PORT)), count=2, concurrency=2, mode="tcp"))
    assert all(served for served, _ in run.held), run.held  # two connections, each served and echoing
    assert not any(served for served, _ in run.extra), run.extra  # the third from the same client is refused
    assert run.during.counts(0).total() == 2, run.during.summary()  # another client is not affected
    assert run.reopened[0], run  # one closed: a new connection fits again
    print(f"\n{engine}: held {run.held}, third refused ({run.extra[0][1]}), reopened after {run.tries} tries")
