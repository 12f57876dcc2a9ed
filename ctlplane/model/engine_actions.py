"""Route actions NGINX cannot decide per header, refused with the alternative.

NGINX chooses a ``location`` by host and path; a header route only picks the
pool inside it (``map`` blocks, see ``render/nginx_locations.py``). A
redirect, a literal answer or a path rewrite is a property of the location,
so a header route must do exactly what the requests it falls back to do
(the route without header of its location, or the default pool). HAProxy
picks the route, header included, before acting, and takes any combination.
"""

from __future__ import annotations

from collections.abc import Iterator

from ctlplane.model.root import CrossCheck, Model
from ctlplane.model.service import HttpService, Route

Action = tuple[object, object, object]


def action(route: Route | None) -> Action:
    """What a location does for ``route`` besides choosing a pool (None: the default pool, which does nothing)."""
    if route is None:
        return (None, None, None)
    return (route.redirect, route.respond, route.rewrite)


def _field(route: Route) -> str:
    for name in ("redirect", "respond", "rewrite"):
        if getattr(route, name) is not None:
            return name
    return "header"


def nginx_actions(model: Model, proxy: str, indexes: list[int]) -> Iterator[CrossCheck]:
    """Every header route of the NGINX proxy ``proxy`` whose action differs from its location's fallback."""
    from ctlplane.model.routing import header_route_conflicts

    where = f"on proxy {proxy!r} (nginx)"
    for k in indexes:
        svc = model.services[k]
        if not isinstance(svc, HttpService) or all(action(r) == action(None) for r in svc.routes):
            continue
        for j, prefix, last in header_route_conflicts(svc, action):
            what = (f"the route without header for {last.path_prefix!r}" if last is not None else
                    "the default pool")
            yield CrossCheck(("services", k, "routes", j, _field(svc.routes[j])), f"NGINX redirects, answers "
                             f"and rewrites per host and path, not per header {where}: this header "
                             f"route falls back to {what} at {prefix!r}, which does otherwise; give "
                             "both the same redirect, respond and rewrite, or this route its own "
                             "path_prefix, or use engine haproxy")
