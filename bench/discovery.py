"""Docker discovery latency: from ``docker start`` of a labelled backend to the first request it serves
through the proxy, and from ``docker stop`` to the last request that reaches it.

Per engine, one proxy container deployed by ctlplane on a test network (the integration harness: its own
network with an explicit subnet, everything removed afterwards), ``ctlplane watch``'s loop following the
Docker events, and a pool discovering ``ctlplane.pool=<run>-bench`` with one member that stays. Each round
creates a member, starts it and polls the proxy from this host (a new connection every 10 ms, bounded) until
the new member answers; then stops it (``docker stop``: SIGTERM, after which the member keeps serving for
GRACE seconds, like an application finishing its work) while polling on, and takes the last response it
served: from then on the proxy sends it nothing. HAProxy takes both changes through the runtime API (the
stop signal drains it), NGINX by reload (the drained member is marked ``down``). Reference: Traefik's Docker
provider throttles changes for 2 s by default (``providers.providersThrottleDuration``).
"""

from __future__ import annotations

import argparse
import http.client
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import cleanup_on_exit, docs_header, percentile, publish, quietly, table  # noqa: E402

HEADING = "## Docker discovery: docker start to first request, docker stop to last request"
TARGETS_MS = {"haproxy": 500, "nginx": 1000}  # p50, both ways
GRACE = 4.0  # seconds a stopped member keeps serving after SIGTERM
POLL = 0.01
DOC_INTRO = ("A labelled echo container joins a discovered pool under `ctlplane watch` (Docker events), and leaves "
             "it; per engine, the time from `docker start` to the first request it serves through the proxy, and "
             f"from `docker stop` to the last request it serves (it keeps serving {GRACE:g} s after SIGTERM, so "
             "the time is the proxy's, not the container's exit), polled from the host every 10 ms on a new "
             "connection. Target: p50 <= 500 ms on HAProxy (runtime API) and <= 1 s on NGINX (reload), both ways, "
             "against Traefik's default 2 s provider throttle.")
DOC_NOTES = ("The join time includes the backend's own start (Python, about 100-200 ms here) and the 200 ms quiet "
             "period of watch's debouncer. On the way out the stop signal's `kill` event is enough: HAProxy drains "
             "the member through the runtime API, NGINX reloads with it marked `down`; the member is deleted once "
             "it exited. \"failed\" counts requests that got no 200 while members joined and left (NGINX polls "
             "without keep-alive, so a reload fails none).")


