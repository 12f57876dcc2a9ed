"""NGINX authentication of one HTTP service: ``auth_basic`` and ``auth_request`` per location.

A location takes the authentication of the requests it serves (``routing.effective_auth`` of its terminal
route, the service's for the default pool and static content; header routes agree with it,
``model/engine_auth.py``). Both directives run in NGINX's access phase, after the access lists (a refused
address gets 403 with or without credentials, as on HAProxy) and the limits. A location that answers without
a backend (``return``: a 404, a redirect) answers before authentication; HAProxy does the same because it only
asks for credentials on requests a route or the default pool serves (``haproxy_auth``).

The Authorization header is not forwarded unless the auth says so: when some auth of the service removes it,
every server passes ``$ctl_authorization`` as Authorization (an empty value sends none) and each proxy
location sets it, to the client's header or to "" (in the location's rewrite phase, before an Upgrade request
is handed to the location's named twin, which keeps the value). Not in the server's rewrite phase: an
``auth_request`` sub-request runs that phase again and shares the variables, so it would undo a location's
"".

An authorization service is asked through an internal exact location ``/_ctlplane_auth_<n>`` of each server
(clients cannot reach it) that proxies the request's headers without its body, with X-Original-URI,
X-Original-Method and the forwarded headers, to ``http://<pool><path>``, never through the service's cache
(the sub-request has the request's URI: a cached answer would mix with the content's), over HTTP/1.1 with
``Connection: ""`` (the pool's keep-alive connections) and with the request id. A location using
``auth_request`` never uses the service's cache either: the authorization service may tell callers apart by
something the cache key and its Authorization/Cookie predicates do not see (an API key header, a client
certificate, a query token), so one caller's answer would be served to the next. Basic auth needs no such
switch: every request it lets through carries Authorization, which the cache never stores nor serves
(``nginx_forwarding``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ctlplane.model.auth import Auth, AuthRequest
from ctlplane.model.service import HttpService
from ctlplane.render import nginx_names as names
from ctlplane.render.auth_names import user_file

ENDPOINT = "/_ctlplane_auth_"


class LocationAuth(NamedTuple):
    """The directives of one location: realm and user file (basic), the internal location to ask (request),
    and whether the client's Authorization header is removed."""

    realm: str | None  # printed with nq
    user_file: str | None  # relative to the release directory, printed with nq
    request: str | None  # ENDPOINT<n>
    strip: bool
    cache_off: bool = False  # ``proxy_cache off``: asks an authorization service and the service caches


class AuthEndpoint(NamedTuple):
    """``location = <path>``: internal, proxies to ``http://<target><uri>`` (``uri``: a PathPrefix, nq)."""

    path: str
    target: str
    uri: str


@dataclass(frozen=True)
class AuthPlan:
    """The authentication pieces of one service: its endpoints and whether its servers carry
    ``$ctl_authorization``."""

    endpoints: tuple[AuthEndpoint, ...]
    strips: bool
    _numbers: tuple[tuple[AuthRequest, int], ...]
    cached: bool = False  # the service has a cache

    def location(self, auth: Auth | None) -> LocationAuth | None:
        if auth is None:
            return None
        request = None
        if auth.request is not None:
            request = f"{ENDPOINT}{dict(self._numbers)[auth.request]}"
        basic = auth.htpasswd is not None
        return LocationAuth(auth.basic_realm if basic else None, user_file(auth.htpasswd) if auth.htpasswd else None,
                            request, not auth.forward_authorization, request is not None and self.cached)


    def authorization(self, auth: LocationAuth | None) -> str | None:
        """What a proxy location sets ``$ctl_authorization`` to (None: the servers do not use it)."""
        if not self.strips:
            return None
        return '""' if auth is not None and auth.strip else "$http_authorization"


NO_AUTH = AuthPlan((), False, ())


def auth_plan(svc: HttpService) -> AuthPlan:
    auths = [a for a in (svc.auth, *(r.auth for r in svc.routes)) if a is not None]
    if not auths:
        return NO_AUTH
    requests = list(dict.fromkeys(a.request for a in auths if a.request is not None))
    endpoints = tuple(AuthEndpoint(f"{ENDPOINT}{n}", names.upstream_name(r.pool), r.path)
                      for n, r in enumerate(requests, start=1))
    return AuthPlan(endpoints, any(not a.forward_authorization for a in auths),
                    tuple((r, n) for n, r in enumerate(requests, start=1)), svc.cache is not None)
