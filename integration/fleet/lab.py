"""The fleet lab: a drained Swarm manager and three docker-in-docker worker nodes on a test network with an
explicit subnet, the production shape (a manager runs no proxy).

``SwarmLab(session).start()`` creates a bridge network on a free /24 (``harness/network.py``), one
``ctlplane-swarm-node`` container per node at a fixed address (the manager ``m1`` at ``.10``, the fleet's nodes
``n1``, ``n2``, ... at ``.11``, ``.12``, ...) with the settings a dind node needs on this machine kind (all
capabilities but SYS_RESOURCE, seccomp and AppArmor unconfined, tmpfs ``/run``, ``/sys/fs/cgroup`` bound
read-write, a named volume on ``/var/lib/docker`` or, for the workers with ``CTLPLANE_FLEET_STORAGE=tmpfs``, a
tmpfs: faster, in RAM, gone with the node; the manager always keeps a volume, so it can be stopped and started
again with its Swarm), waits until every inner dockerd answers on ``tcp://<ip>:2375``, forms the Swarm (init
on ``m1``, drained and without the fleet's label; the workers join), labels the workers and loads the proxy
and agent images into them only (saved once from the host engine while the nodes start, no registry; the
manager schedules tasks but runs none, and creating a service through the API asks no registry, so it needs
no image). Everything carries the run's labels, so the session's clean-up removes it also after a failure;
``remove()`` stops the nodes gracefully first. ``timings`` records each start-up step; ``partition``/``heal``
block and restore a node's Swarm ports inside its namespace; ``stop_manager``/``start_manager`` stop and start
the manager's container. Only the Docker SDK is used.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from integration.harness.network import LabNetwork, create_network
from integration.harness.session import DockerSession
from integration.harness.wait import wait_until

API_PORT = 2375
SWARM_PORTS = (("tcp", 2377), ("tcp", 7946), ("udp", 7946), ("udp", 4789))
CHAIN = "CTLPLANE-PARTITION"
HEARTBEAT_S = 2  # the dispatcher heartbeat: a silent node is Down after about three of them
NODE_SETTINGS: dict[str, Any] = {
    "cap_add": ["ALL"], "cap_drop": ["SYS_RESOURCE"],  # --privileged fails here: no CAP_SYS_RESOURCE to give
    "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
    "tmpfs": {"/run": ""},
}


@dataclass
class Node:
    """One dind node: its container on the host engine, its own engine's client, its Swarm node id."""

    name: str
    ip: str
    container: Any
    client: Any = None
    id: str = ""

    def exec(self, *cmd: str) -> tuple[int, str]:
        """Run ``cmd`` in the node's own namespace (through the host engine)."""
        rc, out = self.container.exec_run(list(cmd))
        return int(rc), out.decode(errors="replace")

    def logs(self, tail: int = 200) -> str:
        """The last lines of the node's dockerd (the container's output)."""
        return str(self.container.logs(tail=tail).decode(errors="replace"))


