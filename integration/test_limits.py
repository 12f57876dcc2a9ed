"""Per-client limits on both engines: concurrent connections and request rate, keyed by source IP.

The engines implement them differently, so the assertions are bounds, not
exact counts:

* ``connections_per_client: 2`` -- NGINX ``limit_conn`` counts the client's
  connections that have a request in progress; HAProxy tracks every
  connection at accept (``sc_conn_cur``) and denies a request while the client
  has more than 2 open. Six slow simultaneous requests from one client: at
  most 2 are served, the rest get the model's status (429).
* ``requests_per_second: 5, burst: 0`` -- NGINX ``limit_req`` (leaky bucket,
  ``nodelay``): one request per 200 ms, no queue, so a burst passes about one
  request plus 5 per second it lasts; HAProxy counts ``http_req_rate(1s)``
  and denies when ``sc_http_req_rate(0) gt rate + burst``: about 5 per 1 s
  window. A fast burst of 30 therefore passes between 1 and ~5 x (its
  duration + 1 s) + 1, and the rest are 429. HAProxy counts the refused
  requests in the rate as well, so a client that keeps sending faster than
  the limit stays refused; NGINX's refusals do not use up the bucket.

In both tests the other client keeps being served: the limits are per client.
Traffic that must stay within the connection limit uses keep-alive: with a
new connection per request, a client at exactly the limit is sometimes
refused, because the proxy may accept its next connection (in another worker
or thread) a moment before it has counted the previous one as closed.
"""

from __future__ import annotations

import threading

from integration.harness import Deployer, Deployment, Lab, Request, Traffic, wait_until
from integration.harness.probe import fetch, hits


def deploy(deployer: Deployer, lab: Lab, engine: str, limits: dict[str, int]) -> Deployment:
    service = {"name": "web", "mode": "http", "listen": {"port": 80}, "default_pool": "app", "limits": limits}
    return deployer.deploy(engine, pools=[{"name": "app", "servers": lab.servers(["a"])}], services=[service])


def only(traffic: Traffic, allowed: set[int]) -> tuple[int, int]:
    """(served, refused with 429); nothing else may come back."""
    assert set(traffic.statuses()) <= allowed and traffic.unsent == 0, traffic.summary()
    return traffic.statuses()[200], traffic.statuses()[429]


def test_connections_per_client(engine: str, lab: Lab, deployer: Deployer) -> None:
    c1, c2 = lab.clients
    lb = deploy(deployer, lab, engine, {"connections_per_client": 2, "status": 429})
    slow = Request(lb.target(), "/slow?sleep_ms=1500")
    found: dict[str, Traffic] = {}
    sender = threading.Thread(target=lambda: found.update(c1=c1.load(slow, count=6, concurrency=6, keepalive=False)))
    sender.start()
    try:
        wait_until(lambda: hits(lab, "a") >= 1, timeout=5, what="c1's slow requests reached the backend")
        other = c2.load(Request(lb.target()), count=4, concurrency=2)  # c1 is at its limit now
    finally:
        sender.join(timeout=30)
    assert other.statuses() == {200: 4}, other.summary()
    served, refused = only(found["c1"], {200, 429})
    print(f"\n{engine}: 6 simultaneous slow requests, limit 2: {served} served, {refused} refused (429)")
    assert served <= 2 and refused >= 4, found["c1"].summary()
    assert hits(lab, "a") == served + 4  # every refusal came from the proxy, never the backend

    within = c1.load(Request(lb.target(), "/slow?sleep_ms=200"), count=6, concurrency=2)
    assert within.statuses() == {200: 6}, within.summary()  # two at a time is within the limit


def test_request_rate_per_client(engine: str, lab: Lab, deployer: Deployer) -> None:
    c1, c2 = lab.clients
    lb = deploy(deployer, lab, engine, {"requests_per_second": 5, "burst": 0, "status": 429})
    burst = c1.load(Request(lb.target()), count=30, concurrency=5)
    served, refused = only(burst, {200, 429})
    bound = int(5 * (burst.elapsed + 1)) + 1
    print(f"\n{engine}: burst of 30 in {burst.elapsed:.2f}s at 5 r/s, burst 0: {served} served (bound {bound}), "
          f"{refused} refused (429)")
    assert 1 <= served <= bound and served + refused == 30, burst.summary()
    assert hits(lab, "a") == served

    assert fetch(c2, lb.target()).status == 200  # c2 has its own budget
    # Poll slower than the limit: HAProxy counts refused requests in the rate too, so a client that keeps
    # sending faster than 5/s stays refused (NGINX refusals do not use up its bucket).
    wait_until(lambda: fetch(c1, lb.target()).status == 200, timeout=6, interval=0.5,
               what="c1 served again once its rate fell")
