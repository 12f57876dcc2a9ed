"""Reloads and runtime changes under steady keep-alive traffic: what clients see.

Client ``c1`` keeps 2 keep-alive connections busy (no client-side retry, so
nothing is hidden) while the model is applied 20 times:

* ``test_reloads``: every apply toggles ``X-Debug`` in
  ``hide_response_headers``, which needs a reload on both engines. HAProxy
  loses nothing (seamless reload with the listeners passed to the new
  process; ``option idle-close-on-response`` makes the old one answer a last
  request on each idle connection with ``Connection: close``). NGINX closes
  the idle keep-alive connections of its old workers at once: a request
  written into one at that moment fails (reset or empty reply) -- the known
  keep-alive race, which a client handles by retrying on a new connection.
  Its count is printed and recorded (``record_property``); the test only
  asserts that every failure is of that kind: on a reused connection, with
  the connection closed or reset.
* ``test_weight_changes``: every apply toggles backend ``b``'s weight. HAProxy
  takes it through the runtime API (no reload: same worker PIDs) and loses
  nothing; NGINX has no runtime API, so each is a reload, judged as above.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from integration.harness import Deployer, Deployment, Lab, Request, Traffic, wait_until
from integration.harness.background import Background
from integration.harness.probe import hits
from integration.harness.proxyinfo import generation

APPLIES = 20
CONCURRENCY = 2
RACE = re.compile(r"^reused connection: (RemoteDisconnected|ConnectionResetError|BrokenPipeError|BadStatusLine)\b")
SERVICE = {"name": "web", "mode": "http", "listen": {"port": 80}, "default_pool": "app"}


def deploy(deployer: Deployer, lab: Lab, engine: str) -> Deployment:
    return deployer.deploy(engine, pools=[{"name": "app", "servers": lab.servers(["a", "b"])}], services=[SERVICE],
                           workers=2)


@dataclass
class Run:
    traffic: Traffic
    results: list[Any]  # one ApplyResult per apply
    seconds: float  # wall time of all applies (validation included)

    @property
    def outcomes(self) -> list[str]:
        return [r.outcome for r in self.results]


def under_load(lab: Lab, lb: Deployment, change: Callable[[int], list[Any]]) -> Run:
    """Apply ``change(i)`` APPLIES times while c1 sends keep-alive traffic."""
    results: list[Any] = []
    with Background(lab.clients[0], Request(lb.target()), concurrency=CONCURRENCY, keepalive=True, retry=False,
                    chunk=2.0, limit=120) as traffic:
        wait_until(lambda: hits(lab, "a") + hits(lab, "b") >= 100, timeout=10, what="traffic flows")
        started = time.monotonic()
        for i in range(APPLIES):
            results += change(i)
        seconds = time.monotonic() - started
        found = traffic.stop()
    return Run(found, results, seconds)


def report(engine: str, what: str, run: Run, record_property: Any) -> None:
    failed = run.traffic.failures()
    kinds = Counter(": ".join(r.server.split(": ")[:2]) for r in failed)  # "reused connection: RemoteDisconnected"
    switching = sum(r.seconds for r in run.results) / APPLIES
    print(f"\n{engine}: {APPLIES} {what} under keep-alive load ({CONCURRENCY} connections): "
          f"{len(run.traffic.results)} requests, {len(failed)} failed {dict(kinds)}; per apply "
          f"{run.seconds / APPLIES:.2f}s, of which reload/runtime {switching:.2f}s")
    record_property("requests", len(run.traffic.results))
    record_property("failed", len(failed))
    record_property("seconds_per_apply", round(run.seconds / APPLIES, 3))


def assert_no_failures_but_the_race(engine: str, found: Traffic) -> None:
    assert set(found.statuses()) <= {200, -1}, found.summary()
    if engine == "haproxy":
        assert not found.failures(), found.summary()
    else:
        other = [r.server for r in found.failures() if not RACE.match(r.server)]
        assert not other, other[:5]


def test_reloads(engine: str, lab: Lab, deployer: Deployer, record_property: Any) -> None:
    lb = deploy(deployer, lab, engine)
    before = generation(lb)

    def toggle(i: int) -> list[Any]:
        hidden = ["X-Trace"] if i % 2 == 0 else ["X-Trace", "X-Debug"]
        return lb.update(services=[{**SERVICE, "hide_response_headers": hidden}])

    run = under_load(lab, lb, toggle)
    report(engine, "reloads", run, record_property)
    assert run.outcomes == ["reloaded"] * APPLIES, run.outcomes
    after = generation(lb)
    assert after.master == before.master and not after.workers & before.workers, (before, after)
    assert_no_failures_but_the_race(engine, run.traffic)
    assert run.traffic.counts()["a"] > 0 and run.traffic.counts()["b"] > 0, run.traffic.summary()


def test_weight_changes(engine: str, lab: Lab, deployer: Deployer, record_property: Any) -> None:
    lb = deploy(deployer, lab, engine)
    before = generation(lb)

    def reweigh(i: int) -> list[Any]:
        return lb.update(pools=[{"name": "app", "servers": lab.servers(["a", "b"],
                                                                        fields={"b": {"weight": 2 + i % 2}})}])

    run = under_load(lab, lb, reweigh)
    report(engine, "weight changes", run, record_property)
    after = generation(lb)
    if engine == "haproxy":
        assert run.outcomes == ["runtime"] * APPLIES, run.outcomes
        assert after == before, (before, after)  # no reload: the same worker processes
    else:
        assert run.outcomes == ["reloaded"] * APPLIES, run.outcomes
        assert after.master == before.master and not after.workers & before.workers, (before, after)
    assert_no_failures_but_the_race(engine, run.traffic)
