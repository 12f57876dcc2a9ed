"""What the end-to-end fleet tests share: the fleet model they apply, ``ctlplane`` run as the operator runs it,
the echo backends on every node, and what a node's proxy container is right now.

:func:`fleet_model` is a HAProxy fleet (docker runtime, host network, listening on 0.0.0.0) whose only
difference between releases is what a test changes: the ``X-Release`` response header, the servers' weights,
a route to a dead pool, an extra service. :func:`ctl` runs the venv's ``ctlplane`` as a subprocess against the
lab's manager (``tcp://<n1>:2375`` with ``allow_plain_tcp``), with this checkout first on ``PYTHONPATH``.
:class:`Backends` is a host-network container of two echo servers on each node's loopback (``b1-<node>``,
``b2-<node>``). :func:`proxy_facts` reads a node's proxy container: its id, the master's pid in
the node's namespace and the workers' pids. :func:`sweep` removes everything a fleet left on the lab.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ctlplane.drivers.container_data import PS_SCRIPT, parse_processes
from integration.fleet.lab import Node, SwarmLab
from integration.harness.wait import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLEET = "lab"
PORT = 18080
EXTRA_PORT = 18090
BACKEND_PORTS = (18101, 18102)
DEAD_PORT = 18199
CONTAINER = "ctlt-fleet-edge"
AGENT_ROOT = "/var/lib/ctlplane"
APPLY_TIMEOUT = 150.0
WORKER_TITLES = ("haproxy", "nginx: worker process")  # the master's children that serve (not the cache helpers)


def fleet_model(lab: SwarmLab, release: str, *, weights: tuple[int, int] = (1, 1), dead_route: bool = False,
                extra_service: bool = False, soak: str = "2s", deadline: str = "45s",
                wave_size: int = 2, engine: str = "haproxy") -> dict[str, Any]:
    base, agent = lab.images
    web: dict[str, Any] = {
        "name": "web", "mode": "http", "listen": {"address": "0.0.0.0", "port": PORT}, "default_pool": "app",
        "headers": {"response": {"set": [{"name": "X-Release", "value": release}]}}}
    pools: list[dict[str, Any]] = [{"name": "app", "balance": {"strategy": "weighted_round_robin"}, "servers": [
        {"name": f"b{k}", "address": "127.0.0.1", "port": port, "weight": w}
        for k, (port, w) in enumerate(zip(BACKEND_PORTS, weights, strict=True), 1)]}]
    services = [web]
    if dead_route:
        web["routes"] = [{"path_prefix": "/dead/", "pool": "dead"}]
        pools.append({"name": "dead", "servers": [{"name": "d1", "address": "127.0.0.1", "port": DEAD_PORT}]})
    if extra_service:
        services.append({"name": "extra", "mode": "http", "listen": {"address": "0.0.0.0", "port": EXTRA_PORT},
                         "default_pool": "app"})
    return {
        "pools": pools,
        "services": services,
        "proxies": [{"name": "edge", "engine": engine, "services": [s["name"] for s in services],
                     "runtime": {"kind": "docker", "container": CONTAINER, "image": base, "network": "host"}}],
        "fleet": {"name": FLEET, "manager": {"url": f"tcp://{lab.manager.ip}:2375", "allow_plain_tcp": True},
                  "nodes": {"labels": {"ctlplane.fleet": "lab"}}, "proxies": ["edge"], "agent_image": agent,
                  "rollout": {"canary": 1, "wave_size": wave_size, "soak": soak, "deadline": deadline,
                              "gate": {"max_5xx_increase": 0.05, "pools_healthy": True}}},
    }


def write_model(directory: Path, data: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    took: float

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"exit {self.code} after {self.took:.1f}s\n--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    env.pop("DOCKER_HOST", None)
    return env


def ctl_argv(*args: str) -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "ctlplane")
    return [exe, *args] if os.path.exists(exe) else [sys.executable, "-m", "ctlplane", *args]


def ctl(*args: str, timeout: float = APPLY_TIMEOUT) -> Run:
    """``ctlplane ARGS`` as the operator runs it (bounded)."""
    t0 = time.monotonic()
    done = subprocess.run(ctl_argv(*args), capture_output=True, text=True, timeout=timeout, env=_env(),
                          stdin=subprocess.DEVNULL)
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - t0)


def start_ctl(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(ctl_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                            stdin=subprocess.DEVNULL)


def finish(proc: subprocess.Popen[str], started: float, timeout: float = APPLY_TIMEOUT) -> Run:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return Run(proc.returncode, out, err, time.monotonic() - started)


# -- the lab's side ----------------------------------------------------------------------------------------
class Backends:
    """Two echo servers per node on its loopback: a plain host-network container on each node (the operator's
    application, which the fleet does not manage; as a Swarm service the manager restarted them when a
    partitioned node came back, and the gate rightly caught the 5xx)."""

    NAME = "ctlt-fleet-backends"

    def __init__(self, lab: SwarmLab) -> None:
        self.lab = lab

    def start(self) -> Backends:
        for node in self.lab.nodes:
            script = " & ".join(f"python3 /opt/ctlplane/echo.py --name b{k}-{node.name} --http-port {port} "
                                "--bind 127.0.0.1" for k, port in enumerate(BACKEND_PORTS, 1)) + " & wait"
            node.client.containers.run(self.lab.images[0], ["sh", "-c", script], name=self.NAME, detach=True,
                                       network_mode="host", init=True, labels={"ctlplane.lab.test": "backends"},
                                       restart_policy={"Name": "unless-stopped"})
        for node in self.lab.nodes:
            wait_until(lambda n=node: all(answers(n, port) for port in BACKEND_PORTS), timeout=60, interval=0.5,
                       what=f"the echo backends on {node.name}")
        return self

    def remove(self) -> None:
        for node in self.lab.nodes:
            for container in node.client.containers.list(all=True, filters={"name": self.NAME}):
                container.remove(force=True)


def answers(node: Node, port: int) -> bool:
    rc, _ = node.exec("curl", "-fsS", "--max-time", "2", "-o", "/dev/null", f"http://127.0.0.1:{port}/healthz")
    return rc == 0


@dataclass(frozen=True)
class ProxyFacts:
    """A node's proxy container as it is now: its id, its master's pid on the node, its workers' pids."""

    container: str
    master: int
    workers: frozenset[int]


