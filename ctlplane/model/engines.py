"""What each engine can and cannot do.

A setting an engine cannot honour is refused with the feature, the engine and
what to use instead; it is never silently dropped. These checks run after the
model is valid on its own and are reported like any other model error.
"""

from __future__ import annotations

from collections.abc import Iterator

from ctlplane.model.pool import Pool
from ctlplane.model.root import CrossCheck, Model
from ctlplane.model.service import HttpService

_NGINX_NO_BACKUP = {"hash", "source_ip_hash", "random"}


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
            for pool_name in _pools_of(svc):
                if pool_name in pool_index and pool_name not in seen_pools:
                    seen_pools.add(pool_name)
                    i = pool_index[pool_name]
                    pool_check = _nginx_pool if proxy.engine == "nginx" else _haproxy_pool
                    yield from pool_check(proxy.name, i, model.pools[i])


def _pools_of(svc: object) -> list[str]:
    if isinstance(svc, HttpService):
        names = [r.pool for r in svc.routes] + ([svc.default_pool] if svc.default_pool else [])
        return list(dict.fromkeys(names))
    return [svc.pool]  # type: ignore[attr-defined]


def _nginx_pool(proxy: str, i: int, pool: Pool) -> Iterator[CrossCheck]:
    where = f"on proxy {proxy!r} (nginx)"
    if pool.health.active is not None:
        yield CrossCheck(("pools", i, "health", "active"), f"active health checks are not in NGINX open source {where}: "
                         "use health.passive, or engine haproxy")
    strategy = pool.balance.strategy
    for j, server in enumerate(pool.servers):
        if server.weight == 0:
            yield CrossCheck(("pools", i, "servers", j, "weight"), f"NGINX needs weight >= 1 {where}: "
                             "use state: drain or disabled to take a server out")
        if server.backup and (strategy in _NGINX_NO_BACKUP or pool.persistence is not None):
            yield CrossCheck(("pools", i, "servers", j, "backup"), f"NGINX cannot combine backup servers with "
                             f"hashing or random balancing {where}: use round_robin or least_connections, "
                             "or engine haproxy")
    if pool.persistence is not None and strategy not in ("round_robin", "weighted_round_robin"):
        yield CrossCheck(("pools", i, "persistence"), f"NGINX implements persistence with consistent hashing, which "
                         f"replaces balance {strategy!r} {where}: use round_robin with persistence, or engine haproxy")


def _haproxy_pool(proxy: str, i: int, pool: Pool) -> Iterator[CrossCheck]:
    return iter(())


def _nginx_service(proxy: str, k: int, svc: HttpService) -> Iterator[CrossCheck]:
    return iter(())


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
