"""The least-privilege Docker socket proxy of examples/docker-discovery/, running for real.

:func:`start_socket_proxy` runs HAProxy from the run's image with the shipped
config file as it is (mounted read-only) and the engine's socket mounted
read-only, on a network of this run, and publishes its port 2375 on 127.0.0.1
only (a random free port); it is ready once ``GET /_ping`` answers through it.
:meth:`SocketProxy.requests` reads HAProxy's request log (``option httplog`` on
stderr): method, path and status of every call that went through, denied ones
included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from integration.harness.network import LabNetwork
from integration.harness.wait import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docker-discovery"
CONFIG = EXAMPLES / "socket-proxy.cfg"
ENGINE_SOCKET = "/var/run/docker.sock"
# httplog: ... frontend backend/server Tq/Tw/Tc/Tr/Ta status bytes ... "METHOD /path?query HTTP/1.1"
_LINE = re.compile(r" (?P<status>\d{3}) \d+ .*\"(?P<method>[A-Z]+) (?P<path>[^ ?\"]*)[^\"]*\"")


@dataclass
class SocketProxy:
    container: Any
    port: int

    @property
    def url(self) -> str:
        """What DOCKER_HOST is set to."""
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request the proxy logged, in order."""
        text = self.container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        return [(m["method"], m["path"], int(m["status"])) for m in map(_LINE.search, text.splitlines()) if m]


def start_socket_proxy(net: LabNetwork, config: Path = CONFIG) -> SocketProxy:
    session = net.session
    container = session.client.containers.run(
        session.image, ["haproxy", "-db", "-f", "/etc/ctlplane/socket-proxy.cfg"],
        name=session.name(net.suffix, "socket-proxy"), detach=True, labels=session.labels, network=net.name,
        volumes={str(config): {"bind": "/etc/ctlplane/socket-proxy.cfg", "mode": "ro"},
                 ENGINE_SOCKET: {"bind": ENGINE_SOCKET, "mode": "ro"}},
        ports={"2375/tcp": ("127.0.0.1", None)}, stop_signal="SIGKILL")
    try:
        def published() -> int:
            container.reload()
            assert container.status == "running", container.logs().decode("utf-8", "replace")
            return int(container.attrs["NetworkSettings"]["Ports"]["2375/tcp"][0]["HostPort"])

        port = wait_until(published, timeout=20, what="the socket proxy's published port")
        proxy = SocketProxy(container, port)
        wait_until(lambda: httpx.get(f"{proxy.http}/_ping", timeout=3).text == "OK", timeout=20,
                   what="the engine answering /_ping through the socket proxy")
        return proxy
    except BaseException:
        session.remove_container(container)
        raise
