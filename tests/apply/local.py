"""Helpers for tests that apply models to real local proxies: echo backends
as subprocesses, free loopback ports, a bounded background load that counts
failures, and a fixture-friendly cleanup of every proxy a test started."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.helpers import ROOT

ECHO = ROOT / "integration" / "backend" / "echo.py"


LISTEN_PORTS_FROM = 20000  # listening ports are picked between this and the kernel's ephemeral range


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback TCP port nobody uses now, below the kernel's ephemeral range: a port the kernel handed out
    (``bind(0)``) can be taken, before the proxy binds it, as the source port of an outgoing connection (the
    other test worker's clients, the proxies' own connections to backends), and the proxy's bind then fails."""
    low, high = LISTEN_PORTS_FROM, max(LISTEN_PORTS_FROM + 1000, _ephemeral_start())
    for _ in range(200):
        port = random.randrange(low, high)  # noqa: S311 - not a secret
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {low} and {high} after 200 tries")


@dataclass
class Echo:
    name: str
    port: int
    process: subprocess.Popen[str]


def start_echo(name: str) -> Echo:
    proc = subprocess.Popen([sys.executable, str(ECHO), "--name", name, "--http-port", "0", "--bind", "127.0.0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # READY name=N http=ADDR:P
    port = int(line.split("http=")[1].split()[0].rsplit(":", 1)[1])
    return Echo(name, port, proc)


def stop_echoes(echoes: list[Echo]) -> None:
    """SIGTERM to all at once, then wait for each (an echo exits within ~0.2 s; a CPU-starved CI machine once
    took over 5 s): one still there after 15 s is killed, so that a slow exit never fails the test it served."""
    for e in echoes:
        e.process.terminate()
    for e in echoes:
        try:
            e.process.wait(15)
        except subprocess.TimeoutExpired:
            e.process.kill()
            e.process.wait(5)


def who(url: str, client: httpx.Client | None = None) -> str:
    response = (client or httpx).get(url, timeout=5)
    response.raise_for_status()
    return str(response.json()["server"])


@dataclass
class Load:
    """Sequential keep-alive requests in a thread: bounded by count and time, failures counted."""

    url: str
    max_requests: int = 20_000
    max_seconds: float = 60.0
    ok: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    servers: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while self.ok == 0 and self.failed == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=5) as client:
            for _ in range(self.max_requests):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                try:
                    response = client.get(self.url)
                    if response.status_code == 200:
                        self.ok += 1
                        name = response.json()["server"]
                        self.servers[name] = self.servers.get(name, 0) + 1
                    else:
                        self.failed += 1
                        self.errors.append(f"status {response.status_code}")
                except httpx.HTTPError as exc:
                    self.failed += 1
                    self.errors.append(repr(exc))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)


def keepalive_race(error: str) -> bool:
    """An error an NGINX reload causes on a reused keep-alive connection, and nothing else.

    The old worker closes its idle keep-alive connections at a reload. A request written to one
    just before the close arrives either finds the FIN ("Server disconnected without sending a
    response") or, when the request reached the socket the worker is closing, an RST
    ("Connection reset by peer"). A refused connection, a timeout or an error status is not this.
    """
    return "disconnected" in error or "RemoteProtocolError" in error or "Connection reset by peer" in error


def write_model(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
