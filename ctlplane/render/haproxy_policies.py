"""HAProxy's side of the per-route policies (``model/route_policies.py``): access lists, limits, timeouts
and the cache switch of a route, conditioned on the service's one route pick (``txn.ctl_route``,
``haproxy_actions.route_picks``): a route's rules apply ``if { var(txn.ctl_route) -m int <j> }``, the
service's ``if !{ var(txn.ctl_route) -m int <j> <k> ... }`` (the routes with their own; a request no route
serves keeps the service's, as NGINX's default location).

* Limits: a route with its own is a separate per-client budget: its requests are tracked (``track-sc1``) in
  a stick table of their own, ``backend st_<service>_<j>`` holding only that table (with ``peers`` when it
  counts a rate, as the service's, so a reload keeps it), and not in the service's (``track-sc0`` skips them);
  the thresholds, burst window and refusal are the service's rules (``haproxy_rules.limits``) on ``sc1``.
* Access lists: the route's deny and allow replace the service's (403), after the limits, as NGINX's
  access phase.
* Timeouts: the frontend sets ``txn.ctl_timeout_server|tunnel`` (ms) for the route, and each backend its
  users' routes reach applies it with ``http-request set-timeout`` (HAProxy 2.6 takes that action in a
  backend only, and has no per-request connect timeout, which the model therefore does not offer per route).
* Cache off: ``txn.ctl_no_cache`` set for the route, which ``cache-use`` and ``cache-store`` already read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ctlplane.model.service import HttpService
from ctlplane.render.error_pages import haproxy_page_of
from ctlplane.render.haproxy_rules import Limits, limits


@dataclass(frozen=True)
class RouteLimits:
    """Route ``index``'s budget: its table (a backend name, printed with ``hq``) and its thresholds (None: the
    route is exempt, tracked nowhere)."""

    index: int
    table: str
    limits: Limits | None


@dataclass(frozen=True)
class RouteAccess:
    index: int
    deny: tuple[str, ...]  # Cidr values, printed with hq
    allow: tuple[str, ...]


class Policies(NamedTuple):
    limits: tuple[RouteLimits, ...]
    service_limits: str  # the condition of the service's track-sc0 ("" when no route has its own)
    access: tuple[RouteAccess, ...]
    service_access: str  # the condition of the service's access rules
    timeouts: tuple[tuple[int, str, int], ...]  # (route, server|tunnel, ms) into txn.ctl_timeout_<kind>
    no_cache: str  # the routes whose requests skip the cache: "<j> <k>", or ""

    @property
    def tables(self) -> tuple[RouteLimits, ...]:
        return tuple(r for r in self.limits if r.limits is not None)


def has_route_policies(svc: HttpService) -> bool:
    return any(r.access is not None or r.limits is not None or r.timeouts is not None or not r.cache
               for r in svc.routes)


def table_name(svc: HttpService, index: int) -> str:
    return f"st_{svc.name}_{index}"


def _others(indexes: list[int]) -> str:
    return f"!{{ var(txn.ctl_route) -m int {' '.join(str(j) for j in indexes)} }}" if indexes else ""


def route_policies(svc: HttpService, prefix: str) -> Policies | None:
    """The policies of a service whose routes have their own (None without); ``prefix``: where HAProxy finds
    the release files (an error page answering a route's limit)."""
    if not has_route_policies(svc):
        return None
    own_limits = [(j, r.limits) for j, r in enumerate(svc.routes) if r.limits is not None]
    route_limits = []
    for j, lim in own_limits:
        found = limits(svc, lim)
        if found is not None:
            found = found._replace(page=haproxy_page_of(svc, found.status, prefix))
        route_limits.append(RouteLimits(j, table_name(svc, j), found))
    access = tuple(RouteAccess(j, tuple(r.access.deny), tuple(r.access.allow))
                   for j, r in enumerate(svc.routes) if r.access is not None)
    timeouts = tuple((j, kind, value) for j, r in enumerate(svc.routes) if r.timeouts is not None
                     for kind, value in (("server", r.timeouts.server), ("tunnel", r.timeouts.tunnel))
                     if value is not None)
    return Policies(tuple(route_limits), _others([j for j, _ in own_limits]), access,
                    _others([a.index for a in access]), timeouts,
                    " ".join(str(j) for j, r in enumerate(svc.routes) if not r.cache))
