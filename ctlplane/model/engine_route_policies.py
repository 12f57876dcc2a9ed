"""Per-route policies (``model/route_policies.py``) an engine cannot honour as the model means them, refused.

* NGINX sets access lists, limits, timeouts and the cache per host and path (a ``location``), not per request
  header: a header route must share the policies of the requests its location falls back to
  (``routing.header_route_conflicts``, the helper the body limit, headers and route actions use too).
* The engines' numeric bounds apply to a route as to its service: NGINX's ``limit_conn`` stops at 65535,
  HAProxy's timers at about 24.8 days.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ctlplane.model.engine_limits import HAPROXY_TIMER_MAX_MS, NGINX_LIMIT_CONN_MAX
from ctlplane.model.root import CrossCheck, Model
from ctlplane.model.routing import (cached, effective_access, effective_limits, effective_timeouts,
                                    header_route_conflicts)
from ctlplane.model.service import HttpService, Route

_WHAT = {"access": "access lists", "limits": "limits", "timeouts": "timeouts", "cache": "caching"}


def _policies(svc: HttpService) -> dict[str, Callable[[Route | None], object]]:
    return {"access": lambda r: effective_access(svc, r), "limits": lambda r: effective_limits(svc, r),
            "timeouts": lambda r: effective_timeouts(svc, r), "cache": lambda r: cached(svc, r)}


def route_policy_problems(model: Model, proxy: str, engine: str, indexes: list[int]) -> Iterator[CrossCheck]:
    """Every per-route policy refusal for one proxy running the services at ``indexes``."""
    where = f"on proxy {proxy!r} ({engine})"
    for k in indexes:
        svc = model.services[k]
        if not isinstance(svc, HttpService):
            continue
        for j, route in enumerate(svc.routes):
            yield from _bounds(engine, where, ("services", k, "routes", j), route)
        if engine != "nginx" or not any(r.header is not None for r in svc.routes):
            continue
        for field, policy in _policies(svc).items():
            for j, prefix, last in header_route_conflicts(svc, policy):
                what = (f"the route without header for {last.path_prefix!r}" if last is not None else
                        "the default pool")
                yield CrossCheck(("services", k, "routes", j, field), f"NGINX sets {_WHAT[field]} per host and "
                                 f"path, not per header {where}: this header route falls back to {what} at "
                                 f"{prefix!r}, whose {_WHAT[field]} differ; give both the same {field}, or this "
                                 "route its own path_prefix, or use engine haproxy")


def _bounds(engine: str, where: str, loc: tuple[str | int, ...], route: Route) -> Iterator[CrossCheck]:
    if engine == "nginx":
        if route.limits is not None and (route.limits.connections_per_client or 0) > NGINX_LIMIT_CONN_MAX:
            yield CrossCheck((*loc, "limits", "connections_per_client"),
                             f"NGINX limits connections per client to at most {NGINX_LIMIT_CONN_MAX} {where}")
        return
    for field in ("server", "tunnel"):
        if route.timeouts is not None and (getattr(route.timeouts, field) or 0) > HAPROXY_TIMER_MAX_MS:
            yield CrossCheck((*loc, "timeouts", field), f"HAProxy timers stop at 24 days {where}")
