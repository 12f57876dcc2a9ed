#!/usr/bin/env python3
"""Bounded traffic generator that runs INSIDE a client container (stdlib only).

The host calls ``python3 /opt/ctlplane-harness/load.py '<json spec>'`` through
``exec_run`` and reads one JSON document from stdout. The spec:

    {"mode": "http" | "tcp",
     "requests": [{"target": "IP:PORT", "path": "/", "method": "GET",
                   "headers": {"Host": "..."}}, ...],   # cycled: request i uses requests[i % len]
     "count": N, "concurrency": C, "timeout": per-request seconds,
     "deadline": seconds for the whole run, "keepalive": true,
     "retry": true}   # false: no second try on a failed keep-alive connection

Every request is answered by a result ``[i, status, server, ms]``: ``server``
is the ``X-Server`` response header (http) or the first line the backend
sends (tcp, status 0); a failure gives status -1 and the error text as
server (with ``"retry": false`` prefixed by ``reused connection:`` or ``new
connection:``: whether the connection had already carried a request). The
run is bounded twice: at most ``count`` requests and at most ``deadline``
seconds (requests not started by then are not sent).
"""

import http.client
import json
import socket
import sys
import threading
import time


def _split(target):
    host, _, port = target.rpartition(":")
    return host, int(port)


class ConnectionFailure(Exception):
    """A failed request, saying whether its connection had carried a request before (retry disabled)."""

    def __init__(self, reused, exc):
        super().__init__(f"{'reused' if reused else 'new'} connection: {type(exc).__name__}: {exc}")


class Worker:
    def __init__(self, spec):
        self.spec = spec
        self.conns = {}
        self.served = {}  # target -> requests answered on its current connection

    def _conn(self, target):
        conn = self.conns.get(target)
        if conn is None:
            host, port = _split(target)
            conn = http.client.HTTPConnection(host, port, timeout=self.spec.get("timeout", 5.0))
            self.conns[target] = conn
        return conn

    def http(self, req):
        target = req["target"]
        headers = dict(req.get("headers") or {})
        if not self.spec.get("keepalive", True):
            headers.setdefault("Connection", "close")
        retry = self.spec.get("retry", True)
        for attempt in (0, 1):  # a keep-alive connection the server closed is retried once (unless retry is false)
            conn = self._conn(target)
            try:
                conn.request(req.get("method", "GET"), req.get("path", "/"), headers=headers)
                resp = conn.getresponse()
                resp.read()
                self.served[target] = self.served.get(target, 0) + 1
                if resp.getheader("Connection", "").lower() == "close" or not self.spec.get("keepalive", True):
                    conn.close()
                    self.conns.pop(target, None)
                    self.served.pop(target, None)
                return resp.status, resp.getheader("X-Server") or ""
            except (http.client.HTTPException, OSError) as exc:
                conn.close()
                self.conns.pop(target, None)
                reused = self.served.pop(target, 0) > 0
                if not retry:
                    raise ConnectionFailure(reused, exc) from exc
                if attempt or isinstance(exc, socket.timeout):
                    raise

    def tcp(self, req):
        host, port = _split(req["target"])
        with socket.create_connection((host, port), timeout=self.spec.get("timeout", 5.0)) as sock:
            data = b""
            while b"\n" not in data and len(data) < 4096:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        return 0, data.split(b"\n", 1)[0].decode("utf-8", "replace")


def main(argv):
    spec = json.loads(argv[1])
    requests = spec["requests"]
    count = int(spec.get("count", len(requests)))
    deadline = time.monotonic() + float(spec.get("deadline", 20.0))
    lock = threading.Lock()
    state = {"next": 0}
    results = []

    def run():
        worker = Worker(spec)
        send = worker.tcp if spec.get("mode", "http") == "tcp" else worker.http
        while True:
            with lock:
                i = state["next"]
                if i >= count or time.monotonic() >= deadline:
                    return
                state["next"] = i + 1
            started = time.monotonic()
            try:
                status, server = send(requests[i % len(requests)])
            except ConnectionFailure as exc:
                status, server = -1, str(exc)
            except Exception as exc:  # noqa: BLE001 - every failure is a result
                status, server = -1, f"{type(exc).__name__}: {exc}"
            ms = round((time.monotonic() - started) * 1000, 1)
            with lock:
                results.append([i, status, server, ms])

    started = time.monotonic()
    threads = [threading.Thread(target=run, daemon=True) for _ in range(max(1, int(spec.get("concurrency", 1))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + float(spec.get("timeout", 5.0)) + 1.0)
    with lock:
        out = sorted(results)
    json.dump({"results": out, "elapsed": round(time.monotonic() - started, 3),
               "unsent": count - len(out)}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
