"""The group models of authentication (issue 13 item 7), merged into ``groups.GROUPS`` through ``groups_day2``.
The htpasswd file they name is written by ``groups.prepare`` (``auth_lab.write_htpasswd``): one user per
accepted hash type (``auth_users``)."""

from __future__ import annotations

from typing import Any

from integration.parity.groups import Book, Group, http, pool

FILE = "auth/users.htpasswd"
REALM = "Lab realm"


def auth(b: Book) -> Group:
    """Basic auth on a whole service, on one route only, and one that forwards Authorization."""
    basic = {"htpasswd": FILE, "realm": REALM}
    return {"pools": [pool(b, "app", ["a"])],
            "services": [http("authall", 230, default_pool="app", auth=basic),
                         http("authroute", 231, default_pool="app",
                              routes=[{"path_prefix": "/private/", "pool": "app", "auth": basic}]),
                         http("authfwd", 232, default_pool="app", auth={**basic, "forward_authorization": True})]}


def auth_request(b: Book) -> Group:
    """A route asking an authorization service (backend c's /authz: its fail mode makes it answer 401)."""
    ask: dict[str, Any] = {"request": {"pool": "authz", "path": "/authz"}}
    return {"pools": [pool(b, "app", ["a"]), pool(b, "authz", ["c"])],
            "services": [http("authreq", 233, default_pool="app",
                              routes=[{"path_prefix": "/sso/", "pool": "app", "auth": ask}])]}


def admin_auth(b: Book) -> Group:
    """The admin and metrics listeners beyond loopback, with basic auth."""
    basic = {"htpasswd": FILE, "realm": "Ops"}
    return {"pools": [pool(b, "app", ["a"])], "services": [http("web", 234, default_pool="app")],
            "proxy": {"admin": {"address": "0.0.0.0", "port": 8404, "auth": basic},
                      "metrics": {"address": "0.0.0.0", "port": 9100, "auth": basic}}}
