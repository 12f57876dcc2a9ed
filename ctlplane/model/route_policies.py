"""Per-route policies (issue 13 item 9): access lists, limits, timeouts and the cache switch of one route.

A route's ``access``, ``limits`` and ``timeouts`` replace the service's for the requests that route serves
(routing's precedence picks the route: the most specific match), as ``max_body_size``, ``auth`` and
``headers`` do. A route's limits are a separate per-client budget: its requests do not count against the
service's, and an empty ``limits`` exempts the route. ``timeouts`` holds only what both engines can set per
request (HAProxy 2.6 ``http-request set-timeout`` has no connect timeout): ``server`` and ``tunnel``.
``cache: false`` keeps the route's requests out of the service's cache. Redirects and literal answers are
sent before access lists and limits run (NGINX's rewrite phase), and never reach a server or the cache: a
route that answers itself takes none of these policies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ctlplane.model.types import Duration, Frozen

if TYPE_CHECKING:
    from ctlplane.model.service import Route


class RouteTimeouts(Frozen):
    """Timeouts of one route's requests; the service's where unset."""

    server: Duration | None = Field(
        None, description="Server inactivity for this route's requests (504 when the answer does not come).",
        examples=["2s"],
    )
    tunnel: Duration | None = Field(
        None, description="Idle timeout of this route's upgraded connections (WebSocket).", examples=["10m"],
    )


def check_route_policies(route: Route) -> None:
    """A route that redirects or answers itself takes no access list, limit, timeout or cache switch."""
    if route.pool is not None:
        return
    own = [name for name in ("access", "limits", "timeouts") if getattr(route, name) is not None]
    own += ["cache"] if not route.cache else []
    if own:
        raise ValueError(f"{', '.join(own)} need a pool: a redirect or a literal answer is sent before access "
                         "lists and limits run, and never reaches a server or the cache")
