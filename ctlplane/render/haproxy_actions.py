"""HAProxy's side of the route actions (``model/actions.py``): redirect, respond and rewrite.

A service with route actions picks its route once: ``http-request set-var(
txn.ctl_route) int(<index>)`` for every route in reverse precedence order
(the last match wins, so the most specific route decides, as first-match
``use_backend`` would), and every rule of a route, its ``use_backend``
included, reads that variable. The picks, redirects and literal answers
come after the client address, the client certificate and the body limit
and before limits and access lists, as NGINX's rewrite phase (see
``templates/haproxy/_access.j2``). A rewrite is a ``set-path`` after
``cache-use`` (the cache is keyed on the request as sent, as NGINX's
``$request_uri``), and the access log's path is saved again after it (NGINX
logs the rewritten ``$uri``).

No regex takes model text here: the rest of a path after a route's prefix is
``path,bytes(<prefix length>)``, its leading ``/`` and ``\\`` dropped after a new
prefix ending in ``/`` (``/old//evil.com`` to ``/`` is ``/evil.com``, never the
other host ``//evil.com``); the query string with its ``?`` is
``pathq,regsub(^[^?]*,)`` (NGINX captures the same from ``$request_uri``).
Host names and path prefixes go into these log-format strings as typed
values, checked again here (no ``%``, quote, backslash or space), and the
whole string through ``hq``; a respond body is a plain ``string`` (no
log-format).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from ctlplane.errors import Finding, RenderError
from ctlplane.model.actions import Redirect, Rewrite
from ctlplane.model.routing import ordered_routes
from ctlplane.model.service import HttpService

ROUTE_VAR = "txn.ctl_route"
_SCHEME = "%[ssl_fc,iif(https,http)]"
_QUERY = "%[pathq,regsub(^[^?]*,)]"
_SAFE = re.compile(r"[A-Za-z0-9._~/-]+")  # host names and path prefixes: nothing a log-format interprets
# Drops the leading '/' and '\' of the rest of a path. The log-format's argument parser turns each '\\' into
# '\', so the regex is ^[/\\]+ (a slash or an escaped backslash). After a new prefix ending in '/', '//evil.com'
# and '/\evil.com' would otherwise give '//evil.com' or '/\evil.com', which a browser reads as another host.
_LEAD_SLASHES = r",regsub(^[/\\\\]+,)"


@dataclass(frozen=True)
class Pick:
    """``set-var(txn.ctl_route) int(index) if <conditions>`` (haproxy_frontend.Condition objects)."""

    index: int
    conditions: tuple[object, ...]


@dataclass(frozen=True)
class Answer:
    """A redirect (``location``, a log-format printed with ``hq``) or a literal answer of route ``index``."""

    index: int
    kind: str  # redirect | return
    status: int
    location: str = ""
    content_type: str = ""
    body: str = ""


@dataclass(frozen=True)
class PathRewrite:
    """``http-request set-path <fmt>`` (printed with ``hq``) for route ``index``."""

    index: int
    fmt: str


class Actions(NamedTuple):
    answers: tuple[Answer, ...]
    rewrites: tuple[PathRewrite, ...]


def route_picks(svc: HttpService, conditions: Mapping[int, tuple[object, ...]]) -> tuple[Pick, ...]:
    """The one route pick of a service (every route in reverse precedence order, the most specific match
    written last): what its route actions, route headers and ``use_backend`` lines read."""
    return tuple(Pick(svc.routes.index(r), conditions[svc.routes.index(r)]) for r in reversed(ordered_routes(svc)))


def has_actions(svc: HttpService) -> bool:
    return any(r.redirect or r.respond or r.rewrite for r in svc.routes)


def route_actions(svc: HttpService, conditions: Mapping[int, tuple[object, ...]]) -> Actions | None:
    """The actions of a service with route actions (None without: routing stays as it was); they read the
    service's route pick (:func:`route_picks`). ``conditions``: each route's HAProxy conditions, by model index."""
    if not has_actions(svc):
        return None
    order = [svc.routes.index(r) for r in ordered_routes(svc)]
    answers: list[Answer] = []
    rewrites: list[PathRewrite] = []
    for j in order:
        route = svc.routes[j]
        if route.redirect is not None:
            answers.append(Answer(j, "redirect", route.redirect.status,
                                  location=_location(route.path_prefix, route.redirect)))
        elif route.respond is not None:
            answers.append(Answer(j, "return", route.respond.status, content_type=route.respond.content_type,
                                  body=route.respond.body))
        elif route.rewrite is not None:
            rewrites.append(PathRewrite(j, _set_path(route.path_prefix, route.rewrite)))
    return Actions(tuple(answers), tuple(rewrites))


def _safe(value: str) -> str:
    if not _SAFE.fullmatch(value):
        raise RenderError("refusing to print a value into haproxy config",
                          [Finding(f"not a host name or path prefix: {value!r}", source="haproxy")])
    return value


def _location(prefix: str, r: Redirect) -> str:
    lead = f"{_SCHEME}://{_safe(r.to_host)}" if r.to_host else ""
    query = _QUERY if r.keep_query else ""
    if r.to_path is not None:
        return lead + _safe(r.to_path) + query
    if r.to_path_prefix is not None:
        return lead + _safe(r.to_path_prefix) + _rest(prefix, r.to_path_prefix) + query
    return lead + ("%[pathq]" if r.keep_query else "%[path]")


def _rest(prefix: str, new_prefix: str) -> str:
    """What follows the route's ``prefix`` in the raw path, its leading slashes and backslashes dropped when
    ``new_prefix`` ends in '/' (a plain rest has none: it is unchanged)."""
    return f"%[path,bytes({len(prefix)}){_LEAD_SLASHES if new_prefix.endswith('/') else ''}]"


def _set_path(prefix: str, r: Rewrite) -> str:
    """Strip: what follows the prefix, its leading slashes and backslashes dropped, after a '/'; replace: the
    new prefix first (the same drop after a new prefix ending in '/')."""
    if r.strip_prefix:
        return "/" + _rest(prefix, "/")
    assert r.replace_prefix is not None
    return _safe(r.replace_prefix) + _rest(prefix, r.replace_prefix)
