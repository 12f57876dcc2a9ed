"""The group models of issue 13's capabilities (WebSocket, HTTP/2, gRPC), merged into ``groups.GROUPS``.

Same shape as the groups in ``groups``: a function of the lab's address book returning pools, services and
proxy fields.
"""

from __future__ import annotations

from collections.abc import Callable

from integration.parity.groups import Book, Group, http, pool
from integration.parity.groups_headers import header_by_header, header_ops
from integration.parity.groups_policies import policies, policy_header
from integration.parity.groups_auth import admin_auth, auth, auth_request
from integration.parity.groups_errors import error_headers, errors
from integration.parity.groups_proxy import proxy_in, proxy_out_tcp, proxy_out_v2
from integration.parity.groups_redirect import redirect_header, redirects
from integration.parity.groups_tls import client_certs, ocsp, upstream_tls

SHORT = {"client": "1s", "server": "1s", "keep_alive": "1s"}  # every HTTP timeout far below the idle period


def websocket(b: Book) -> Group:
    """Upgrades: one service whose HTTP timeouts are all 1s but whose tunnel timeout is 30s, one whose tunnel
    timeout (2s) is shorter than its HTTP ones (the defaults)."""
    return {
        "pools": [pool(b, "app", ["a"]), pool(b, "chat", ["b"]), pool(b, "app2", ["a"])],
        "services": [
            http("ws", 170, default_pool="app", routes=[{"path_prefix": "/ws/chat/", "pool": "chat"}],
                 timeouts={**SHORT, "tunnel": "30s"}),
            http("wsshort", 171, default_pool="app2", timeouts={"tunnel": "2s"}),
        ],
    }


GRPC_SERVICE = "/grpc.health.v1.Health/"


def _rpc(b: Book, name: str = "rpc", protocol: str = "grpc", port: int = 50051) -> dict[str, object]:
    """A pool of the lab's gRPC/h2c backend ``g`` (``integration/harness/grpc_lab.py``)."""
    return {"name": name, "protocol": protocol, "servers": [{"name": "g", "address": b["g"], "port": port}]}


def grpc(b: Book) -> Group:
    """gRPC beside plain HTTP on one TLS listener (HTTP/2 by ALPN): the health service's path to the gRPC pool."""
    cert = [{"cert": "certs/www.example.com.crt", "key": "certs/www.example.com.key"}]
    return {"pools": [pool(b, "app", ["a"]), _rpc(b)],
            "services": [{**http("grpcs", 8450, default_pool="app",
                                 routes=[{"path_prefix": GRPC_SERVICE, "pool": "rpc"}]),
                          "tls": {"certificates": cert}}]}


def grpc_plain(b: Book) -> Group:
    """gRPC on a plain listener (h2c from the client)."""
    return {"pools": [_rpc(b)], "services": [http("grpcplain", 176, default_pool="rpc")]}


def h2c(b: Book) -> Group:
    """A pool spoken to in HTTP/2 without TLS (prior knowledge): the backend answers with what it was spoken."""
    return {"pools": [_rpc(b, "h2", "h2c", 8082)], "services": [http("h2c", 177, default_pool="h2")]}


GROUPS_DAY2: dict[str, Callable[[Book], Group]] = {"websocket": websocket, "grpc": grpc, "grpc_plain": grpc_plain,
                                                    "h2c": h2c, "upstream_tls": upstream_tls,
                                                    "client_certs": client_certs, "proxy_in": proxy_in,
                                                    "proxy_out_tcp": proxy_out_tcp, "proxy_out_v2": proxy_out_v2,
                                                    "redirects": redirects, "redirect_header": redirect_header,
                                                    "header_ops": header_ops, "header_by_header": header_by_header,
                                                    "auth": auth, "auth_request": auth_request,
                                                    "admin_auth": admin_auth, "errors": errors,
                                                    "error_headers": error_headers,
                                                    "policies": policies, "policy_header": policy_header,
                                                    "ocsp": ocsp}
