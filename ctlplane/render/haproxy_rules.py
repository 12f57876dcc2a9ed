"""HAProxy request rules of a frontend that must match NGINX's: who the client
is, whether it may come in, and how much it may send.

* Trusted proxies: from a peer in ``trusted_proxies`` the client address is
  the last untrusted address of X-Forwarded-For, found by a bounded chain of
  ``http-request set-src`` (each step takes the next address to the left
  while the current one is still trusted: NGINX's ``real_ip_recursive on``,
  up to ``TRUST_DEPTH`` proxies). The peer is saved first
  (``txn.ctl_peer``) so X-Forwarded-For can be passed on with it appended.
* Access lists on HTTP answer 403 after the client address is known (as
  NGINX's ``deny``); on TCP the connection is closed at accept.
* Limits track the client per request (``http-request track-sc0``), so
  ``sc_conn_cur`` counts requests in progress, like NGINX's ``limit_conn``
  (idle keep-alive connections do not count). The request rate is a sliding
  window of ``(burst + 1) / rate`` seconds over *accepted* requests
  (``gpc0_rate``, incremented only after the deny rules): ``burst + 1``
  requests pass at once and the sustained rate is ``rate`` per second, as
  NGINX's ``limit_req ... burst nodelay``, which also does not count refused
  requests. On TCP, open connections are tracked at accept.
* The request body limit is a 413 on the announced Content-Length, the
  route's limit chosen by the same precedence as the routing (rules set in
  reverse order, so the most specific match is set last).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import NamedTuple

from ctlplane.model.service import HttpService, Route, TcpService
from ctlplane.model.service import Limits as LimitsModel
from ctlplane.model.types import format_duration
from ctlplane.model.routing import ordered_routes

TRUST_DEPTH = 10
_LIMIT_TABLE_SIZE = "100k"


class Trust(NamedTuple):
    """The trusted peers (printed with ``hq``) and how many X-Forwarded-For addresses are followed."""

    networks: tuple[str, ...]
    depth: tuple[int, ...]  # 1..TRUST_DEPTH: hdr_ip(x-forwarded-for,-n)


class Limits(NamedTuple):
    """Per-client tracking: the stick table's key type, stored counters and expiry, and the thresholds."""

    table_type: str
    table_size: str
    table_expire: str
    store: str
    http: bool  # tracked per request (HTTP) or per connection (TCP)
    conn_max: int | None
    rate_window: str | None  # gpc0_rate period
    rate_allowed: int | None  # requests accepted per window
    status: int
    page: str | None = None  # the answer file of the refusal (the service's error page of that status)


class BodyLimit(NamedTuple):
    """``value`` bytes (0: no limit) for requests matching ``conditions`` (a route's, see haproxy_frontend)."""

    value: int
    conditions: tuple[object, ...]


def is_v6(address: str) -> bool:
    return ipaddress.ip_address(address).version == 6


def trust(svc: HttpService | TcpService) -> Trust | None:
    if not isinstance(svc, HttpService) or not svc.trusted_proxies:
        return None
    return Trust(tuple(svc.trusted_proxies), tuple(range(1, TRUST_DEPTH + 1)))


def limits(svc: HttpService | TcpService, own: LimitsModel | None = None) -> Limits | None:
    """The tracking of the service's limits, or of ``own`` (a route's limits: its separate budget)."""
    lim = own if own is not None else svc.limits
    if lim.connections_per_client is None and lim.requests_per_second is None:
        return None
    store = ["conn_cur"] if lim.connections_per_client is not None else []
    window = allowed = None
    expire_ms = 30_000
    if lim.requests_per_second is not None:
        allowed = lim.effective_burst + 1
        window_ms = max(1, round(1000 * allowed / lim.requests_per_second))
        window = format_duration(window_ms)
        store.append(f"gpc0_rate({window})")
        expire_ms = max(expire_ms, 2 * window_ms)
    v6 = any(is_v6(a) for a in svc.listen.addresses) or (isinstance(svc, HttpService) and bool(svc.trusted_proxies))
    table_type = "ipv6" if v6 else "ip"
    return Limits(table_type, _LIMIT_TABLE_SIZE, format_duration(expire_ms), ",".join(store),
                  isinstance(svc, HttpService), lim.connections_per_client, window, allowed, lim.status)


def body_limits(svc: HttpService, conditions: Mapping[int, tuple[object, ...]]) -> tuple[BodyLimit, ...]:
    """The service's limit first, then each route that sets its own, least specific first (the last matching
    rule wins, so the most specific route decides); empty when no request can be refused. ``conditions``:
    the HAProxy conditions of each route, by its index in the model."""
    order = ordered_routes(svc)
    own = [(svc.routes.index(r), r) for r in reversed(order) if r.max_body_size is not None]
    if svc.max_body_size == 0 and all(r.max_body_size == 0 for _, r in own):
        return ()
    return (BodyLimit(svc.max_body_size, ()),
            *(BodyLimit(_limit(r), conditions[j]) for j, r in own))


def _limit(route: Route) -> int:
    assert route.max_body_size is not None
    return route.max_body_size
