"""Session persistence on both engines: a persistence cookie, and the client's source address.

Cookie persistence: the proxy sets ``SRV`` on a client's first answer (HAProxy
inserts the server's name, NGINX a random key it hashes consistently), and
requests carrying it always reach that server; requests without it are
balanced as usual. Source-IP persistence keeps each client container (its own
address on the lab network) on the server its first request reached (HAProxy
stores the assignment in a stick table when that request got its server, so
requests sent concurrently with a client's very first one may still spread).
"""

from __future__ import annotations

from integration.harness import Deployer, Deployment, Lab, Request

SERVICE = {"name": "web", "mode": "http", "listen": {"port": 80}, "default_pool": "app"}


def deploy(deployer: Deployer, lab: Lab, engine: str, persistence: dict[str, object]) -> Deployment:
    pool = {"name": "app", "servers": lab.servers(), "persistence": persistence}
    return deployer.deploy(engine, pools=[pool], services=[SERVICE], workers=2)


def first_visit(lab: Lab, lb: Deployment) -> tuple[str, str]:
    """A new client's first request: (the SRV cookie it was given, the backend that answered)."""
    answer = lab.client.get(lb.target())
    assert answer["status"] == 200, answer
    cookie = answer["headers"].get("set-cookie", "")
    assert cookie.startswith("SRV="), answer["headers"]
    return cookie.split(";", 1)[0], answer["headers"]["x-server"]


def test_cookie_keeps_a_client_on_its_server(engine: str, lab: Lab, deployer: Deployer) -> None:
    lb = deploy(deployer, lab, engine, {"type": "cookie", "cookie": "SRV"})
    visits = [first_visit(lab, lb) for _ in range(8)]  # eight new clients
    clients = [Request(lb.target(), headers={"Cookie": cookie}) for cookie, _ in visits]
    traffic = lab.client.load(clients, count=30 * len(clients), concurrency=4)
    assert traffic.statuses() == {200: 240}, traffic.summary()
    served = traffic.servers_by_request()
    moved = {visits[i][0]: (sorted(served[i]), visits[i][1]) for i in range(len(clients))
             if served[i] != {visits[i][1]}}
    assert not moved, f"cookie: (servers that answered, first server) {moved}"
    assert len({server for _, server in visits}) >= 2, visits  # the first visits themselves were balanced

    fresh = lab.client.load(Request(lb.target()), count=30, concurrency=2)  # no cookie: a new assignment each time
    assert fresh.statuses() == {200: 30}, fresh.summary()
    assert len(fresh.counts()) >= 2, fresh.counts()
    print(f"\n{engine}: first visits {[s for _, s in visits]}, 30 cookie-less requests -> {dict(fresh.counts())}")


def test_source_ip_keeps_each_client_on_its_server(engine: str, lab: Lab, deployer: Deployer) -> None:
    lb = deploy(deployer, lab, engine, {"type": "source_ip"})
    chosen = {}
    for client in lab.clients:  # two real source addresses on the lab network
        first = client.load(Request(lb.target()))  # HAProxy stores the assignment once a first request got one
        assert first.statuses() == {200: 1}, first.summary()
        chosen[client.name] = first.results[0].server
        traffic = client.load(Request(lb.target()), count=60, concurrency=3, keepalive=False)
        assert traffic.statuses() == {200: 60}, traffic.summary()
        assert traffic.counts() == {chosen[client.name]: 60}, f"{client.name} ({client.ip}): {traffic.counts()}"
    print(f"\n{engine}: source_ip persistence {chosen}")
