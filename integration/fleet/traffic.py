"""Keep-alive HTTP load from the test host to every fleet node while a rollout runs, bounded.

``NodeLoad(targets, path)`` starts one thread per target (``IP:PORT`` of a node's proxy), each sending GETs on a
kept-alive connection at about ``rate`` requests per second until :meth:`NodeLoad.stop` or ``limit`` seconds
(whichever comes first). Every answer is recorded per target: its time, status, ``X-Server`` (the backend) and
``X-Release`` (the release's response header). As HTTP clients do for idempotent requests, a request whose
reused connection turns out closed before any answer is retried once on a new connection (the same rule as
``integration/harness/steady.py``); a timeout or any other error is a failure. With ``context`` (an
``ssl.SSLContext``) the load is HTTPS: every connection starts with a TLS handshake verified by the context, at
most ``per_connection`` requests go over one connection (then a new one, so handshakes keep coming), a failed
handshake is a failure (and listed in ``failed_handshakes``), and each answer carries the sha256 of the certificate its connection was given
(``handshakes`` counts them per target). Only the lab's node addresses are ever targeted.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Answer:
    at: float
    status: int  # -1: no answer
    server: str
    release: str
    error: str = ""
    cert: str = ""  # sha256 of the certificate the TLS connection was given (HTTPS only)


@dataclass
class NodeLoad:
    """Load on every target; ``answers[target]`` fills while it runs."""

    targets: list[str]
    path: str = "/"
    rate: float = 15.0
    limit: float = 240.0
    timeout: float = 3.0
    context: ssl.SSLContext | None = None
    per_connection: int = 0  # requests over one connection before a new one (0: no limit)
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    handshakes: dict[str, int] = field(default_factory=dict)
    failed_handshakes: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(t,), daemon=True, name=f"load-{t}")
                         for t in self.targets]
        self.answers = {t: [] for t in self.targets}
        self.handshakes = {t: 0 for t in self.targets}
        self._used: dict[str, int] = {t: 0 for t in self.targets}

    def _connect(self, host: str, port: int) -> http.client.HTTPConnection:
        if self.context is None:
            return http.client.HTTPConnection(host, port, timeout=self.timeout)
        return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self.context)

    def _handshake(self, conn: http.client.HTTPConnection, target: str) -> None:
        """Connect (the TLS handshake), counted; a failed one is recorded apart, even when a retry succeeds."""
        self.handshakes[target] += 1
        try:
            conn.connect()
        except OSError as exc:
            self.failed_handshakes.append((target, f"{type(exc).__name__}: {exc}"))
            raise

    def _cert(self, conn: http.client.HTTPConnection) -> str:
        sock = conn.sock
        if not isinstance(sock, ssl.SSLSocket):
            return ""
        der = sock.getpeercert(binary_form=True)
        return hashlib.sha256(der).hexdigest() if der else ""

    def __enter__(self) -> NodeLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout * 2 + 2)

    def _get(self, conn: http.client.HTTPConnection | None, target: str) -> tuple[http.client.HTTPConnection, Answer]:
        host, _, port = target.rpartition(":")
        for attempt in (0, 1):
            reused = conn is not None
            if conn is None:
                conn = self._connect(host, int(port))
            try:
                if conn.sock is None:  # a new connection
                    self._used[target] = 0
                    if self.context is not None:
                        self._handshake(conn, target)
                conn.request("GET", self.path)
                cert = self._cert(conn)  # now: a response that closes the connection takes its socket along
                resp = conn.getresponse()
                resp.read()
                answer = Answer(time.time(), resp.status, resp.getheader("X-Server") or "",
                                resp.getheader("X-Release") or "", cert=cert)
                self._used[target] += 1
                if resp.getheader("Connection", "").lower() == "close" or (
                        self.per_connection and self._used[target] >= self.per_connection):
                    conn.close()
                    return self._connect(host, int(port)), answer
                return conn, answer
            except (http.client.HTTPException, OSError) as exc:
                conn.close()
                conn = None
                if attempt or not reused or isinstance(exc, socket.timeout):
                    return self._connect(host, int(port)), Answer(
                        time.time(), -1, "", "", f"{type(exc).__name__}: {exc}")
        raise AssertionError("unreachable")

    def _run(self, target: str) -> None:
        ends = time.monotonic() + self.limit
        conn: http.client.HTTPConnection | None = None
        step = 1.0 / self.rate
        due = time.monotonic()
        while not self._stop.is_set() and time.monotonic() < ends:
            conn, answer = self._get(conn, target)
            self.answers[target].append(answer)
            due += step
            self._stop.wait(max(0.0, due - time.monotonic()))
        if conn is not None:
            conn.close()

    # -- questions -------------------------------------------------------------------------------------
    def failures(self, target: str | None = None) -> list[tuple[str, Answer]]:
        """Answers that are no answer or a 5xx."""
        return [(t, a) for t in ([target] if target else self.targets) for a in self.answers[t]
                if a.status < 0 or a.status >= 500]

    def total(self, target: str | None = None) -> int:
        return sum(len(self.answers[t]) for t in ([target] if target else self.targets))

    def servers(self, target: str, since: float = 0.0) -> Counter[str]:
        return Counter(a.server for a in self.answers[target] if a.at >= since and a.status == 200)

    def last_release(self, target: str) -> str:
        ok = [a for a in self.answers[target] if a.status == 200]
        return ok[-1].release if ok else ""
