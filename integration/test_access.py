"""IP access lists on both engines, with the clients' real source addresses.

Clients ``c1`` and ``c2`` have their own addresses on the lab network. A
denied client gets 403 on both engines (NGINX's ``deny``; HAProxy's
``http-request deny``, after the client address is known, so that trusted
proxies work the same way); the other client is served.
"""

from __future__ import annotations

from integration.harness import Client, Deployer, Deployment, Lab, Request, Traffic

COUNT = 20


def deploy(deployer: Deployer, lab: Lab, engine: str, access: dict[str, list[str]]) -> Deployment:
    service = {"name": "web", "mode": "http", "listen": {"port": 80}, "default_pool": "app", "access": access}
    return deployer.deploy(engine, pools=[{"name": "app", "servers": lab.servers(["a"])}], services=[service])


def send(client: Client, lb: Deployment) -> Traffic:
    return client.load(Request(lb.target()), count=COUNT, concurrency=2, keepalive=False)


def assert_served(traffic: Traffic) -> None:
    assert traffic.statuses() == {200: COUNT} and traffic.counts() == {"a": COUNT}, traffic.summary()


def assert_refused(engine: str, traffic: Traffic) -> None:
    assert traffic.statuses() == {403: COUNT}, f"{engine}: {traffic.summary()}"


def test_deny_list(engine: str, lab: Lab, deployer: Deployer) -> None:
    c1, c2 = lab.clients
    lb = deploy(deployer, lab, engine, {"deny": [f"{c2.ip}/32"]})
    assert_refused(engine, send(c2, lb))
    assert_served(send(c1, lb))


def test_allow_list_denies_everyone_else(engine: str, lab: Lab, deployer: Deployer) -> None:
    c1, c2 = lab.clients
    network = str(lab.net.subnet)  # the whole lab network, both clients included
    lb = deploy(deployer, lab, engine, {"allow": [network], "deny": [f"{c1.ip}/32"]})  # deny wins over allow
    assert_refused(engine, send(c1, lb))
    assert_served(send(c2, lb))
    lb.update(services=[{**lb.model["services"][0], "access": {"allow": [f"{c1.ip}/32"]}}])  # reload: only c1
    assert_served(send(c1, lb))
    assert_refused(engine, send(c2, lb))
