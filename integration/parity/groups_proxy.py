"""The group models of the PROXY protocol (issue 13 item 4), merged into ``groups.GROUPS`` through
``groups_day2``. ``q`` is the lab's PROXY backend (``integration/harness/proxy_lab.py``): 8080 HTTP and 9000
TCP, both expecting a PROXY header and reporting the address it named."""

from __future__ import annotations

from typing import Any

from integration.parity.groups import Book, Group, http, pool


def _q(b: Book, name: str, port: int, version: str) -> dict[str, Any]:
    return {"name": name, "servers": [{"name": "q", "address": b["q"], "port": port}],
            "send_proxy_protocol": version}


def proxy_in(b: Book) -> Group:
    """Listeners behind a balancer sending the PROXY protocol: HTTP (with a deny list, and one with a rate
    limit, to show they apply to the claimed client) and TCP (passing the client on to the PROXY backend)."""
    listen = {"accept_proxy_protocol": True}
    return {"pools": [pool(b, "app", ["a"]), _q(b, "qtcp", 9000, "v1")],
            "services": [{**http("pin", 181, default_pool="app", access={"deny": ["203.0.113.0/24"]}),
                          "listen": {"port": 181, **listen}},
                         {"name": "pintcp", "mode": "tcp", "listen": {"port": 182, **listen}, "pool": "qtcp"},
                         {**http("pinlim", 183, default_pool="app", limits={"requests_per_second": 1, "burst": 0}),
                          "listen": {"port": 183, **listen}}]}


def proxy_out_tcp(b: Book) -> Group:
    """A TCP service sending PROXY v1 to its servers."""
    return {"pools": [_q(b, "qv1", 9000, "v1")],
            "services": [{"name": "pouttcp", "mode": "tcp", "listen": {"port": 184}, "pool": "qv1"}]}


def proxy_out_v2(b: Book) -> Group:
    """PROXY v2 to servers, from a TCP and from an HTTP service (NGINX refuses both)."""
    return {"pools": [_q(b, "qv2", 9000, "v2"), _q(b, "qhttp", 8080, "v2")],
            "services": [{"name": "poutv2", "mode": "tcp", "listen": {"port": 185}, "pool": "qv2"},
                         http("pouthttp", 186, default_pool="qhttp")]}