def proxy_facts(node: Node) -> ProxyFacts:
    container = node.client.containers.get(CONTAINER)
    result = container.exec_run(["sh", "-c", PS_SCRIPT])
    procs, _ = parse_processes(result.output.decode(errors="replace"))
    workers = frozenset(p.pid for p in procs.values() if p.ppid == 1 and p.cmdline.startswith(WORKER_TITLES))
    return ProxyFacts(container.id, int(container.attrs["State"]["Pid"]), workers)


def agent_logs(lab: SwarmLab) -> str:
    """The agents' and proxies' logs on every node (for a failing test's report)."""
    parts = []
    mgr = lab.manager.client
    try:
        services = mgr.services.list(filters={"label": f"ctlplane.fleet={FLEET}"})
    except Exception as exc:  # noqa: BLE001 - the report must not fail
        services = []
        parts.append(f"cannot list the fleet's services: {exc}")
    for service in services:
        try:
            tasks = [f"{t['CreatedAt'][11:23]} gen {t['Spec'].get('ForceUpdate', 0)} {t['Status']['State']} "
                     f"{t['Status'].get('Err', '')} release {_release(t)[:12]}"
                     for t in sorted(service.tasks(), key=lambda t: t["CreatedAt"])]
            text = b"".join(service.logs(stdout=True, stderr=True, tail=60, timestamps=True)).decode(
                errors="replace")
            logs = "\n".join(f"{stamp[11:23]} {rest}" for stamp, _, rest in
                              sorted(line.partition(" ") for line in text.splitlines()))
        except Exception as exc:  # noqa: BLE001
            tasks, logs = [], f"cannot read: {exc}"
        parts.append(f"--- service {service.name} tasks:\n  " + "\n  ".join(tasks) + f"\n{logs}")
    for node in lab.nodes:
        rc, out = node.exec("sh", "-c", f"tail -n 40 {AGENT_ROOT}/fleet/{FLEET}/state/edge/logs/*.log "
                                        f"{AGENT_ROOT}/fleet/{FLEET}/agent.json 2>&1")
        parts.append(f"--- node {node.name} proxy log and agent record\n{out}")
    return "\n".join(parts)


