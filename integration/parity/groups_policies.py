"""The group models of per-route policies (issue 13 item 9), merged into ``groups.GROUPS`` through
``groups_day2``: a service whose routes have their own limits, timeouts and access lists, one with a cache
a route turns off, one whose route has a shorter tunnel, and a header route whose policy differs from its
location's (NGINX refuses it)."""

from __future__ import annotations

from integration.parity.groups import Book, Group, http, pool


def policies(b: Book) -> Group:
    """/login: 1 request/s, burst 0, status 503 (the service: 20/s); /conn/: 1 request in progress (the
    service: 10); /slow/: server timeout 1s (the service: 60s); /admin/: c1 denied (the service denies c2)."""
    routes = [
        {"path_prefix": "/login", "pool": "app", "limits": {"requests_per_second": 1, "burst": 0, "status": 503}},
        {"path_prefix": "/conn/", "pool": "app", "limits": {"connections_per_client": 1}},
        {"path_prefix": "/slow/", "pool": "app", "timeouts": {"server": "1s"}},
        {"path_prefix": "/admin/", "pool": "app", "access": {"deny": [f"{b['c1']}/32"]}},
    ]
    return {"pools": [pool(b, "app", ["a"]), pool(b, "cached", ["a"]), pool(b, "wsapp", ["a"])],
            "services": [
                http("policies", 250, default_pool="app", routes=routes, access={"deny": [f"{b['c2']}/32"]},
                     limits={"requests_per_second": 20, "connections_per_client": 10}),
                http("policycache", 251, default_pool="cached", cache={},
                     routes=[{"path_prefix": "/live/", "pool": "cached", "cache": False}]),
                http("policyws", 252, default_pool="wsapp",
                     routes=[{"path_prefix": "/ws/short/", "pool": "wsapp", "timeouts": {"tunnel": "2s"}}])]}


def policy_header(b: Book) -> Group:
    """A header route with an access list of its own, falling back to a route of the same prefix without one."""
    return {"pools": [pool(b, "app", ["a"])],
            "services": [http("policyhdr", 253, routes=[
                {"path_prefix": "/beta/", "header": {"name": "X-Beta", "value": "1"}, "pool": "app",
                 "access": {"deny": [f"{b['c1']}/32"]}},
                {"path_prefix": "/beta/", "pool": "app"}])]}