def ask(host: str, port: int) -> str | None:
    """Who served one request on a new connection (None: failed or not 200)."""
    try:
        conn = http.client.HTTPConnection(host, port, timeout=1.0)
        conn.request("GET", "/", headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.getheader("X-Server") if response.status == 200 else None
    except OSError:
        return None


def first_answer(target: str, name: str, limit: float = 15.0) -> tuple[float | None, int]:
    """When ``name`` first answered (monotonic), and how many requests failed meanwhile."""
    host, port = target.split(":")
    deadline, failed = time.monotonic() + limit, 0
    while time.monotonic() < deadline:
        served = ask(host, int(port))
        if served == name:
            return time.monotonic(), failed
        failed += served is None
        time.sleep(POLL)
    return None, failed


def last_answer(target: str, name: str, until: float) -> tuple[float | None, int]:
    """The last time ``name`` answered before ``until`` (monotonic), and how many requests failed."""
    host, port = target.split(":")
    last, failed = None, 0
    while time.monotonic() < until:
        served = ask(host, int(port))
        if served == name:
            last = time.monotonic()
        failed += served is None
        time.sleep(POLL)
    return last, failed


def settle(watch, limit: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    """Until the watch loop reported nothing new for 1 s (bounded)."""
    deadline = time.monotonic() + limit
    seen = len(watch.cycles)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        if len(watch.cycles) == seen:
            return
        seen = len(watch.cycles)


def measure(engine: str, rounds: int, lab, deployer) -> dict[str, list[float] | int]:  # type: ignore[no-untyped-def]
    from integration.harness.discovered import DockerWatching, Members
    from integration.harness.wait import wait_until

    group = Members(lab, f"bench{engine[0]}")
    group.create()  # stays: the pool is never empty
    service = {"name": "web", "mode": "http", "listen": {"port": 80}, "default_pool": "web"}
    lb = deployer.deploy(engine, pools=[group.pool()], services=[service])
    config = lb.state_dir / "config" / ("haproxy.cfg" if engine == "haproxy" else "nginx.conf")
    joins: list[float] = []
    leaves: list[float] = []
    failed = 0
    try:
        with DockerWatching(lb.model_path) as watch:
            watch.wait_cycles(1)
            for _ in range(rounds):
                member = group.create(start=False, grace=GRACE)
                started = time.monotonic()
                member.container.start()
                seen, lost = first_answer(lb.target(), member.name)
                failed += lost
                if seen is not None:
                    joins.append(seen - started)
                settle(watch)
                stopper = threading.Thread(target=member.container.stop, kwargs={"timeout": 30})
                stopped = time.monotonic()
                stopper.start()
                last, lost = last_answer(lb.target(), member.name, stopped + GRACE - 0.5)
                failed += lost
                leaves.append(max(0.0, (last or stopped) - stopped))
                stopper.join(40)
                wait_until(lambda name=member.name: name not in config.read_text(), timeout=30,
                           what="the member deleted")
                settle(watch)
    finally:
        group.remove()
    return {"joins": joins, "leaves": leaves, "failed": failed}


def ms(values: list[float], pct: float) -> str:
    found = percentile(values, pct)
    return "-" if found is None else f"{found * 1000:.0f}"


def verdicts(engine: str, joins: list[float], leaves: list[float]) -> list[str]:
    target = TARGETS_MS[engine]
    lines = []
    for what, values in (("docker start -> first request", joins), ("docker stop -> last request", leaves)):
        p50 = percentile(values, 50)
        verdict = "no data" if p50 is None else ("met" if p50 * 1000 <= target else "missed")
        lines.append(f"- {engine}, {what}: p50 {ms(values, 50)} ms (target <= {target} ms): {verdict}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 rounds per engine")
    parser.add_argument("--markdown", action="store_true", help="(the table is always markdown)")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    rounds = 3 if args.quick else max(1, min(args.rounds, 50))
    import tempfile

    from integration.harness import Deployer, start_lab, start_session

    header = docs_header(f"python bench/discovery.py --rounds {rounds}")  # the load average before we start
    rows, lines = [], []
    with cleanup_on_exit() as stack:
        session = start_session(progress=None)
        stack.callback(quietly(session.cleanup))
        lab = start_lab(session, "bench-disc", backends=(), clients=())
        stack.callback(quietly(lab.remove))
        for engine in ("haproxy", "nginx"):
            with tempfile.TemporaryDirectory() as tmp:
                deployer = Deployer(lab, Path(tmp))
                try:
                    found = measure(engine, rounds, lab, deployer)
                finally:
                    deployer.teardown()
            joins, leaves = found["joins"], found["leaves"]
            assert isinstance(joins, list) and isinstance(leaves, list)
            rows.append([engine, f"{len(joins)}/{rounds}", ms(joins, 50), ms(joins, 90), ms(leaves, 50),
                         ms(leaves, 90), found["failed"], f"{TARGETS_MS[engine]}"])
            lines += verdicts(engine, joins, leaves)
            print(f"{engine}: joins {[round(j * 1000) for j in joins]} ms, leaves "
                  f"{[round(v * 1000) for v in leaves]} ms", file=sys.stderr, flush=True)
    headers = ["engine", "joined", "start -> first request p50 ms", "p90 ms", "stop -> last request p50 ms",
               "p90 ms", "failed", "target p50 ms"]
    text = header + "\n\n" + table(headers, rows, True) + "\n\n" + "\n".join(lines)
    publish(text, HEADING, DOC_INTRO, DOC_NOTES, write_docs=args.write_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
