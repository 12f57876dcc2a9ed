"""Helper containers on a test network: echo backends and traffic clients.

An :class:`Echo` runs ``/opt/ctlplane/echo.py`` (HTTP on 8080, TCP on 9000)
at a fixed address and is ready once it printed its READY line. A
:class:`Client` idles (``sleep infinity``) with the harness directory
mounted read-only, so ``load.py`` can be run in it through ``exec_run``;
traffic therefore starts inside the test network from the client's own
address, which is what source-IP tests need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integration.harness.network import LabNetwork
from integration.harness.traffic import Request, Traffic, run_load
from integration.harness.wait import wait_until

HARNESS_DIR = Path(__file__).resolve().parent
HARNESS_MOUNT = "/opt/ctlplane-harness"
HTTP_PORT, TCP_PORT = 8080, 9000


def _run(net: LabNetwork, name: str, ip: str, command: list[str], **extra: Any) -> Any:
    session = net.session
    return session.client.containers.run(
        session.image, command, name=session.name(net.suffix, name), detach=True,
        labels=session.labels, network=net.name, networking_config=net.endpoint(ip), stop_signal="SIGKILL", **extra)


@dataclass
class Echo:
    """An echo backend: ``name`` is what it answers in ``X-Server`` (HTTP) and its first TCP line."""

    name: str
    ip: str
    container: Any
    http_port: int = HTTP_PORT
    tcp_port: int = TCP_PORT

    @property
    def http(self) -> str:
        return f"{self.ip}:{self.http_port}"

    @property
    def tcp(self) -> str:
        return f"{self.ip}:{self.tcp_port}"

    def server(self, port: int | None = None, **fields: Any) -> dict[str, Any]:
        """This backend as a model pool server (``weight=3``, ``backup=True``, ... pass through)."""
        return {"name": self.name, "address": self.ip, "port": port or self.http_port, **fields}


def start_echo(net: LabNetwork, name: str, host: int) -> Echo:
    ip = net.ip(host)
    container = _run(net, name, ip, ["python3", "/opt/ctlplane/echo.py", "--name", name,
                                     "--http-port", str(HTTP_PORT), "--tcp-port", str(TCP_PORT)])
    echo = Echo(name, ip, container)
    wait_until(lambda: b"READY" in container.logs(), timeout=15, what=f"echo backend {name} READY")
    return echo


@dataclass
class Client:
    """A container that sends bounded traffic from its own address on the test network."""

    name: str
    ip: str
    container: Any

    def load(self, requests: list[Request] | Request, *, count: int | None = None, concurrency: int = 4,
             timeout: float = 5.0, deadline: float = 20.0, mode: str = "http", keepalive: bool = True,
             retry: bool = True) -> Traffic:
        """Send ``count`` requests (cycling through ``requests``); at most ``deadline`` seconds."""
        return run_load(self.container, requests, count=count, concurrency=concurrency, timeout=timeout,
                        deadline=deadline, mode=mode, keepalive=keepalive, retry=retry)

    def get(self, target: str, path: str = "/", headers: dict[str, str] | None = None) -> dict[str, Any]:
        """One HTTP GET with curl; returns {"status", "headers", "body"} (body parsed as JSON when it is)."""
        argv = ["curl", "-s", "-m", "5", "-o", "/dev/stdout", "-D", "/dev/stderr", f"http://{target}{path}"]
        for key, value in (headers or {}).items():
            argv[1:1] = ["-H", f"{key}: {value}"]
        result = self.container.exec_run(argv, demux=True)
        body, head = (result.output[0] or b""), (result.output[1] or b"")
        lines = head.decode("latin-1").splitlines()
        status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else -1
        found = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:]) if v}
        text = body.decode("utf-8", "replace")
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        return {"status": status, "headers": found, "body": parsed}


def start_client(net: LabNetwork, name: str, host: int) -> Client:
    ip = net.ip(host)
    container = _run(net, name, ip, ["sleep", "infinity"],
                     volumes={str(HARNESS_DIR): {"bind": HARNESS_MOUNT, "mode": "ro"}})
    return Client(name, ip, container)
