"""HAProxy authentication of one frontend: ``userlist`` sections and ``http-request auth`` rules.

Each htpasswd file becomes a ``userlist ul_<digest>`` (``auth_names``) of ``user NAME password HASH`` lines:
HAProxy verifies them with crypt(3), as NGINX does (``model/htpasswd.py`` keeps only the hashes both
verify). haproxy.cfg then holds the hashes and is written 0600 (``haproxy``): only the master reads it.

Which auth applies is the routing's decision (``routing.effective_auth``), set in the variable
``txn.ctl_auth`` (the number of the auth, 0 for none) by rules in reverse matching order, as the body limit:
the default pool's first (when the service has one), then every route, least specific first, so the most
specific matching route sets it last. A request no route and no default pool serves sets nothing and gets its
404 without authentication, as on NGINX, whose 404 answers before the access phase. A service whose routes have
no auth of their own and that has a default pool needs no variable: one rule asks every request. The rules run
after the access lists and limits (NGINX's access phase follows them; a refused address gets 403 with or
without credentials); ``http-request auth`` answers 401 with ``WWW-Authenticate: Basic realm="<realm>"``.
Then the Authorization header is removed unless the auth forwards it; a frontend with a cache first marks a
request carrying Authorization as not cacheable (``txn.ctl_no_cache``), since once the header is removed
HAProxy's own rule could no longer see it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from ctlplane.model.auth import AdminAuth, Auth
from ctlplane.model.routing import effective_auth, ordered_routes
from ctlplane.model.service import HttpService, TcpService
from ctlplane.render.auth_names import userlist


class AuthCheck(NamedTuple):
    """``http-request auth realm <realm>`` (hq) unless the credentials are in ``userlist``; ``number``: the
    value of ``txn.ctl_auth`` it answers to."""

    number: int
    realm: str
    userlist: str
    strip: bool  # del-header Authorization after the check


class AuthRules(NamedTuple):
    selects: tuple[tuple[int, tuple[object, ...]], ...]  # (auth number, route conditions) in rule order
    checks: tuple[AuthCheck, ...]
    no_cache: bool


class UserList(NamedTuple):
    name: str
    users: tuple[tuple[str, str], ...]  # (user, hash): model/htpasswd.py patterns, printed as they are


def auth_rules(svc: HttpService | TcpService, conditions: Mapping[int, tuple[object, ...]]) -> AuthRules | None:
    """The auth rules of a service (None without any auth); ``conditions``: each route's, by model index."""
    if not isinstance(svc, HttpService):
        return None
    default = svc.auth if svc.default_pool is not None else None
    order = ordered_routes(svc)
    served = [effective_auth(svc, r) for r in order]
    if default is None and not any(served):
        return None
    numbers: dict[Auth, int] = {}
    for auth in (default, *reversed(served)):
        if auth is not None:
            numbers.setdefault(auth, len(numbers) + 1)
    checks = tuple(AuthCheck(n, a.basic_realm, userlist(a.htpasswd), not a.forward_authorization)
                   for a, n in numbers.items() if a.htpasswd is not None)
    no_cache = svc.cache is not None
    if default is not None and all(r.auth is None for r in svc.routes):
        return AuthRules((), checks, no_cache)
    selects: list[tuple[int, tuple[object, ...]]] = [(numbers[default], ())] if default is not None else []
    for route, auth in zip(reversed(order), reversed(served), strict=True):
        selects.append((numbers[auth] if auth is not None else 0, conditions[svc.routes.index(route)]))
    return AuthRules(tuple(selects), checks, no_cache)


def listener_check(auth: AdminAuth | None) -> AuthCheck | None:
    """The check of an admin or metrics listener."""
    return AuthCheck(1, auth.realm, userlist(auth.htpasswd), False) if auth else None


def userlists(paths: tuple[str, ...], users: dict[str, tuple[tuple[str, str], ...]]) -> tuple[UserList, ...]:
    return tuple(UserList(userlist(p), users[p]) for p in paths)
