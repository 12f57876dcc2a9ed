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
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import cleanup_on_exit, docs_header, percentile, publish, quietly, table  # noqa: E402

HEADING = "## Docker discovery: docker start to first request, docker stop to last request"
TARGETS_MS = {"haproxy": 500, "nginx": 1000}  # p50, both ways
RUNTIMES = {"docker": "in a container (docker runtime)", "local": "on the host (local runtime)"}
GRACE = 4.0  # seconds a stopped member keeps serving after SIGTERM
POLL = 0.01
DOC_INTRO = ("A labelled echo container joins a discovered pool under `ctlplane watch` (Docker events), and leaves "
             "it; per engine, the time from `docker start` to the first request it serves through the proxy, and "
             f"from `docker stop` to the last request it serves (it keeps serving {GRACE:g} s after SIGTERM, so "
             "the time is the proxy's, not the container's exit), polled from the host every 10 ms on a new "
             "connection. Target: p50 <= 500 ms on HAProxy (runtime API) and <= 1 s on NGINX (reload), both ways, "
             "against Traefik's default 2 s provider throttle.")
DOC_NOTES = ("The join time includes the backend's own start (Python, about 100-200 ms here) and the 200 ms quiet "
             "period of watch's debouncer (each round's join follows a leave, so it is not part of a scale-up, "
             "whose later joins wait for 1 s without events). On the way out the stop signal's `kill` event is "
             "enough: HAProxy drains the member through the runtime API, NGINX reloads with it marked `down`; the "
             "member is deleted once it exited. \"failed\" counts requests that got no 200 while members joined "
             "and left (NGINX polls without keep-alive, so a reload fails none).")


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


def deploy(engine: str, runtime: str, pool: dict[str, Any], deployer: Any,
           tmp: Path) -> tuple[Path, str, Path, Callable[[], None]]:
    """The proxy: in a container on the lab network (ctlplane's docker runtime) or a local process on 127.0.0.1.
    Returns the model path, the target, the config file and a function that stops it."""
    name = "haproxy.cfg" if engine == "haproxy" else "nginx.conf"
    if runtime == "docker":
        service = {"name": "web", "mode": "http", "listen": {"port": 80}, "default_pool": "web"}
        lb = deployer.deploy(engine, pools=[pool], services=[service])
        return lb.model_path, lb.target(), lb.state_dir / "config" / name, deployer.teardown
    import json
    import shutil

    from common import free_port
    from integration.harness.localwatch import local_model, state_dir

    from ctlplane.drivers import driver_for
    from ctlplane.model.load import load_file

    state, port = state_dir(), free_port()
    model = tmp / "local" / "model.yaml"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_text(json.dumps(local_model(engine, port, pool, state), indent=2))

    def stop() -> None:
        try:
            driver_for(load_file(model), "lb").control.stop()
        finally:
            shutil.rmtree(state, ignore_errors=True)

    return model, f"127.0.0.1:{port}", state / "lb" / "config" / name, stop


def measure(engine: str, runtime: str, rounds: int, lab: Any, deployer: Any, tmp: Path) -> dict[str, list[float] | int]:
    from integration.harness.discovered import DockerWatching, Members
    from integration.harness.wait import wait_until

    group = Members(lab, f"bench{engine[0]}{runtime[0]}")
    joins: list[float] = []
    leaves: list[float] = []
    failed = 0
    try:
        group.create()  # stays: the pool is never empty
        model, target, config, stop = deploy(engine, runtime, group.pool(), deployer, tmp)
        try:
            with DockerWatching(model) as watch:
                watch.wait_cycles(1, timeout=60)
                for _ in range(rounds):
                    member = group.create(start=False, grace=GRACE)
                    started = time.monotonic()
                    member.container.start()
                    seen, lost = first_answer(target, member.name)
                    failed += lost
                    if seen is not None:
                        joins.append(seen - started)
                    settle(watch)
                    stopper = threading.Thread(target=member.container.stop, kwargs={"timeout": 30})
                    stopped = time.monotonic()
                    stopper.start()
                    last, lost = last_answer(target, member.name, stopped + GRACE - 0.5)
                    failed += lost
                    leaves.append(max(0.0, (last or stopped) - stopped))
                    stopper.join(40)
                    wait_until(lambda name=member.name: name not in config.read_text(), timeout=30,
                               what="the member deleted")
                    settle(watch)
        finally:
            stop()
    finally:
        group.remove()
    return {"joins": joins, "leaves": leaves, "failed": failed}


def ms(values: list[float], pct: float) -> str:
    found = percentile(values, pct)
    return "-" if found is None else f"{found * 1000:.0f}"


def verdicts(engine: str, target: int, joins: list[float], leaves: list[float]) -> list[str]:
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
    parser.add_argument("--runtimes", default="docker,local", help="where the proxy runs: docker, local or both")
    args = parser.parse_args()
    rounds = 3 if args.quick else max(1, min(args.rounds, 50))
    import tempfile

    from integration.harness import Deployer, start_lab, start_session

    # the load average before we start
    header = docs_header(f"python bench/discovery.py --rounds {rounds} --runtimes {args.runtimes}")
    rows, lines = [], []
    with cleanup_on_exit() as stack:
        session = start_session(progress=None)
        stack.callback(quietly(session.cleanup))
        lab = start_lab(session, "bench-disc", backends=(), clients=())
        stack.callback(quietly(lab.remove))
        for runtime in args.runtimes.split(","):
            for engine in ("haproxy", "nginx"):
                with tempfile.TemporaryDirectory() as tmp:
                    deployer = Deployer(lab, Path(tmp))
                    try:
                        found = measure(engine, runtime, rounds, lab, deployer, Path(tmp))
                    finally:
                        deployer.teardown()
                joins, leaves = found["joins"], found["leaves"]
                assert isinstance(joins, list) and isinstance(leaves, list)
                rows.append([engine, RUNTIMES[runtime], f"{len(joins)}/{rounds}", ms(joins, 50), ms(joins, 90),
                             ms(leaves, 50), ms(leaves, 90), found["failed"], f"{TARGETS_MS[engine]}"])
                lines += verdicts(f"{engine} ({runtime})", TARGETS_MS[engine], joins, leaves)
                print(f"{engine} ({runtime}): joins {[round(j * 1000) for j in joins]} ms, leaves "
                      f"{[round(v * 1000) for v in leaves]} ms", file=sys.stderr, flush=True)
    headers = ["engine", "proxy runs", "joined", "start -> first request p50 ms", "p90 ms",
               "stop -> last request p50 ms", "p90 ms", "failed", "target p50 ms"]
    import os

    lines.append(f"- 1-min load average at the end {os.getloadavg()[0]:.2f} (two shared cores: the machine's other "
                 "work shows in these times)")
    text = header + "\n\n" + table(headers, rows, True) + "\n\n" + "\n".join(lines)
    publish(text, HEADING, DOC_INTRO, DOC_NOTES, write_docs=args.write_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
