"""What each engine can and cannot do.

A setting an engine cannot honour is refused with the feature, the engine and
what to use instead; it is never silently dropped. These checks run after the
model is valid on its own and are reported like any other model error.
"""

from __future__ import annotations

from collections.abc import Iterator

from ctlplane.model.engine_actions import nginx_actions
from ctlplane.model.engine_auth import auth_problems
from ctlplane.model.engine_error_pages import error_page_problems
from ctlplane.model.engine_limits import pool_limits, service_limits
from ctlplane.model.engine_protocols import nginx_protocols
from ctlplane.model.engine_route_policies import route_policy_problems
from ctlplane.model.engine_semantics import nginx_semantics
from ctlplane.model.pool import Pool
from ctlplane.model.root import CrossCheck, Model
from ctlplane.model.service import HttpService, Route, TcpService

_NGINX_NO_BACKUP = {"hash", "source_ip_hash", "random"}
_HAPROXY_CACHE_MAX = 4095 * 1024**2


def engine_problems(model: Model) -> Iterator[CrossCheck]:
    """Every setting that a proxy's engine cannot express, located in the model."""
    pool_index = {p.name: i for i, p in enumerate(model.pools)}
    service_index = {s.name: i for i, s in enumerate(model.services)}
    for proxy in model.proxies:
        seen_pools: set[str] = set()
        for name in proxy.services:
            if name not in service_index:
                continue
            k = service_index[name]
            svc = model.services[k]
            check = _nginx_service if proxy.engine == "nginx" else _haproxy_service
            if isinstance(svc, HttpService):
                yield from check(proxy.name, k, svc)
            yield from service_limits(proxy.engine, proxy.name, k, svc)
            for pool_name in _pools_of(svc):
                if pool_name in pool_index and pool_name not in seen_pools:
                    seen_pools.add(pool_name)
                    i = pool_index[pool_name]
                    pool_check = _nginx_pool if proxy.engine == "nginx" else _haproxy_pool
                    yield from pool_check(proxy.name, i, model.pools[i])
                    yield from pool_limits(proxy.engine, proxy.name, i, model.pools[i])
        indexes = [service_index[n] for n in proxy.services if n in service_index]
        yield from auth_problems(model, proxy.name, proxy.engine, indexes)
        yield from error_page_problems(model, proxy.name, proxy.engine, indexes)
        yield from route_policy_problems(model, proxy.name, proxy.engine, indexes)
        if proxy.engine == "nginx":
            yield from nginx_semantics(model, proxy.name, indexes)
            yield from nginx_protocols(model, proxy.name, indexes)
            yield from nginx_actions(model, proxy.name, indexes)
        if proxy.engine == "haproxy":
            yield from _haproxy_shared_pools(model, proxy.name, [service_index[n] for n in proxy.services
                                                                  if n in service_index])


def _pools_of(svc: HttpService | TcpService) -> list[str]:
    from ctlplane.model.routing import service_pools

    return service_pools(svc)


def _nginx_pool(proxy: str, i: int, pool: Pool) -> Iterator[CrossCheck]:
    where = f"on proxy {proxy!r} (nginx)"
    if pool.health.active is not None:
        yield CrossCheck(("pools", i, "health", "active"),
                         f"active health checks are not in NGINX open source {where}: use health.passive, or engine "
                         "haproxy")
    if pool.slow_start is not None:
        yield CrossCheck(("pools", i, "slow_start"), f"slow start is not in NGINX open source {where}: remove "
                         "slow_start (a recovering server takes its full share at once), or use engine haproxy")
    strategy = pool.balance.strategy
    for j, server in enumerate(pool.servers):
        if server.weight == 0:
            yield CrossCheck(("pools", i, "servers", j, "weight"), f"NGINX needs weight >= 1 {where}: "
                             "use state: drain or disabled to take a server out")
        if server.backup and (strategy in _NGINX_NO_BACKUP or pool.persistence is not None):
            yield CrossCheck(("pools", i, "servers", j, "backup"), f"NGINX cannot combine backup servers with "
                             f"hashing or random balancing {where}: use round_robin or least_connections, "
                             "or engine haproxy")
    if pool.discover is None and all(server.backup for server in pool.servers):
        yield CrossCheck(("pools", i, "servers"), f"NGINX needs at least one server that is not a backup {where}: "
                         "make one server a regular one, or use engine haproxy")
    if pool.persistence is not None and strategy not in ("round_robin", "weighted_round_robin"):
        yield CrossCheck(("pools", i, "persistence"), f"NGINX implements persistence with consistent hashing, which "
                         f"replaces balance {strategy!r} {where}: use round_robin with persistence, or engine haproxy")


