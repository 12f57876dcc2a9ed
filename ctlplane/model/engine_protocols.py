"""What NGINX 1.22 cannot do with a pool's protocol (``Pool.protocol``), refused with the alternative.

NGINX open source speaks HTTP/2 to servers only through ``grpc_pass``: an
``h2c`` pool (plain HTTP/2 to the servers) has no equivalent, and a ``grpc``
pool needs its own location (``grpc_pass`` and ``proxy_pass`` cannot share
one), so routes of different protocols may not meet in one location (a header
route falling back to another pool of the same prefix). NGINX 1.22 accepts
HTTP/2 on a plain listener only as the listener's one protocol (``listen …
http2`` without ``ssl`` refuses HTTP/1.1), so gRPC is served on TLS listeners,
where ALPN offers both. HAProxy does all of it (``proto h2`` on the server
lines, HTTP/2 detected by its preface on plain listeners). NGINX sends the
PROXY protocol to servers from stream only (``proxy_protocol on``, version 1).
TLS to servers
(``Pool.tls``) is set per location too (``proxy_pass https://`` and the
``proxy_ssl_*`` directives), so the pools a location can reach must agree on it.
"""

from __future__ import annotations

from collections.abc import Iterator

from ctlplane.model.pool import Pool
from ctlplane.model.root import CrossCheck, Model
from ctlplane.model.service import HttpService, TcpService


def nginx_protocols(model: Model, proxy: str, indexes: list[int]) -> Iterator[CrossCheck]:
    """Every protocol refusal for one NGINX proxy running the services at ``indexes``."""
    where = f"on proxy {proxy!r} (nginx)"
    pools = {p.name: (i, p) for i, p in enumerate(model.pools)}
    reported: set[str] = set()
    yield from _proxy_protocol(model, where, indexes, pools)
    for k in indexes:
        svc = model.services[k]
        if not isinstance(svc, HttpService):
            continue
        for loc, name in _refs(svc):
            if name not in pools:
                continue
            i, pool = pools[name]
            if pool.protocol == "h2c" and name not in reported:
                reported.add(name)
                yield CrossCheck(("pools", i, "protocol"), f"NGINX 1.22 speaks HTTP/2 to servers only for gRPC "
                                 f"{where}: use protocol: grpc for a gRPC service, protocol: http, or engine haproxy")
            if pool.protocol == "grpc" and svc.tls is None:
                yield CrossCheck(("services", k, *loc), f"NGINX 1.22 accepts HTTP/2 on a plain listener only as its "
                                 f"one protocol {where}, and gRPC clients need HTTP/2: serve pool {name!r} on a TLS "
                                 "listener (tls, which offers HTTP/2 by ALPN), or use engine haproxy")
        if any(r.header is not None for r in svc.routes):  # only a header route falls back to another pool
            yield from _mixed_locations(svc, k, where, pools)


def _mixed_locations(svc: HttpService, k: int, where: str,
                     pools: dict[str, tuple[int, Pool]]) -> Iterator[CrossCheck]:
    """Header routes whose location falls back to a pool of another kind (gRPC or HTTP) or TLS setting."""
    from ctlplane.model.routing import covering_hosts, location_chain, location_prefixes, virtual_hosts

    mixed: set[int] = set()
    for vhost in virtual_hosts(svc, extra_hosts=covering_hosts(svc)):
        for prefix in location_prefixes(vhost):
            chain, last = location_chain(vhost, prefix)
            reached = [r.pool for r in chain] + [last.pool if last else svc.default_pool]
            kinds = {_kind(pools[n][1]) for n in reached if n in pools}
            tls = {pools[n][1].tls for n in reached if n in pools}
            if len(kinds) > 1 or len(tls) > 1:
                why = (f"either to gRPC or to HTTP servers {where}, and this header route falls back to a pool "
                       f"of the other kind at {prefix!r}: give the gRPC pool its own path prefix"
                       if len(kinds) > 1 else
                       f"with one TLS setting to the servers {where}, and this header route falls back to a "
                       f"pool with another tls at {prefix!r}: give the pools the same tls, or this pool its own "
                       "path prefix")
                for route in chain:
                    j = next(j for j, r in enumerate(svc.routes) if r is route)
                    if j not in mixed:
                        mixed.add(j)
                        yield CrossCheck(("services", k, "routes", j, "pool"),
                                         f"NGINX proxies one location {why}, or use engine haproxy")


def _kind(pool: Pool) -> str:
    return "grpc" if pool.protocol == "grpc" else "http"


def _refs(svc: HttpService) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if svc.default_pool is not None:
        yield ("default_pool",), svc.default_pool
    for j, route in enumerate(svc.routes):
        if route.pool is not None:
            yield ("routes", j, "pool"), route.pool


def _proxy_protocol(model: Model, where: str, indexes: list[int],
                    pools: dict[str, tuple[int, Pool]]) -> Iterator[CrossCheck]:
    """NGINX open source sends the PROXY protocol to servers from stream (tcp services) only, and only v1."""
    reported: set[str] = set()
    for k in indexes:
        svc = model.services[k]
        names = [svc.pool] if isinstance(svc, TcpService) else [n for _, n in _refs(svc)]
        for name in names:
            if name not in pools or name in reported or pools[name][1].send_proxy_protocol is None:
                continue
            i, pool = pools[name]
            reported.add(name)
            if isinstance(svc, HttpService):
                yield CrossCheck(("pools", i, "send_proxy_protocol"), f"NGINX open source sends the PROXY protocol "
                                 f"to servers only from tcp services (stream), not from http service {svc.name!r} "
                                 f"{where}: use engine haproxy, or let the servers read X-Forwarded-For")
            elif pool.send_proxy_protocol == "v2":
                yield CrossCheck(("pools", i, "send_proxy_protocol"), f"NGINX 1.22 sends PROXY protocol version 1 "
                                 f"only {where}: use send_proxy_protocol: v1, or engine haproxy")
