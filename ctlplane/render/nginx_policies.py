"""NGINX's side of the per-route policies (``model/route_policies.py``): a route's access lists, limits,
timeouts and cache switch are directives of its ``location`` (header routes share their location's, the model
refuses them otherwise: ``model/engine_route_policies.py``); the service's stay the server's.

* Access lists: a location's ``deny``/``allow`` replace the server's (NGINX does not merge them); an empty
  route list is ``allow all``.
* Limits: the route's own zones (``rreq_<service>_<j>``, ``rconn_<service>_<j>``, keyed on the client
  address) in ``limit_req``/``limit_conn``, which replace the server's in that location, so its requests are
  a separate budget; a kind the service limits and the route does not is neutralised by a zone keyed on an
  empty string (``ctl_off_req``, ``ctl_off_conn``: NGINX accounts no request with an empty key), as there is
  no ``limit_req off``. Same status, same ``burst … nodelay`` as the service level.
* Timeouts: ``proxy_read_timeout``/``proxy_send_timeout`` (``grpc_*`` for gRPC; with retries also
  ``*_next_upstream_timeout``: a request that timed out is not retried); the route's tunnel timeout is its
  upgrade twin's (``nginx_locations.with_upgrade_twins``).
* Cache off: ``proxy_cache off``.
"""

from __future__ import annotations

from typing import NamedTuple

from ctlplane.model.routing import effective_timeouts
from ctlplane.model.service import HttpService, Route
from ctlplane.model.types import format_duration
from ctlplane.render import nginx_names as names

OFF_REQ, OFF_CONN = "ctl_off_req", "ctl_off_conn"


class LocationPolicy(NamedTuple):
    """What a location sets instead of its server: each part None (or False) when it keeps the server's."""

    access: tuple[tuple[str, str], ...] | None  # ("deny" | "allow", cidr or "all"), cidrs printed with nq
    limit_req: tuple[str, int] | None  # zone, burst
    limit_conn: tuple[str, int] | None  # zone, connections
    limit_status: int | None  # set when the location has limits of its own
    server_timeout: str | None
    next_timeout: str | None  # proxy_next_upstream_timeout (the service retries)
    own_tunnel: bool  # the route sets timeouts: ``tunnel`` decides the upgrade twin, not the service's
    tunnel: str | None  # the twin's timeout (None: no twin, the tunnel equals the server and client timeouts)
    cache_off: bool


def route_zone(kind: str, svc: HttpService, index: int) -> str:
    return names.checked(f"r{kind}_{svc.name}_{index}", names.BARE, "zone name")


def location_policy(svc: HttpService, route: Route | None) -> LocationPolicy | None:
    """The location of ``route`` (None: the default pool) when it differs from its server's."""
    if route is None or (route.access is None and route.limits is None and route.timeouts is None and route.cache):
        return None
    access = None
    if route.access is not None:
        a = route.access
        access = tuple([("deny", c) for c in a.deny] + [("allow", c) for c in a.allow]
                       + [("deny", "all") if a.allow else ("allow", "all")])
    req = conn = status = None
    if route.limits is not None:
        j, lim = svc.routes.index(route), route.limits
        if lim.requests_per_second is not None:
            req = (route_zone("req", svc, j), lim.effective_burst)
        elif svc.limits.requests_per_second is not None:
            req = (OFF_REQ, 0)
        if lim.connections_per_client is not None:
            conn = (route_zone("conn", svc, j), lim.connections_per_client)
        elif svc.limits.connections_per_client is not None:
            conn = (OFF_CONN, 65_535)
        status = lim.status
    server, tunnel = effective_timeouts(svc, route)
    own_server = route.timeouts is not None and route.timeouts.server is not None
    return LocationPolicy(
        access=access, limit_req=req, limit_conn=conn, limit_status=status,
        server_timeout=format_duration(server) if own_server else None,
        next_timeout=format_duration(server) if own_server and svc.retries.attempts else None,
        own_tunnel=route.timeouts is not None,
        tunnel=None if tunnel == server == svc.timeouts.client else format_duration(tunnel),
        cache_off=not route.cache and svc.cache is not None)


def route_zones(svc: HttpService) -> tuple[tuple[tuple[str, int], ...], tuple[str, ...], bool]:
    """The service's route zones: (request zones with their rate, connection zones, whether the empty-key zones
    are needed)."""
    req = tuple((route_zone("req", svc, j), r.limits.requests_per_second) for j, r in enumerate(svc.routes)
                if r.limits is not None and r.limits.requests_per_second is not None)
    conn = tuple(route_zone("conn", svc, j) for j, r in enumerate(svc.routes)
                 if r.limits is not None and r.limits.connections_per_client is not None)
    off = any(p is not None and (p.limit_req and p.limit_req[0] == OFF_REQ or p.limit_conn and p.limit_conn[0] ==
                                 OFF_CONN) for p in (location_policy(svc, r) for r in svc.routes))
    return req, conn, off
