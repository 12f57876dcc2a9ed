"""Docker discovery latency: from ``docker start`` of a labelled backend to the first request it serves
through the proxy, and from ``docker stop`` to the apply that took it out of the pool.

Per engine, one proxy container deployed by ctlplane on a test network (the integration harness: its own
network with an explicit subnet, everything removed afterwards), ``ctlplane watch``'s loop following the
Docker events, and a pool discovering ``ctlplane.pool=<run>-bench``. Each round creates a member, starts it
and polls the proxy from this host (a new connection every 10 ms, bounded) until the new member answers;
then stops it (SIGTERM) and waits for the watch cycle whose apply removed it. HAProxy takes both changes
through the runtime API, NGINX by reload. Reference: Traefik's Docker provider throttles changes for 2 s
by default (``providers.providersThrottleDuration``).
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import docs_header, p50_p95_ms, publish, table  # noqa: E402

HEADING = "Docker discovery: docker start to first request, docker stop to removal"
DOC_INTRO = ("A labelled echo container joins a discovered pool under `ctlplane watch` (Docker events), and leaves "
             "it; per engine, the time from `docker start` to the first request it serves through the proxy "
             "(polled from the host every 10 ms on a new connection) and from `docker stop` to the end of the apply "
             "that removed it. Target: p50 <= 500 ms on HAProxy (runtime API) and <= 1 s on NGINX (reload), "
             "against Traefik's default 2 s provider throttle.")
DOC_NOTES = ("The join time includes the backend's own start (Python, about 100-200 ms here) and the 200 ms quiet "
             "period of watch's debouncer; HAProxy's `add server` and `del server` need no reload. The removal "
             "time starts when `docker stop` returns (the container has exited).")


def first_answer(target: str, name: str, limit: float = 15.0) -> float | None:
    host, port = target.split(":")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=1.0)
            conn.request("GET", "/", headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.getheader("X-Server") == name:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.01)
    return None


def measure(engine: str, rounds: int, lab, deployer) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    from integration.harness.discovered import DockerWatching, Members
    from integration.harness.wait import wait_until

    group = Members(lab, f"bench{engine[0]}")
    group.create()  # one member from the start: the pool is never empty
    service = {"name": "web", "mode": "http", "listen": {"port": 80}, "default_pool": "web"}
    lb = deployer.deploy(engine, pools=[group.pool()], services=[service])
    joins, leaves = [], []
    try:
        with DockerWatching(lb.model_path) as watch:
            watch.wait_cycles(1)
            for _ in range(rounds):
                member = group.create(start=False)
                started = time.monotonic()
                member.container.start()
                seen = first_answer(lb.target(), member.name)
                if seen is not None:
                    joins.append(seen - started)
                time.sleep(0.5)  # let the join's apply finish
                member.container.stop(timeout=10)
                stopped = time.monotonic()
                text = (lb.state_dir / "config" / ("haproxy.cfg" if engine == "haproxy" else "nginx.conf")).read_text
                wait_until(lambda text=text, name=member.name: name not in text(), timeout=20,
                           what="the removal staged")
                quiet = len(watch.cycles)
                while True:  # the loop is idle again: the removal's apply has reported
                    time.sleep(1.5)
                    if len(watch.cycles) == quiet:
                        break
                    quiet = len(watch.cycles)
                at = watch.cycles[-1][0]  # the last apply after the stop: the one that removed it
                leaves.append(max(0.0, at - stopped))
                time.sleep(0.5)
    finally:
        group.remove()
    return joins, leaves


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    from integration.harness import Deployer, start_lab, start_session
    import tempfile

    session = start_session()
    rows = []
    try:
        lab = start_lab(session, "bench-disc", backends=("a",), clients=())
        try:
            for engine in ("haproxy", "nginx"):
                with tempfile.TemporaryDirectory() as tmp:
                    deployer = Deployer(lab, Path(tmp))
                    try:
                        joins, leaves = measure(engine, args.rounds, lab, deployer)
                    finally:
                        deployer.teardown()
                rows.append([engine, f"{len(joins)}/{args.rounds}", p50_p95_ms(joins), p50_p95_ms(leaves)])
        finally:
            lab.remove()
    finally:
        session.cleanup()
    headers = ["engine", "joined", "start -> first request p50 / p95 (ms)", "stop -> removed p50 / p95 (ms)"]
    text = docs_header(f"python bench/discovery.py --rounds {args.rounds}") + "\n\n" + table(headers, rows, True)
    publish(text, HEADING, DOC_INTRO, DOC_NOTES, write_docs=args.write_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
