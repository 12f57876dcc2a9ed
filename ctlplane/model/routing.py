"""Engine-neutral routing decisions for HTTP services.

One precedence for both engines: the longest path prefix wins; for equal
prefixes an exact host beats a wildcard host beats any host; then a route with
a header match beats one without; then the order in the model. HAProxy prints
the global order as ``use_backend`` rules; NGINX gets one server block per
virtual host holding every route that can match that host, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ctlplane.model.auth import Auth
from ctlplane.model.service import Access, HttpService, Limits, Route, TcpService


@dataclass(frozen=True)
class VirtualHost:
    """A host name (None: any host) and the routes that can match it, most specific first."""

    host: str | None
    routes: tuple[Route, ...]


def host_rank(host: str | None) -> int:
    if host is None:
        return 2
    return 1 if host.startswith("*.") else 0


def route_key(index: int, route: Route) -> tuple[int, int, int, int]:
    return (-len(route.path_prefix), host_rank(route.host), 0 if route.header else 1, index)


def ordered_routes(svc: HttpService) -> tuple[Route, ...]:
    """All routes of a service in matching order (first match wins)."""
    return tuple(r for _, r in sorted(enumerate(svc.routes), key=lambda ir: route_key(*ir)))


def host_matches(pattern: str | None, host: str) -> bool:
    if pattern is None:
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return pattern == host


def body_limit(svc: HttpService, route: Route | None) -> int:
    """The request body limit of requests ``route`` serves (None: the default pool): its own, else the service's."""
    if route is not None and route.max_body_size is not None:
        return route.max_body_size
    return svc.max_body_size


def effective_auth(svc: HttpService, route: Route | None) -> Auth | None:
    """The authentication of requests ``route`` serves (None: the default pool or static content): its own,
    else the service's."""
    if route is not None and route.auth is not None:
        return route.auth
    return svc.auth


def effective_access(svc: HttpService, route: Route | None) -> Access:
    """The access lists of requests ``route`` serves (None: the default pool): its own, else the service's."""
    return route.access if route is not None and route.access is not None else svc.access


def effective_limits(svc: HttpService, route: Route | None) -> Limits:
    """The per-client limits of requests ``route`` serves: its own budget, else the service's."""
    return route.limits if route is not None and route.limits is not None else svc.limits


def effective_timeouts(svc: HttpService, route: Route | None) -> tuple[int, int]:
    """The (server, tunnel) timeouts in ms of requests ``route`` serves: its own where set, else the service's."""
    own = route.timeouts if route is not None else None
    server = own.server if own is not None and own.server is not None else svc.timeouts.server
    tunnel = own.tunnel if own is not None and own.tunnel is not None else svc.timeouts.tunnel
    return server, tunnel


def cached(svc: HttpService, route: Route | None) -> bool:
    """Whether the service's cache serves and stores the requests ``route`` serves."""
    return svc.cache is not None and (route is None or route.cache)


def header_route_conflicts(svc: HttpService, policy: Callable[[Route | None], object]) -> Iterator[
        tuple[int, str, Route | None]]:
    """Each header route (its model index, once) whose ``policy`` differs from that of the requests NGINX's
    location falls back to (the route without header of the location, else the default pool: None), with the
    location's prefix and that fallback route. NGINX sets a location's policies per host and path, not per
    header."""
    reported: set[int] = set()
    for vhost in virtual_hosts(svc, extra_hosts=covering_hosts(svc)):
        for prefix in location_prefixes(vhost):
            chain, last = location_chain(vhost, prefix)
            wanted = policy(last)
            for route in chain:
                j = next(i for i, r in enumerate(svc.routes) if r is route)
                if j not in reported and policy(route) != wanted:
                    reported.add(j)
                    yield j, prefix, last


def service_pools(svc: HttpService | TcpService, auth: bool = True) -> list[str]:
    """The pools a service sends requests to, in model order and once each: a tcp service's pool; an http
    service's routes' and default pool, and (``auth``) the pools of its authorization services."""
    if isinstance(svc, TcpService):
        return [svc.pool]
    names = [r.pool for r in svc.routes if r.pool] + ([svc.default_pool] if svc.default_pool else [])
    return list(dict.fromkeys(names + (auth_pools(svc) if auth else [])))


def service_auths(svc: HttpService) -> Iterator[tuple[tuple[str | int, ...], Auth]]:
    """Every authentication setting of a service with its location: the service's, then each route's."""
    if svc.auth is not None:
        yield ("auth",), svc.auth
    for j, route in enumerate(svc.routes):
        if route.auth is not None:
            yield ("routes", j, "auth"), route.auth


def auth_pools(svc: HttpService) -> list[str]:
    """The pools of the authorization services a service asks (``Auth.request``), in model order."""
    return list(dict.fromkeys(a.request.pool for _, a in service_auths(svc) if a.request is not None))


def location_chain(vhost: VirtualHost, prefix: str) -> tuple[tuple[Route, ...], Route | None]:
    """The routes NGINX's location ``prefix`` of ``vhost`` tries in order: the header routes whose prefix it
    extends, up to the first route without a header (the terminal, returned apart; None: the default pool)."""
    chain: list[Route] = []
    for route in vhost.routes:
        if not prefix.startswith(route.path_prefix):
            continue
        if route.header is None:
            return tuple(chain), route
        chain.append(route)
    return tuple(chain), None


def location_prefixes(vhost: VirtualHost) -> tuple[str, ...]:
    """The path prefixes that get a location in ``vhost``: each route's, and '/'."""
    return tuple(dict.fromkeys([r.path_prefix for r in vhost.routes] + ["/"]))


def covering_hosts(svc: HttpService) -> tuple[str, ...]:
    """A host under each wildcard route host (``x.example.com`` for ``*.example.com``): the virtual host of
    such a name holds every wildcard route covering it, as an SNI name of a certificate may."""
    return tuple("x" + r.host[1:] for r in svc.routes if r.host and r.host.startswith("*."))


def virtual_hosts(svc: HttpService, extra_hosts: tuple[str, ...] = ()) -> tuple[VirtualHost, ...]:
    """One virtual host per distinct route host (and per extra host, e.g. SNI names), plus the catch-all.

    A wildcard virtual host holds the wildcard's own routes and the host-less ones; an exact host also holds
    every wildcard route covering it, so that NGINX's per-server matching equals the global order.
    """
    ordered = ordered_routes(svc)
    names = list(dict.fromkeys([r.host for r in svc.routes if r.host] + list(extra_hosts)))
    hosts: list[VirtualHost] = []
    for name in sorted(names, key=lambda h: (host_rank(h), h)):
        if name.startswith("*."):
            routes = tuple(r for r in ordered if r.host in (None, name))
        else:
            routes = tuple(r for r in ordered if host_matches(r.host, name))
        hosts.append(VirtualHost(name, routes))
    hosts.append(VirtualHost(None, tuple(r for r in ordered if r.host is None)))
    return tuple(hosts)
