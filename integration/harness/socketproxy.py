"""The least-privilege Docker socket proxy of examples/docker-discovery/, running for real.

:func:`start_socket_proxy` runs HAProxy from the run's image with the shipped
config file as it is (mounted read-only) and the engine's socket mounted
read-only, on a network of this run, and publishes its port 2375 on 127.0.0.1
only (a random free port); it is ready once ``GET /_ping`` answers through it.
:meth:`SocketProxy.requests` reads HAProxy's request log (``option httplog`` on
stderr): method, path and status of every call that went through, denied ones
included. With ``tls`` (:func:`write_tls`: a test CA, the proxy's certificate
for 127.0.0.1 and a client's), ``socket-proxy-tls.cfg`` runs instead, on 2376.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from integration.harness.network import LabNetwork
from integration.harness.wait import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docker-discovery"
CONFIG = EXAMPLES / "socket-proxy.cfg"
TLS_CONFIG = EXAMPLES / "socket-proxy-tls.cfg"
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


def write_tls(directory: Path) -> Path:
    """A test CA, the proxy's certificate for 127.0.0.1 (``server/server.pem``, ``server/ca.pem``, as
    socket-proxy-tls.cfg reads them from /certs) and a client's (``client/``: ca.pem, cert.pem, key.pem, as
    DOCKER_CERT_PATH holds them); returns ``directory``."""
    import trustme

    ca = trustme.CA()
    server, client = ca.issue_cert("127.0.0.1"), ca.issue_cert("ctlplane-discovery")
    for sub in ("server", "client"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
        ca.cert_pem.write_to_path(str(directory / sub / "ca.pem"))
    server.private_key_and_cert_chain_pem.write_to_path(str(directory / "server" / "server.pem"))
    client.cert_chain_pems[0].write_to_path(str(directory / "client" / "cert.pem"))
    client.private_key_pem.write_to_path(str(directory / "client" / "key.pem"))
    return directory


def start_socket_proxy(net: LabNetwork, config: Path = CONFIG, tls: Path | None = None) -> SocketProxy:
    """The socket proxy on ``net`` with ``config``; with ``tls`` (from :func:`write_tls`), TLS_CONFIG on 2376."""
    session = net.session
    port = 2376 if tls else 2375
    volumes = {str(config): {"bind": "/etc/ctlplane/socket-proxy.cfg", "mode": "ro"},
               ENGINE_SOCKET: {"bind": ENGINE_SOCKET, "mode": "ro"}}
    if tls:
        volumes[str(tls / "server")] = {"bind": "/certs", "mode": "ro"}
    container = session.client.containers.run(
        session.image, ["haproxy", "-db", "-f", "/etc/ctlplane/socket-proxy.cfg"],
        name=session.name(net.suffix, "socket-proxy" + "-tls" * bool(tls)), detach=True, labels=session.labels,
        network=net.name, volumes=volumes, ports={f"{port}/tcp": ("127.0.0.1", None)}, stop_signal="SIGKILL")
    try:
        def published() -> int:
            container.reload()
            assert container.status == "running", container.logs().decode("utf-8", "replace")
            return int(container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"][0]["HostPort"])

        proxy = SocketProxy(container, wait_until(published, timeout=20, what="the socket proxy's published port"))
        verify: ssl.SSLContext | bool = True
        if tls:
            verify = ssl.create_default_context(cafile=str(tls / "client" / "ca.pem"))
            verify.load_cert_chain(str(tls / "client" / "cert.pem"), str(tls / "client" / "key.pem"))
        base = f"https://127.0.0.1:{proxy.port}" if tls else proxy.http
        wait_until(lambda: httpx.get(f"{base}/_ping", timeout=3, verify=verify).text == "OK", timeout=20,
                   what="the engine answering /_ping through the socket proxy")
        return proxy
    except BaseException:
        session.remove_container(container)
        raise
