"""Host, path and header routes reach the right pools, on both engines.

One pool per echo backend makes the answering backend name the pool that
was chosen. The routes exercise the one precedence both engines share:
longest path prefix, then exact host before wildcard host before any host,
then a header match before none, else the default pool.
"""

from __future__ import annotations

from integration.harness import Deployer, Lab, Request

ROUTES = [
    {"host": "api.example.com", "pool": "pool_b"},
    {"host": "*.example.org", "pool": "pool_c"},
    {"path_prefix": "/images/", "pool": "pool_c"},
    {"host": "api.example.com", "path_prefix": "/v2/", "pool": "pool_a"},
    {"header": {"name": "X-Canary", "value": "yes"}, "pool": "pool_b"},
]

# (host, path, extra headers) -> backend that must answer
CASES = [
    ("www.example.com", "/", {}, "a"),                         # no route: default pool
    ("api.example.com", "/", {}, "b"),                         # exact host
    ("api.example.com", "/v2/items", {}, "a"),                 # host + longer prefix
    ("www.example.com", "/v2/items", {}, "a"),                 # /v2/ only on api: default
    ("shop.example.org", "/", {}, "c"),                        # wildcard host
    ("www.example.com", "/images/x.png", {}, "c"),             # path prefix, any host
    ("api.example.com", "/images/x.png", {}, "c"),             # longest prefix beats the exact host on /
    ("www.example.com", "/", {"X-Canary": "yes"}, "b"),        # header route
    ("www.example.com", "/", {"X-Canary": "no"}, "a"),         # header value must match exactly
    ("www.example.com", "/images/a", {"X-Canary": "yes"}, "c"),  # longer prefix beats the header route on /
]


def test_routes_reach_their_pools(engine: str, lab: Lab, deployer: Deployer) -> None:
    pools = [{"name": f"pool_{n}", "servers": lab.servers([n])} for n in "abc"]
    service = {"name": "web", "mode": "http", "listen": {"port": 80}, "routes": ROUTES, "default_pool": "pool_a"}
    lb = deployer.deploy(engine, pools=pools, services=[service])
    shapes = [Request(lb.target(), path, {"Host": host, **headers}) for host, path, headers, _ in CASES]
    traffic = lab.client.load(shapes, count=5 * len(shapes), concurrency=4)
    assert traffic.statuses() == {200: 5 * len(shapes)}, traffic.summary()
    served = traffic.servers_by_request()
    wrong = {f"{host}{path} {headers}": (sorted(served[i]), want)
             for i, (host, path, headers, want) in enumerate(CASES) if served[i] != {want}}
    assert not wrong, f"(got, want) per request: {wrong}"
