#!/usr/bin/env python3
"""Steady, rate-limited HTTP traffic that runs INSIDE a client container (stdlib only).

Unlike ``load.py`` (as fast as possible), this sends request ``i`` at
``start + i / rate`` so an outage shows up as a gap in time. The host runs
``python3 /opt/ctlplane-harness/steady.py '<json spec>'`` and reads one JSON
document from stdout:

    {"targets": ["IP:PORT", ...],   # request i goes to targets[i % len]
     "path": "/", "rate": requests per second (all targets together),
     "duration": seconds, "concurrency": C, "timeout": per-request seconds,
     "keepalive": true}

Each result is ``[i, target index, started, ended, status, server]`` with
wall-clock times (``time.time()``, the same clock as the host's); a failure
has status -1 and the error text as server. Bounded: ``rate * duration``
requests at most, none started after ``duration`` seconds. With keep-alive,
a request whose reused connection turns out closed before any answer is
retried once on a new connection (what HTTP clients do for idempotent GETs);
a timeout is never retried.
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


class Worker:
    def __init__(self, spec):
        self.spec = spec
        self.conns = {}

    def get(self, target):
        keepalive = self.spec.get("keepalive", True)
        headers = {} if keepalive else {"Connection": "close"}
        for attempt in (0, 1):
            conn = self.conns.pop(target, None)
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPConnection(*_split(target), timeout=self.spec.get("timeout", 2.0))
            try:
                conn.request("GET", self.spec.get("path", "/"), headers=headers)
                resp = conn.getresponse()
                resp.read()
                if keepalive and resp.getheader("Connection", "").lower() != "close":
                    self.conns[target] = conn
                else:
                    conn.close()
                return resp.status, resp.getheader("X-Server") or ""
            except (http.client.HTTPException, OSError) as exc:
                conn.close()
                if attempt or not reused or isinstance(exc, socket.timeout):
                    raise
        raise RuntimeError("unreachable")


def main(argv):
    spec = json.loads(argv[1])
    targets = spec["targets"]
    rate = float(spec["rate"])
    duration = float(spec["duration"])
    count = int(rate * duration)
    lock = threading.Lock()
    state = {"next": 0}
    results = []
    start = time.time() + 0.05

    def run():
        worker = Worker(spec)
        while True:
            with lock:
                i = state["next"]
                state["next"] = i + 1
            due = start + i / rate
            if i >= count or due - start >= duration:
                return
            time.sleep(max(0.0, due - time.time()))
            began = time.time()
            try:
                status, server = worker.get(targets[i % len(targets)])
            except Exception as exc:  # noqa: BLE001 - every failure is a result
                status, server = -1, f"{type(exc).__name__}: {exc}"
            with lock:
                results.append([i, i % len(targets), round(began, 4), round(time.time(), 4), status, server])

    threads = [threading.Thread(target=run, daemon=True) for _ in range(max(1, int(spec.get("concurrency", 4))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, start + duration - time.time()) + float(spec.get("timeout", 2.0)) * 2 + 1.0)
    with lock:
        out = sorted(results)
    json.dump({"results": out, "start": start, "unsent": count - len(out)}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
