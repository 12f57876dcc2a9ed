"""Authentication settings an engine cannot honour with the model's meaning, refused and located.

* HAProxy 2.6 cannot ask an external authorization service without Lua: ``auth.request`` is refused there,
  naming NGINX (``auth_request``) and basic auth as the alternatives.
* NGINX sets authentication per host and path (a ``location``), not per request header: a header route
  must share the authentication of the requests its location otherwise serves.
* The authorization service is asked over plain HTTP/1.1 (NGINX ``proxy_pass``): its pool must be a
  protocol http pool without TLS, and without a PROXY protocol header it would not expect.
"""

from __future__ import annotations

from collections.abc import Iterator

from ctlplane.model.root import CrossCheck, Model
from ctlplane.model.routing import service_auths
from ctlplane.model.service import HttpService


def auth_problems(model: Model, proxy: str, engine: str, indexes: list[int]) -> Iterator[CrossCheck]:
    """Every authentication refusal for one proxy running the services at ``indexes``."""
    where = f"on proxy {proxy!r} ({engine})"
    pools = {p.name: p for p in model.pools}
    for k in indexes:
        svc = model.services[k]
        if not isinstance(svc, HttpService):
            continue
        for loc, auth in service_auths(svc):
            if auth.request is None:
                continue
            if engine == "haproxy":
                yield CrossCheck(("services", k, *loc, "request"), f"HAProxy 2.6 cannot ask an authorization "
                                 f"service without Lua {where}: use engine nginx (auth_request), or basic auth "
                                 "(htpasswd) alone")
                continue
            pool = pools.get(auth.request.pool)
            if pool is not None and (pool.protocol != "http" or pool.tls is not None or pool.send_proxy_protocol):
                yield CrossCheck(("services", k, *loc, "request", "pool"), f"pool {pool.name!r} is asked as an "
                                 f"authorization service over plain HTTP {where}: use a protocol http pool without "
                                 "tls and send_proxy_protocol")
        if engine == "nginx":
            yield from _per_location(k, svc, where)


def _per_location(k: int, svc: HttpService, where: str) -> Iterator[CrossCheck]:
    """A header route must share the authentication of the requests its location falls back to."""
    from ctlplane.model.routing import covering_hosts, effective_auth, location_chain, location_prefixes, \
        virtual_hosts

    if not any(r.auth is not None for r in svc.routes if r.header is not None):
        return
    reported: set[int] = set()
    for vhost in virtual_hosts(svc, extra_hosts=covering_hosts(svc)):
        for prefix in location_prefixes(vhost):
            chain, last = location_chain(vhost, prefix)
            if last is None and svc.default_pool is None:
                if not chain:
                    continue
                wanted, what = effective_auth(svc, chain[0]), "the other header routes of its location"
            else:
                wanted, what = effective_auth(svc, last), "the requests it falls back to"
            for route in chain:
                j = next(i for i, r in enumerate(svc.routes) if r is route)
                if effective_auth(svc, route) != wanted and j not in reported:
                    reported.add(j)
                    yield CrossCheck(("services", k, "routes", j, "auth"), f"NGINX sets authentication per host "
                                     f"and path, not per header {where}: give this header route the auth of "
                                     f"{what}, or use engine haproxy")
