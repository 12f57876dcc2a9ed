"""Response caching on both engines: a cache hit never reaches the backend.

One proxy in front of backend ``a`` with ``cache`` on. The echo answers
``/cacheable...`` with ``Cache-Control: public, max-age=60``, so both
engines consider it cacheable (HAProxy stores only such responses). The
backend's hit counter (``/_ctl/hits``, read directly) says how many requests
got through (neither engine tells the client: NGINX's X-Cache-Status is not
sent, as HAProxy sends no such header).
Expiry differs by engine and is pinned here: HAProxy caps the response's own
max-age with the model's ``valid`` (its ``max-age``), NGINX lets the
response's Cache-Control win over ``valid`` (``proxy_cache_valid`` only applies
to responses without caching headers).
"""

from __future__ import annotations

import time

from integration.harness import Deployer, Deployment, Lab, wait_until
from integration.harness.probe import Fetched, fetch, hits


def deploy(deployer: Deployer, lab: Lab, engine: str, cache: dict[str, object]) -> Deployment:
    service = {"name": "web", "mode": "http", "listen": {"port": 80}, "default_pool": "app", "cache": cache}
    return deployer.deploy(engine, pools=[{"name": "app", "servers": lab.servers(["a"])}], services=[service])


def get(lab: Lab, lb: Deployment, path: str, host: str = "www.example.com") -> Fetched:
    answer = fetch(lab.client, lb.target(), path, {"Host": host})
    assert answer.status == 200 and answer.headers.get("x-server") == "a", (answer.status, answer.headers)
    return answer


def test_second_request_is_a_cache_hit(engine: str, lab: Lab, deployer: Deployer) -> None:
    lb = deploy(deployer, lab, engine, {})
    first, second = get(lab, lb, "/cacheable/x"), get(lab, lb, "/cacheable/x")
    assert hits(lab, "a") == 1  # the second answer came from the cache
    assert second.body == first.body  # byte for byte the stored answer (it carries the backend's hit count 1)
    assert "x-cache-status" not in second.headers
    if engine == "haproxy":  # HAProxy adds Age to answers from its cache
        assert "age" in second.headers and "age" not in first.headers, (first.headers, second.headers)

    get(lab, lb, "/cacheable/y")  # another URI: its own entry
    get(lab, lb, "/cacheable/x", host="other.example.com")  # key host_uri: another host, its own entry
    assert hits(lab, "a") == 3
    for _ in range(3):
        get(lab, lb, "/cacheable/y")
        get(lab, lb, "/cacheable/x", host="other.example.com")
    assert hits(lab, "a") == 3


def test_expiry_follows_the_engine(engine: str, lab: Lab, deployer: Deployer) -> None:
    lb = deploy(deployer, lab, engine, {"valid": "1s"})
    get(lab, lb, "/cacheable/z")
    stored = time.monotonic()
    assert hits(lab, "a") == 1
    if engine == "haproxy":  # max-age 1 s caps the response's max-age=60: fetched again once it expired
        wait_until(lambda: get(lab, lb, "/cacheable/z") and hits(lab, "a") == 2, timeout=5, what="cache entry expired")
        expired = time.monotonic() - stored
        # HAProxy keeps expiry dates in whole seconds: a 1 s entry ends at the next second boundary or the one
        # after, i.e. after 0 to 2 s (seen: 0.3 to 1.9 s); never after the response's own 60 s.
        print(f"\nhaproxy: valid=1s entry refetched after {expired:.2f}s")
        assert expired <= 4, expired
    else:  # the response's Cache-Control max-age=60 wins over proxy_cache_valid 1s
        time.sleep(2.0)  # proving that nothing happens needs the time to pass
        get(lab, lb, "/cacheable/z")
        assert hits(lab, "a") == 1  # still served from the cache
