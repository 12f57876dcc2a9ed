"""Health checks on both engines: a dead server is taken out and comes back, backups, drain (HAProxy; refused on NGINX).

A backend is "stopped" by killing its container: its address then drops
packets like a dead host, so connecting times out (the service's connect
timeout is 1 s) instead of being refused. HAProxy finds it with active HTTP
checks on ``/healthz`` (every 1 s, down after 2 failures, up after 1
success). NGINX open source has no active checks (the model refuses them):
passive checks take a server out for 5 s after one failed request, and the
service's retries send that request to another server, so clients see no
error. "Detected" means a probe of 30 requests is answered completely and
none of them waited for a connect to the dead server (each took < 0.8 s).
Afterwards HAProxy sends nothing to a dead server; NGINX's passive check
tries it again once per window (5 s), so a load after detection may contain
one such request per dead server (answered by another server all the same).
A steady load from the other client across the stop and the detection
window must see no error on either engine (retries cover it).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ctlplane.errors import ModelError
from integration.harness import Deployer, Deployment, Lab, Request, Traffic
from integration.harness.health import stopped, timed_wait

ACTIVE = {"active": {"type": "http", "path": "/healthz", "interval": "1s", "rise": 1, "fall": 2}}
PASSIVE = {"passive": {"max_fails": 1, "window": "5s"}}
HEALTH = {"haproxy": ACTIVE, "nginx": PASSIVE}
SERVICE = {"name": "web", "mode": "http", "listen": {"port": 80}, "default_pool": "app",
           "timeouts": {"connect": "1s"}, "retries": {"attempts": 2}}
SLOW_MS = 800  # a request that tried the dead server waited for the 1 s connect timeout
RETRIED_PER_DEAD_SERVER = {"haproxy": 0, "nginx": 1}  # in a load shorter than the passive window
NGINX_NO_ACTIVE = "active health checks are not in NGINX open source"


def deploy(deployer: Deployer, lab: Lab, engine: str, fields: dict[str, dict[str, Any]] | None = None,
           **pool_fields: Any) -> Deployment:
    pool = {"name": "app", "servers": lab.servers(fields=fields), "health": HEALTH[engine], **pool_fields}
    return deployer.deploy(engine, pools=[pool], services=[SERVICE], workers=2)


def probe(lab: Lab, lb: Deployment, count: int = 30) -> Traffic:
    return lab.client.load(Request(lb.target()), count=count, concurrency=3, timeout=5)


def clean(traffic: Traffic, count: int) -> bool:
    """Every request answered 200 and none of them tried a dead server first."""
    return traffic.statuses() == {200: count} and not tried_dead(traffic)


def tried_dead(traffic: Traffic) -> int:
    """How many requests waited for a connect to a dead server before another server answered."""
    return sum(1 for r in traffic.results if r.ms >= SLOW_MS)


def test_stopped_server_is_taken_out_and_comes_back(engine: str, lab: Lab, deployer: Deployer) -> None:
    if engine == "nginx":  # the active check HAProxy uses is refused: passive checks instead
        with pytest.raises(ModelError, match=NGINX_NO_ACTIVE):
            deployer.deploy(engine, pools=[{"name": "app", "servers": lab.servers(), "health": ACTIVE}],
                            services=[SERVICE])
    lb = deploy(deployer, lab, engine)
    assert set(probe(lab, lb).counts()) == {"a", "b", "c"}

    with ThreadPoolExecutor(1) as pool:  # steady load from the other client while b dies
        loading = pool.submit(lab.clients[1].load, Request(lb.target()), count=4000, concurrency=2, timeout=5,
                              deadline=4)
        with stopped(lab.backends["b"]):
            _, detected = timed_wait(lambda: clean(probe(lab, lb), 30), timeout=15, what="b taken out")
            after = probe(lab, lb, count=300)
            assert after.statuses() == {200: 300} and set(after.counts()) == {"a", "c"}, after.summary()
            assert tried_dead(after) <= RETRIED_PER_DEAD_SERVER[engine], after.summary()  # b gets no requests
            during = loading.result()
        _, back = timed_wait(lambda: "b" in probe(lab, lb).counts(), timeout=15, what="b serving again")
    final = probe(lab, lb, count=90)
    assert final.statuses() == {200: 90} and set(final.counts()) == {"a", "b", "c"}, final.summary()
    print(f"\n{engine}: stopped b detected in {detected:.2f}s, back in {back:.2f}s; load across the stop: "
          f"{during.summary()}, slowest {max(r.ms for r in during.results):.0f} ms")
    assert not during.failures(), during.summary()


def test_backup_serves_only_when_every_primary_is_down(engine: str, lab: Lab, deployer: Deployer) -> None:
    lb = deploy(deployer, lab, engine, fields={"c": {"backup": True}})
    before = probe(lab, lb, count=60)
    assert before.statuses() == {200: 60} and set(before.counts()) == {"a", "b"}, before.summary()

    with stopped(lab.backends["a"]):
        _, one = timed_wait(lambda: clean(probe(lab, lb), 30), timeout=15, what="a taken out")
        one_left = probe(lab, lb, count=60)  # one primary left: still no backup
        assert one_left.statuses() == {200: 60} and set(one_left.counts()) == {"b"}, one_left.summary()
        with stopped(lab.backends["b"]):
            _, both = timed_wait(lambda: clean(probe(lab, lb), 30), timeout=15, what="b taken out too")
            down = probe(lab, lb, count=100)
            assert down.statuses() == {200: 100} and set(down.counts()) == {"c"}, down.summary()
            assert tried_dead(down) <= 2 * RETRIED_PER_DEAD_SERVER[engine], down.summary()
    _, back = timed_wait(lambda: set(probe(lab, lb).counts()) == {"a", "b"}, timeout=15, what="primaries back")
    print(f"\n{engine}: a down -> b alone after {one:.2f}s; b down too -> backup c after {both:.2f}s; "
          f"primaries back (c idle again) after {back:.2f}s")


def test_drained_server_gets_no_new_sessions(engine: str, lab: Lab, deployer: Deployer) -> None:
    persistence = {"type": "cookie", "cookie": "SRV"}
    lb = deploy(deployer, lab, engine, persistence=persistence)
    sticky_b = None
    for _ in range(30):  # a client that got stuck to b while it was active
        answer = lab.client.get(lb.target())
        if answer["headers"].get("x-server") == "b":
            sticky_b = answer["headers"]["set-cookie"].split(";", 1)[0]
            break
    assert sticky_b, "no first visit reached b"

    drained = {"name": "app", "servers": lab.servers(fields={"b": {"state": "drain"}}), "health": HEALTH[engine],
               "persistence": persistence}
    if engine == "nginx":  # no graceful drain in NGINX open source: refused, located, with the alternative
        with pytest.raises(ModelError) as caught:
            lb.update(pools=[drained])
        assert "NGINX open source has no graceful drain" in str(caught.value) and "state: disabled" in str(caught.value)
        return
    lb.update(pools=[drained])
    new = lab.client.load(Request(lb.target()), count=150, concurrency=4)
    assert new.statuses() == {200: 150} and set(new.counts()) == {"a", "c"}, new.summary()
    stuck = lab.client.load(Request(lb.target(), headers={"Cookie": sticky_b}), count=30, concurrency=2)
    assert stuck.statuses() == {200: 30}, stuck.summary()
    assert stuck.counts() == {"b": 30}, stuck.counts()  # weight 0: clients already stuck to b keep reaching it
    print(f"\n{engine}: new sessions {dict(new.counts())}, client stuck to b -> {dict(stuck.counts())}")
