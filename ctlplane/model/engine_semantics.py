"""Where NGINX open source would behave differently from HAProxy for the same model, refused.

ctlplane promises one behaviour per model whichever engine renders it; the
parity suite (``integration/test_parity.py``) proves it with traffic. The
settings below have no NGINX open-source equivalent of HAProxy's behaviour, so
instead of a silently different meaning they are refused, located, with what
to use instead: a graceful ``drain`` (NGINX can only take a server out), a
request queue (``timeouts.queue``), backup servers beside ``max_connections``
(NGINX sends the overflow to the backup, HAProxy only when the others are
down), and header routes whose request
body limit differs from the request they would otherwise reach (NGINX sets
the limit per host and path, not per header), and likewise header routes whose
request or response headers (``headers``) differ from those requests'.
"""

from __future__ import annotations

from collections.abc import Iterator

from ctlplane.model.pool import Pool
from ctlplane.model.root import CrossCheck, Model
from ctlplane.model.service import HttpService, Route, TcpService


def nginx_semantics(model: Model, proxy: str, indexes: list[int]) -> Iterator[CrossCheck]:
    """Every semantic refusal for one NGINX proxy running the services at ``indexes``."""
    where = f"on proxy {proxy!r} (nginx)"
    pools = {p.name: i for i, p in enumerate(model.pools)}
    seen: set[str] = set()
    for k in indexes:
        svc = model.services[k]
        if svc.timeouts.queue is not None:
            yield CrossCheck(("services", k, "timeouts", "queue"), f"NGINX open source has no request queue {where}: "
                             "remove timeouts.queue (requests over max_connections are refused at once), or use "
                             "engine haproxy")
        if isinstance(svc, HttpService):
            yield from _body_limits(k, svc, where)
            yield from _route_headers(k, svc, where)
        for name in _pool_names(svc):
            if name not in pools:
                continue
            i = pools[name]
            if name not in seen:
                seen.add(name)
                yield from _pool(i, model.pools[i], where)


def _pool_names(svc: HttpService | TcpService) -> list[str]:
    from ctlplane.model.routing import service_pools

    return service_pools(svc)


def _pool(i: int, pool: Pool, where: str) -> Iterator[CrossCheck]:
    limited = any(s.max_connections is not None for s in pool.servers)
    for j, server in enumerate(pool.servers):
        if server.state == "drain":
            yield CrossCheck(("pools", i, "servers", j, "state"), f"NGINX open source has no graceful drain {where}: "
                             "use state: disabled (no traffic at all), or engine haproxy")
        if server.backup and limited:
            yield CrossCheck(("pools", i, "servers", j, "backup"), f"NGINX sends requests over max_connections to "
                             f"the backup servers {where}, HAProxy only when every other server is down: remove "
                             "max_connections or the backup, or use engine haproxy")


def _body_limits(k: int, svc: HttpService, where: str) -> Iterator[CrossCheck]:
    """A header route must share the body limit of the route (or default pool) its location falls back to."""
    from ctlplane.model.routing import body_limit, header_route_conflicts

    if not any(r.max_body_size is not None for r in svc.routes):
        return
    for j, _, last in header_route_conflicts(svc, lambda r: body_limit(svc, r)):
        yield CrossCheck(("services", k, "routes", j, "max_body_size"), f"NGINX sets the request body "
                         f"limit per host and path, not per header {where}: give this header route the "
                         f"limit of the requests it falls back to ({body_limit(svc, last)} bytes), or use engine "
                         "haproxy")


def _route_headers(k: int, svc: HttpService, where: str) -> Iterator[CrossCheck]:
    """A header route must have the headers of the route (or default pool) its location falls back to."""
    from ctlplane.model.headers import effective
    from ctlplane.model.routing import header_route_conflicts

    def of(route: Route | None) -> tuple[object, ...]:
        return (effective(svc.headers.request, route.headers.request if route else None),
                effective(svc.headers.response, route.headers.response if route else None))

    if not any(r.header is not None for r in svc.routes):
        return
    for j, _, _ in header_route_conflicts(svc, of):
        yield CrossCheck(("services", k, "routes", j, "headers"), f"NGINX sets request and response "
                         f"headers per host and path, not per header {where}: give this header route "
                         f"the headers of the requests it falls back to, or use engine haproxy")
