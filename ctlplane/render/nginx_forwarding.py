"""What an NGINX proxy tells its backends about the client, and the cache's rules.

The forwarded headers are the same on both engines: ``Host`` and
``X-Forwarded-Host`` carry the client's Host header as sent (port included),
``X-Forwarded-Proto`` / ``-Port`` this listener's scheme and port,
``X-Real-IP`` the client address, and ``X-Forwarded-For`` is *replaced* by
the peer's address unless the peer is in the service's ``trusted_proxies``:
then the realip module (``real_ip_recursive on``) takes the client address
from the header (the last untrusted address), and the header is passed on
with the peer appended. ``X-Request-ID`` is the client's (its first line),
else NGINX's ``$request_id`` (32 hex digits); the access log prints the same.
``Upgrade`` and ``Connection: upgrade`` pass through
for WebSocket and other upgrades, but not an h2c one (cleartext HTTP/2: a
backend that took it would open a tunnel past every rule of the proxy; the
request is served as HTTP/1.1); otherwise ``Connection`` is empty so the
upstream keep-alive works. Whether a peer is trusted is a ``geo`` block on
``$realip_remote_addr`` per service.

The cache predicates make NGINX store and serve exactly what HAProxy's cache
does (see ``model.service.Cache``): never a request with Authorization or
Cookie, an HTTP/1.0 request or another method than GET; never an answer
without a lifetime (max-age, s-maxage, Expires) or a validator (ETag,
Last-Modified); a request asking for a fresh answer bypasses the lookup and
refreshes the entry. Every map and variable here is a fixed constant; the
only model values are the trusted networks, printed through ``nq``.
"""

from __future__ import annotations

from typing import NamedTuple

from ctlplane.model.service import HttpService
from ctlplane.render import nginx_names as names


class FixedMap(NamedTuple):
    """A ``map`` whose every word is a constant of this module, printed as is."""

    source: str
    result: str
    entries: tuple[tuple[str, str], ...]


class Geo(NamedTuple):
    """``geo $realip_remote_addr $<result> { default 0; <cidr> 1; ... }``: is the peer a trusted proxy."""

    result: str
    networks: tuple[str, ...]


HOST = "$ctl_host"  # the client's Host header as sent, else NGINX's $host (HTTP/1.0 without Host)
UPGRADE = "$ctl_upgrade"  # the client's Upgrade header, but never an h2c one
FORWARD_MAPS = (
    FixedMap("$http_host", HOST, (('""', "$host"), ("default", "$http_host"))),
    FixedMap("$http_upgrade", UPGRADE, (('""', '""'), ('"~*h2c"', '""'), ("default", "$http_upgrade"))),
    FixedMap(UPGRADE, "$ctl_connection", (('""', '""'), ("default", "upgrade"))),
    FixedMap("$http_x_forwarded_for", "$ctl_xff_in", (('""', '""'), ("default", '"$http_x_forwarded_for, "'))),
    FixedMap("$http_x_request_id", "$ctl_request_id", (('""', "$request_id"), ("default", "$http_x_request_id"))),
)
CACHE_MAPS = (
    FixedMap("$http_cache_control", "$ctl_req_fresh", (('"~*(no-cache|max-age|max-stale|min-fresh)"', "1"),
                                                       ("default", '""'))),
    FixedMap("$http_pragma", "$ctl_req_pragma", (('"~*no-cache"', "1"), ("default", '""'))),
    FixedMap("$server_protocol", "$ctl_req_old", (('"HTTP/1.1"', '""'), ('"HTTP/2.0"', '""'), ("default", "1"))),
    FixedMap("$request_method", "$ctl_req_not_get", (("GET", '""'), ("default", "1"))),
    FixedMap("$upstream_http_cache_control", "$ctl_res_life", (('"~*(max-age|s-maxage)="', "1"), ("default", '""'))),
    FixedMap('"$ctl_res_life$upstream_http_expires$upstream_http_etag$upstream_http_last_modified"',
             "$ctl_res_no_lifetime", (('""', "1"), ("default", '""'))),
)
CACHE_BYPASS = ("$http_authorization", "$http_cookie", "$ctl_req_old", "$ctl_req_not_get", "$ctl_req_fresh",
                "$ctl_req_pragma")
CACHE_NO_STORE = ("$http_authorization", "$http_cookie", "$ctl_req_old", "$ctl_req_not_get",
                  "$ctl_res_no_lifetime")


def trusted_var(svc: HttpService) -> str:
    return names.var("ctl_trusted", names.encode(svc.name))


def forwarded_for_var(svc: HttpService) -> str:
    return names.var("ctl_xff", names.encode(svc.name))


def trust(svc: HttpService) -> tuple[Geo | None, FixedMap | None, str]:
    """The service's trusted-peer ``geo``, its X-Forwarded-For ``map`` and the X-Forwarded-For value to send."""
    if not svc.trusted_proxies:
        return None, None, "$remote_addr"
    geo = Geo(trusted_var(svc), tuple(svc.trusted_proxies))
    xff = FixedMap(f"${geo.result}", f"${forwarded_for_var(svc)}",
                   (('"1"', '"$ctl_xff_in$realip_remote_addr"'), ("default", "$remote_addr")))
    return geo, xff, xff.result
