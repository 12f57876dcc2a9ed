"""Numeric limits of each engine that the model's own types do not express.

NGINX takes whole seconds where the model allows milliseconds (``fail_timeout``,
``proxy_cache_valid``) and caps ``limit_conn`` at 65535; HAProxy's timers
overflow above 2147483647 ms (about 24.8 days). A model beyond them is
refused here, located, instead of being rendered into a config the proxy
rejects.
"""

from __future__ import annotations

from collections.abc import Iterator

from ctlplane.model.pool import Pool
from ctlplane.model.root import CrossCheck
from ctlplane.model.service import HttpService, TcpService

HAPROXY_TIMER_MAX_MS = 2_147_483_647
NGINX_LIMIT_CONN_MAX = 65_535


def service_limits(engine: str, proxy: str, k: int, svc: HttpService | TcpService) -> Iterator[CrossCheck]:
    where = f"on proxy {proxy!r} ({engine})"
    if engine == "nginx":
        if (svc.limits.connections_per_client or 0) > NGINX_LIMIT_CONN_MAX:
            yield CrossCheck(("services", k, "limits", "connections_per_client"),
                             f"NGINX limits connections per client to at most {NGINX_LIMIT_CONN_MAX} {where}")
        if isinstance(svc, HttpService) and svc.cache and svc.cache.valid % 1000:
            yield CrossCheck(("services", k, "cache", "valid"), f"NGINX takes cache validity in whole seconds {where}")
        return
    for field in ("connect", "client", "server", "queue", "request_header", "keep_alive"):
        if (getattr(svc.timeouts, field, None) or 0) > HAPROXY_TIMER_MAX_MS:
            yield CrossCheck(("services", k, "timeouts", field), f"HAProxy timers stop at 24 days {where}")


def pool_limits(engine: str, proxy: str, i: int, pool: Pool) -> Iterator[CrossCheck]:
    where = f"on proxy {proxy!r} ({engine})"
    passive, active = pool.health.passive, pool.health.active
    if engine == "nginx":
        if passive and passive.window % 1000:
            yield CrossCheck(("pools", i, "health", "passive", "window"),
                             f"NGINX takes the passive check window (fail_timeout) in whole seconds {where}")
        return
    timers = [(("health", "passive", "window"), passive.window if passive else 0),
              (("health", "active", "interval"), active.interval if active else 0)]
    for loc, value in timers:
        if value > HAPROXY_TIMER_MAX_MS:
            yield CrossCheck(("pools", i, *loc), f"HAProxy timers stop at 24 days {where}")