def _release(task: dict[str, Any]) -> str:
    env = task["Spec"].get("ContainerSpec", {}).get("Env") or []
    return next((e.split("=", 1)[1] for e in env if e.startswith("CTLPLANE_RELEASE=")), "")


def sweep(lab: SwarmLab) -> None:
    """Remove every Swarm object of the fleet, the proxy containers and the nodes' fleet state."""
    mgr = lab.manager.client
    for service in mgr.services.list(filters={"label": f"ctlplane.fleet={FLEET}"}):
        service.remove()
    wait_until(lambda: not any(n.client.containers.list(all=True, filters={"name": f"ctl-{FLEET}-"})
                               for n in lab.nodes), timeout=60, interval=0.5, what="the fleet's agent containers gone")
    for config in mgr.configs.list(filters={"label": f"ctlplane.fleet={FLEET}"}):
        config.remove()
    for secret in mgr.secrets.list(filters={"label": f"ctlplane.fleet={FLEET}"}):
        secret.remove()
    for node in lab.nodes:
        for container in node.client.containers.list(all=True, filters={"name": CONTAINER}):
            container.remove(force=True)
        node.exec("rm", "-rf", f"{AGENT_ROOT}/fleet/{FLEET}")


def prepare_nodes(lab: SwarmLab) -> None:
    """What an operator does once per node: the agent's state directory exists (Swarm does not create a bind
    mount's source)."""
    for node in lab.nodes:
        rc, out = node.exec("mkdir", "-p", AGENT_ROOT)
        assert rc == 0, out


@contextmanager
def fleet_lab(lab: SwarmLab) -> Iterator[None]:
    """A test module's time on the lab: the nodes prepared and the echo backends up; afterwards every fleet
    object and proxy swept and the backends removed."""
    prepare_nodes(lab)
    backends = Backends(lab).start()
    try:
        yield
    finally:
        sweep(lab)
        backends.remove()


# -- shared by the fault and rollout tests (test_faults.py, test_rollout.py) --------------------------------
def release_of(node: Node) -> str:
    """The X-Release a node's proxy answers with now (a request from inside the node, on its address)."""
    rc, out = node.exec("curl", "-sS", "--max-time", "3", "-D", "-", "-o", "/dev/null", f"http://{node.ip}:{PORT}/")
    assert rc == 0, out
    return next((line.split(":", 1)[1].strip() for line in out.splitlines()
                 if line.lower().startswith("x-release:")), "")


def held_port(node: Node, image: str, port: int) -> Any:
    """A listener on ``port`` of every address of the node (its host network), as a container on the node."""
    code = ("import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
            f"s.bind(('0.0.0.0', {port})); s.listen(); time.sleep(600)")
    container = node.client.containers.run(image, ["python3", "-c", code], network_mode="host", detach=True,
                                           labels={"ctlplane.lab.test": "squatter"}, name="ctlt-fleet-squatter")
    wait_until(lambda: node.exec("sh", "-c", f"ss -ltn | grep -q ':{port} '")[0] == 0, timeout=20,
               interval=0.2, what=f"port {port} held on {node.name}")
    return container


@dataclass(frozen=True)
class AgentView:
    """A node's agent service as the manager sees it now: the release its spec names and its newest task of the
    service's current generation (state "" when none)."""

    release: str
    generation: int
    task_state: str
    task_release: str


def agent_view(lab: SwarmLab, node: Node) -> AgentView | None:
    """Read ``node``'s agent service through the manager (None when the fleet has no agent there)."""
    import docker

    try:
        service = lab.manager.client.services.get(f"ctl-{FLEET}-agent-{node.id[:12]}")
    except docker.errors.NotFound:
        return None
    spec = service.attrs["Spec"]
    generation = int(spec["TaskTemplate"].get("ForceUpdate", 0))
    tasks = [t for t in service.tasks() if int(t["Spec"].get("ForceUpdate", 0)) == generation]
    newest = max(tasks, key=lambda t: t["CreatedAt"]) if tasks else None
    return AgentView(spec.get("Labels", {}).get("ctlplane.release", ""), generation,
                     newest["Status"]["State"] if newest else "", _release(newest) if newest else "")
