"""The fleet lab works: a drained manager without the fleet's label and three Ready worker nodes holding the
images, a global host-network service with a Swarm config answers on every worker's address from the host (and
runs nothing on the manager), a Swarm secret lands as a 0400 file in its task, and a node whose Swarm ports are
blocked inside its namespace goes Down on the manager and comes back Ready after the heal (all bounded waits)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest

from integration.fleet.lab import Node, SwarmLab
from integration.harness.wait import wait_until

PORT = 18080


@pytest.fixture
def cleanup(swarm_lab: SwarmLab) -> Iterator[list[Any]]:
    """Swarm objects (services, configs, secrets) a test created, removed afterwards, services first."""
    made: list[Any] = []
    yield made
    for obj in sorted(made, key=lambda o: not isinstance(o, docker.models.services.Service)):
        try:
            obj.remove()
        except docker.errors.NotFound:
            pass
    wait_until(lambda: not any(n.client.containers.list(all=True, filters={"label": "ctlplane.lab.test"})
                               for n in swarm_lab.nodes), timeout=30, interval=0.5, what="test tasks gone")


def test_a_drained_manager_and_three_worker_nodes_ready_and_labelled(swarm_lab: SwarmLab) -> None:
    nodes = {n.id: n.attrs for n in swarm_lab.manager.client.nodes.list()}
    assert set(nodes) == {n.id for n in swarm_lab.members}
    assert [n.name for n in swarm_lab.nodes] == ["n1", "n2", "n3"]
    mgr = nodes[swarm_lab.manager.id]
    assert mgr["Spec"]["Role"] == "manager" and mgr["Spec"]["Availability"] == "drain", mgr["Spec"]
    assert mgr["Status"]["State"] == "ready" and mgr["ManagerStatus"]["Addr"].startswith(swarm_lab.manager.ip + ":")
    assert "ctlplane.fleet" not in mgr["Spec"]["Labels"], mgr["Spec"]
    for node in swarm_lab.nodes:
        attrs = nodes[node.id]
        assert attrs["Status"]["State"] == "ready" and attrs["Status"]["Addr"] == node.ip
        assert attrs["Spec"]["Labels"] == {"ctlplane.fleet": "lab", "ctlplane.lab.node": node.name}
        assert attrs["Spec"]["Role"] == "worker" and attrs["Spec"]["Availability"] == "active"
        assert {t for i in node.client.images.list() for t in i.tags} >= set(swarm_lab.images)


def test_global_service_with_config_answers_on_every_node(swarm_lab: SwarmLab, cleanup: list[Any]) -> None:
    mgr = swarm_lab.manager.client
    body = "lab config %s\n" % uuid.uuid4().hex
    config = mgr.configs.create(name="ctlt-lab-index-%s" % uuid.uuid4().hex[:8], data=body.encode())
    cleanup.append(config)
    service = mgr.services.create(
        swarm_lab.images[0], ["python3", "-m", "http.server", str(PORT), "--directory", "/srv"],
        name="ctlt-lab-http", mode=docker.types.ServiceMode("global"), networks=["host"],
        configs=[docker.types.ConfigReference(config.id, config.name, filename="/srv/index.html")],
        container_labels={"ctlplane.lab.test": "http"}, init=True)
    cleanup.append(service)

    def answers(node: Node) -> bool:
        reply = httpx.get("http://%s:%d/index.html" % (node.ip, PORT), timeout=2)
        return reply.status_code == 200 and reply.text == body

    for node in swarm_lab.nodes:
        wait_until(lambda n=node: answers(n), timeout=60, interval=0.5, what="the global service on %s" % node.name)
    running = [t for t in service.tasks() if t["Status"]["State"] == "running"]
    assert sorted(t["NodeID"] for t in running) == sorted(n.id for n in swarm_lab.nodes)  # none on the manager


def test_secret_lands_as_a_0400_file(swarm_lab: SwarmLab, cleanup: list[Any]) -> None:
    mgr = swarm_lab.manager.client
    value = "not-a-real-key-%s" % uuid.uuid4().hex
    secret = mgr.secrets.create(name="ctlt-lab-key-%s" % uuid.uuid4().hex[:8], data=value.encode())
    cleanup.append(secret)
    service = mgr.services.create(
        swarm_lab.images[0], ["sleep", "3600"], name="ctlt-lab-secret",
        secrets=[docker.types.SecretReference(secret.id, secret.name, filename="key.pem", mode=0o400)],
        container_labels={"ctlplane.lab.test": "secret"}, init=True)
    cleanup.append(service)

    def running_task() -> dict[str, Any] | None:
        return next((t for t in service.tasks() if t["Status"]["State"] == "running"), None)

    task = wait_until(running_task, timeout=60, interval=0.5, what="the secret task running")
    node = next(n for n in swarm_lab.nodes if n.id == task["NodeID"])
    container = node.client.containers.get(task["Status"]["ContainerStatus"]["ContainerID"])
    rc, out = container.exec_run(["stat", "-c", "%a %s", "/run/secrets/key.pem"])
    assert (rc, out.decode().split()) == (0, ["400", str(len(value))])
    assert container.exec_run(["cat", "/run/secrets/key.pem"]).output.decode() == value


def test_partitioned_node_goes_down_and_comes_back(swarm_lab: SwarmLab) -> None:
    node = swarm_lab.nodes[-1]
    assert swarm_lab.state(node) == "ready"
    swarm_lab.partition(node)
    try:
        wait_until(lambda: swarm_lab.state(node) == "down", timeout=60, interval=0.5, what="%s Down" % node.name)
        assert all(swarm_lab.state(n) == "ready" for n in swarm_lab.nodes if n is not node)
    finally:
        swarm_lab.heal(node)
    wait_until(lambda: swarm_lab.state(node) == "ready", timeout=60, interval=0.5, what="%s Ready again" % node.name)