def _haproxy_pool(proxy: str, i: int, pool: Pool) -> Iterator[CrossCheck]:
    return iter(())


def _nginx_service(proxy: str, k: int, svc: HttpService) -> Iterator[CrossCheck]:
    """Static prefixes become NGINX locations ending in '/' (an alias without it would escape the directory)."""
    where = f"on proxy {proxy!r} (nginx)"
    served: dict[str, int] = {}
    for j, static in enumerate(svc.static):
        path = static.path_prefix if static.path_prefix.endswith("/") else static.path_prefix + "/"
        if path in served:
            yield CrossCheck(("services", k, "static", j, "path_prefix"), f"static prefixes {static.path_prefix!r} "
                             f"and {svc.static[served[path]].path_prefix!r} are the same directory prefix {where}")
        served.setdefault(path, j)
    exact = {s.path_prefix for s in svc.static} | set(served)
    for j, route in enumerate(svc.routes):
        if route.path_prefix in exact:
            yield CrossCheck(("services", k, "routes", j, "path_prefix"), f"path prefix {route.path_prefix!r} is "
                             f"also served as static content {where}: use different prefixes")
            continue
        if route.header is None:
            continue
        for prefix in sorted(served, key=len, reverse=True):
            if route.path_prefix.startswith(prefix) and not _falls_back_before(svc, route, len(prefix)):
                yield CrossCheck(("services", k, "routes", j, "header"), f"NGINX cannot fall back from a header "
                                 f"route to the static content at {prefix!r} {where}: add a route without header "
                                 f"for {route.path_prefix!r}, or move the static prefix")
                break


def _falls_back_before(svc: HttpService, route: Route, static_len: int) -> bool:
    """A header-less route longer than the static prefix catches every request the header route refuses."""
    return any(r.header is None and route.path_prefix.startswith(r.path_prefix) and len(r.path_prefix) > static_len
               and r.host in (None, route.host) for r in svc.routes)


def _haproxy_service(proxy: str, k: int, svc: HttpService) -> Iterator[CrossCheck]:
    where = f"on proxy {proxy!r} (haproxy)"
    if svc.static:
        yield CrossCheck(("services", k, "static"), f"HAProxy does not serve static directories {where}: "
                         "use engine nginx, or put the files behind a pool of file servers")
    if svc.compression and svc.compression.min_length is not None:
        yield CrossCheck(("services", k, "compression", "min_length"), f"HAProxy 2.6 has no minimum length for "
                         f"compression {where}: remove min_length")
    if svc.cache and svc.cache.key != "host_uri":
        yield CrossCheck(("services", k, "cache", "key"), f"HAProxy's cache key is always host and URI {where}: "
                         "use key: host_uri")
    if svc.cache and svc.cache.max_size > _HAPROXY_CACHE_MAX:
        yield CrossCheck(("services", k, "cache", "max_size"), f"HAProxy's cache holds at most 4095 MiB {where}: "
                         "use max_size: 4095m or less")


def backend_settings(svc: HttpService | TcpService) -> tuple[object, ...]:
    """What HAProxy sets per backend from a service: connect/server/queue/tunnel timeouts and retries."""
    tunnel = svc.timeouts.tunnel if isinstance(svc, HttpService) else None
    return (svc.timeouts.connect, svc.timeouts.server, svc.timeouts.queue, tunnel, svc.retries.attempts,
            tuple(sorted(svc.retries.on_status)))


def _haproxy_shared_pools(model: Model, proxy: str, indexes: list[int]) -> Iterator[CrossCheck]:
    """HAProxy sets connect/server/queue/tunnel timeouts and retries per backend (one per pool), not per service."""
    first: dict[str, tuple[int, tuple[object, ...]]] = {}
    for k in indexes:
        svc = model.services[k]
        settings = backend_settings(svc)
        for pool_name in _pools_of(svc):
            other = first.setdefault(pool_name, (k, settings))
            if other[1] != settings:
                yield CrossCheck(("services", k), f"services {model.services[other[0]].name!r} and {svc.name!r} "
                                 f"share pool {pool_name!r} on proxy {proxy!r} (haproxy) with different "
                                 "timeouts.connect, timeouts.server, timeouts.queue, timeouts.tunnel or retries: "
                                 "HAProxy sets these per pool; make them equal or use separate pools")