@dataclass
class SwarmLab:
    """A Swarm for one test session: the drained manager ``m1`` and ``size`` worker nodes ``n1``... (the fleet)."""

    session: DockerSession
    node_image: str
    images: tuple[str, ...] = ()
    size: int = 3
    suffix: str = "fleet"
    labels: dict[str, str] = field(default_factory=lambda: {"ctlplane.fleet": "lab"})
    progress: Callable[[str], None] = lambda line: None
    storage: str = field(default_factory=lambda: os.environ.get("CTLPLANE_FLEET_STORAGE", "volume"))
    net: LabNetwork | None = None
    nodes: list[Node] = field(default_factory=list)  # the workers: the fleet's nodes
    timings: dict[str, float] = field(default_factory=dict)
    _manager: Node | None = None

    @property
    def manager(self) -> Node:
        if self._manager is None:
            raise RuntimeError("the lab has not started")
        return self._manager

    @property
    def members(self) -> list[Node]:
        """Every node of the Swarm: the manager, then the workers."""
        return ([self._manager] if self._manager is not None else []) + self.nodes

    def node(self, name: str) -> Node:
        return next(n for n in self.members if n.name == name)

    def _timed(self, step: str, started: float) -> None:
        self.timings[step] = round(time.monotonic() - started, 1)
        self.progress("[fleet-lab] %s: %.1fs" % (step, self.timings[step]))

    def start(self) -> SwarmLab:
        if self.storage not in ("volume", "tmpfs"):
            raise ValueError("CTLPLANE_FLEET_STORAGE is volume (the default) or tmpfs, not %r" % self.storage)
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="ctlplane-fleet-images-") as tmp, ThreadPoolExecutor(1) as saver:
            saved = [saver.submit(self._save, tag, tmp) for tag in self.images]  # while the nodes start
            self._start_nodes()
            self._timed("nodes start", t0)
            t1 = time.monotonic()
            self._form_swarm()
            self._timed("swarm form", t1)
            t2 = time.monotonic()
            for tag, future in zip(self.images, saved, strict=True):
                self._load(tag, future.result())
            self._timed("image load", t2)
        self._timed("lab total", t0)
        return self

    def _start_node(self, name: str, ip: str, storage: str) -> Node:
        client = self.session.client
        volumes = {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}}
        settings = dict(NODE_SETTINGS)
        if storage == "tmpfs":
            settings["tmpfs"] = {**settings["tmpfs"], "/var/lib/docker": "exec,size=4g"}
        else:
            volume = client.volumes.create(self.session.name(self.suffix, name, "docker"), labels=self.session.labels)
            volumes[volume.name] = {"bind": "/var/lib/docker", "mode": "rw"}
        assert self.net is not None
        container = client.containers.run(
            self.node_image, name=self.session.name(self.suffix, name), hostname=name, detach=True,
            labels=self.session.labels, environment={"CTLPLANE_NODE_ADDR": ip}, volumes=volumes,
            network=self.net.name, networking_config=self.net.endpoint(ip), **settings)
        return Node(name, ip, container)

    def _start_nodes(self) -> None:
        self.net = create_network(self.session, self.suffix)
        self._manager = self._start_node("m1", self.net.ip(10), "volume")  # stopped and started again by tests
        for k in range(self.size):
            self.nodes.append(self._start_node("n%d" % (k + 1), self.net.ip(11 + k), self.storage))
        for node in self.members:
            wait_until(lambda n=node: self._answers(n), timeout=90, interval=0.25, what="dockerd of %s" % node.name)

    @staticmethod
    def _answers(node: Node) -> bool:
        """Connect to the node's engine (the SDK asks for its API version on connecting) and ping it."""
        import docker

        node.container.reload()
        if node.container.status != "running":
            raise RuntimeError("node %s exited: %s" % (node.name, node.logs(30)))
        if node.client is None:
            node.client = docker.DockerClient(base_url="tcp://%s:%d" % (node.ip, API_PORT), timeout=120)
        return bool(node.client.ping())

    def _form_swarm(self) -> None:
        mgr = self.manager
        mgr.client.swarm.init(advertise_addr=mgr.ip, listen_addr="0.0.0.0:2377",
                              dispatcher_heartbeat_period=HEARTBEAT_S * 1_000_000_000)
        mgr.client.swarm.reload()
        mgr.id = mgr.client.info()["Swarm"]["NodeID"]
        self._update(mgr, {"Availability": "drain", "Labels": {"ctlplane.lab.node": mgr.name}})  # before any task
        token = mgr.client.swarm.attrs["JoinTokens"]["Worker"]

        def join(node: Node) -> None:
            node.client.swarm.join(remote_addrs=["%s:2377" % mgr.ip], join_token=token,
                                   advertise_addr=node.ip, listen_addr="0.0.0.0:2377")
            node.id = node.client.info()["Swarm"]["NodeID"]

        with ThreadPoolExecutor(max(1, len(self.nodes))) as pool:
            list(pool.map(join, self.nodes))
        wait_until(lambda: all(self.state(n) == "ready" for n in self.members), timeout=60, interval=0.25,
                   what="every node Ready")
        for node in self.nodes:
            self.set_labels(node, {**self.labels, "ctlplane.lab.node": node.name})

    def state(self, node: Node) -> str:
        """The node's state as the manager sees it: ready, down, unknown or disconnected."""
        return str(self.manager.client.nodes.get(node.id).attrs["Status"]["State"])

    def set_labels(self, node: Node, labels: dict[str, str]) -> None:
        """Replace the node's labels (an update with the read version; retried on a version conflict)."""
        self._update(node, {"Labels": dict(labels)})

    def _update(self, node: Node, changes: dict[str, Any]) -> None:
        def update() -> bool:  # a version conflict raises APIError: wait_until reads again and retries
            found = self.manager.client.nodes.get(node.id)
            found.update({**found.attrs["Spec"], **changes})
            return True

        wait_until(update, timeout=20, interval=0.2, what="update of %s" % node.name)

    def _save(self, tag: str, directory: str) -> str:
        """``image.save()`` one tag from the host engine into ``directory``; the tar's path."""
        path = os.path.join(directory, tag.replace(":", "_").replace("/", "_") + ".tar")
        t0 = time.monotonic()
        with open(path, "wb") as out:
            for chunk in self.session.client.images.get(tag).save(named=True):
                out.write(chunk)
        self.progress("[fleet-lab] saved %s (%.0f MiB) in %.1fs" % (tag, os.path.getsize(path) / 1048576,
                                                                  time.monotonic() - t0))
        return path

    def _load(self, tag: str, path: str) -> None:
        """``images.load()`` a saved tag on every worker at once (the manager runs no task: it needs none)."""
        def load(node: Node) -> None:
            with open(path, "rb") as data:
                node.client.images.load(data)
            node.client.images.get(tag)

        t0 = time.monotonic()
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(load, self.nodes))
        self.progress("[fleet-lab] loaded %s into %d nodes in %.1fs" % (tag, len(self.nodes), time.monotonic() - t0))

    def load_images(self, tags: tuple[str, ...]) -> None:
        """Save each tag once from the host engine, then load it into every worker."""
        with tempfile.TemporaryDirectory(prefix="ctlplane-fleet-images-") as tmp:
            for tag in tags:
                self._load(tag, self._save(tag, tmp))

    def stop_manager(self, timeout: int = 15) -> None:
        """Stop the manager's container (its dockerd stops, the Swarm has no manager until it starts again)."""
        self.manager.container.stop(timeout=timeout)
        self.manager.container.reload()

    def start_manager(self) -> None:
        """Start the manager's container again and wait until its engine answers and every node is Ready."""
        mgr = self.manager
        mgr.container.start()
        wait_until(lambda: self._answers(mgr), timeout=90, interval=0.25, what="dockerd of %s again" % mgr.name)
        wait_until(lambda: all(self.state(n) == "ready" for n in self.members), timeout=90, interval=0.5,
                   what="every node Ready after the manager's restart")

    def _iptables(self, node: Node, script: str) -> None:
        rc, out = node.exec("sh", "-c", script)
        if rc != 0:
            raise RuntimeError("iptables on %s failed (rc=%d): %s" % (node.name, rc, out))

    def partition(self, node: Node) -> None:
        """Drop the Swarm ports (2377/tcp, 7946/tcp+udp, 4789/udp) in and out of the node's namespace."""
        rules = ["iptables -w -N %s" % CHAIN]
        for proto, port in SWARM_PORTS:
            for way in ("--dport", "--sport"):
                rules.append("iptables -w -A %s -p %s %s %d -j DROP" % (CHAIN, proto, way, port))
        rules += ["iptables -w -I INPUT 1 -j %s" % CHAIN, "iptables -w -I OUTPUT 1 -j %s" % CHAIN]
        self._iptables(node, " && ".join(rules))

    def heal(self, node: Node) -> None:
        """Remove what :meth:`partition` added (idempotent)."""
        self._iptables(node, " ; ".join([
            "iptables -w -D INPUT -j %s" % CHAIN, "iptables -w -D OUTPUT -j %s" % CHAIN,
            "iptables -w -F %s" % CHAIN, "iptables -w -X %s" % CHAIN, "true"]))

    def logs(self, tail: int = 200) -> dict[str, str]:
        """Every node's dockerd log tail (for a failing test's report)."""
        out = {}
        for node in self.members:
            try:
                out[node.name] = node.logs(tail)
            except Exception as exc:  # noqa: BLE001 - the node is gone
                out[node.name] = "could not read the log: %s" % exc
        return out

    def remove(self) -> None:
        """Stop the nodes (their dockerd stops its containers), then remove containers, volumes and network."""
        def stop(node: Node) -> None:
            try:
                if node.client is not None:
                    node.client.close()
                node.container.stop(timeout=15)
            except Exception:  # noqa: BLE001, S110 - already gone
                pass
            self.session.remove_container(node.container)

        t0 = time.monotonic()
        with ThreadPoolExecutor(max(1, len(self.members))) as pool:
            list(pool.map(stop, self.members))
        self._timed("nodes stop", t0)
        if self.net is not None:
            self.net.remove()
        t1 = time.monotonic()
        volumes = [v for v in self.session.client.volumes.list(filters={"label": "org.ctlplane.test-run=%s"
                                                                         % self.session.run_id})
                   if v.name.startswith(self.session.name(self.suffix))]
        with ThreadPoolExecutor(max(1, len(volumes))) as pool:
            list(pool.map(lambda v: v.remove(force=True), volumes))
        self._timed("volumes remove", t1)
        self._timed("teardown", t0)
