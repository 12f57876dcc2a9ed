"""HAProxy frontends: one ``frontend fe_<service>`` per service of the proxy.

Owns the client, request header and keep-alive timeouts (the backends read a request body
before contacting a server, like NGINX, except gRPC pools whose requests are
streams: ``haproxy_backend``), the
access log, the forwarded
headers (the same as NGINX's: X-Forwarded-For replaced unless the peer is a
trusted proxy, X-Real-IP, X-Forwarded-Proto/-Host/-Port), compression
(text/html always, as NGINX), the cache rules (no request with a cookie, no
answer setting one; HAProxy itself skips Authorization, HTTP/1.0, non-GET and
answers without lifetime or validator), hidden response headers (Server and
X-Powered-By always), and the routing rules (a host also matches as an
absolute name with a final dot, which NGINX strips; a path prefix matches the
decoded path with its slashes merged, as NGINX's locations, and a service with path routes refuses a
path NGINX would resolve: a dot segment, an undecodable %XX) in the engine-neutral order
of ``ctlplane.model.routing.ordered_routes`` (first match wins). Who the
client is, access lists, limits and the body limit are ``haproxy_rules``'s.
The listening side (the binds, the HTTPS redirect, HSTS) is ``haproxy_listen``'s.
A service without a default pool falls through to the ``notfound`` backend
(404). Authentication: ``haproxy_auth``. Client certificates (``tls.client_ca``): see ``tls_files``. The
request id and the model's headers: see ``haproxy_headers``. Behind the PROXY protocol
(``accept-proxy``) the ``tcp-request`` rules run at ``session`` time: ``connection`` rules would see the
balancer's address, not the client's. Route actions (redirect, respond,
rewrite) and the route pick they need are ``haproxy_actions``'s; per-route policies ``haproxy_policies``'s.
The first rules of three or more alike frontends move to a named defaults section: ``haproxy_shared``.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from ctlplane.model.service import HttpService, Route, TcpService
from ctlplane.model.types import format_duration
from ctlplane.render.access_log import HAPROXY_SAVE_VARS, haproxy_format
from ctlplane.render.backend_headers import ALWAYS_HIDDEN, ENGINE_CONTROL
from ctlplane.render.haproxy_actions import ROUTE_VAR, Actions, Pick, route_actions, route_picks
from ctlplane.render.haproxy_auth import AuthRules, auth_rules
from ctlplane.render.error_pages import haproxy_errorfiles, haproxy_intercepts, haproxy_page_of
from ctlplane.render.haproxy_backend import backend_name
from ctlplane.render.haproxy_listen import HOST_FETCH, Bind, binds, from_cwd, hsts, redirect_location
from ctlplane.render.haproxy_policies import Policies, has_route_policies, route_policies
from ctlplane.render.haproxy_headers import REQUEST_ID_RULES, SOURCES, HeaderRules, has_route_headers, header_rules
from ctlplane.render.haproxy_rules import BodyLimit, Limits, Trust, body_limits, limits, trust
from ctlplane.model.routing import ordered_routes
from ctlplane.render.tls_files import ClientVerify, client_verify

NOTFOUND_BACKEND = "notfound"
DECODED_PATH = "path,url_dec,regsub(/+,/,g)"  # as NGINX matches locations: decoded, slashes merged (dot segments,
# which NGINX resolves, are refused: strict_paths)
_CACHE_NAME_MAX = 32  # HAProxy 2.6 copies a cache name into char[33] and silently cuts a longer one


class Condition(NamedTuple):
    """One anonymous ACL ``{ <fetch> <match> <value> }``; ``header`` replaces ``fetch`` by ``req.fhdr(<header>,1)``:
    the header's first line only, as NGINX's ``$http_<name>`` (without the occurrence an ACL matches any line)."""

    fetch: str
    header: str | None
    match: str
    value: str
    alternative: str | None = None  # a second value that matches as well (printed with ``hq``)


class UseBackend(NamedTuple):
    backend: str
    conditions: tuple[Condition, ...]


class SetHeader(NamedTuple):
    """``http-request set-header <name> <value> [<cond>]``: all three are fixed strings chosen here."""

    name: str
    value: str
    cond: str


class Frontend(NamedTuple):
    name: str
    mode: str
    binds: tuple[Bind, ...]
    timeout_client: str
    timeout_request: str | None  # timeout http-request (HTTP)
    timeout_keep_alive: str | None  # timeout http-keep-alive (HTTP)
    trust: Trust | None
    deny_src: tuple[str, ...]
    allow_src: tuple[str, ...]
    limits: Limits | None
    body_limits: tuple[BodyLimit, ...]
    redirect_location: str | None  # a log-format of fixed parts and the TLS port
    set_headers: tuple[SetHeader, ...]
    cache: str | None
    compression_types: tuple[str, ...]
    hide_headers: tuple[str, ...]
    hsts: str | None
    routes: tuple[UseBackend, ...]
    default_backend: str
    log_format: str | None  # the access log's log-format (a fixed constant); None for TCP (option tcplog)
    save_vars: tuple[tuple[str, str], ...]  # (variable, fetch) saved at request time for log_format
    client: ClientVerify | None = None  # client-certificate verification: the 400 rules and the subject header
    l4_phase: str = "connection"  # tcp-request rules: "session" behind the PROXY protocol (they see its address)
    actions: Actions | None = None  # redirects, literal answers and path rewrites (haproxy_actions)
    route_picks: tuple[Pick, ...] = ()  # txn.ctl_route, once, for route actions and route headers
    resave_path: bool = False  # the log's path saved again after the path rewrites (the path the server got)
    request_id: tuple[tuple[str, str], ...] = ()  # (fetch, condition) of txn.ctl_rid: the client's, else generated
    headers: HeaderRules | None = None  # the model's request and response headers (haproxy_headers)
    auth: AuthRules | None = None  # basic auth (haproxy_auth)
    error_files: tuple[tuple[int, str], ...] = ()  # errorfile <status> <path>: the service's error pages
    intercepts: tuple[tuple[int, str], ...] = ()  # a backend answer with <status> replaced by <path>
    policies: Policies | None = None  # the routes' own access lists, limits, timeouts, cache (haproxy_policies)
    shared: str | None = None  # the named defaults section holding its first rules (haproxy_shared)
    strict_paths: bool = False  # path routes: a path that does not decode, or has a dot segment, is a 400
    hygiene: bool = False  # HTTP: Host required (HTTP/1.1), the client's X-Forwarded-Host and h2c upgrades dropped


def frontend_name(svc_name: str) -> str:
    return f"fe_{svc_name}"


def cache_name(svc_name: str) -> str:
    """``c_<service>``; HAProxy keeps at most 32 characters of a cache name, so a longer one becomes
    ``C_<first 21>_<8 hex of its SHA-256>`` (the capital C keeps it apart from every short name)."""
    name = f"c_{svc_name}"
    if len(name) <= _CACHE_NAME_MAX:
        return name
    return f"C_{svc_name[:21]}_{hashlib.sha256(svc_name.encode()).hexdigest()[:8]}"


def build_frontend(svc: HttpService | TcpService, log: str = "default") -> Frontend:
    """``log``: the proxy's access log format for HTTP requests (TCP connections keep ``option tcplog``)."""
    http = isinstance(svc, HttpService)
    model_routes = svc.routes if isinstance(svc, HttpService) else []
    routes = ordered_routes(svc) if isinstance(svc, HttpService) else ()
    conditions = {model_routes.index(r): _conditions(r) for r in routes}
    actions = route_actions(svc, conditions) if isinstance(svc, HttpService) else None
    picked = isinstance(svc, HttpService) and (actions is not None or has_route_headers(svc)
                                               or has_route_policies(svc))
    picks = route_picks(svc, conditions) if isinstance(svc, HttpService) and picked else ()
    save_vars = tuple(v for v in HAPROXY_SAVE_VARS if f"var({v[0]})" in haproxy_format(log)) if http else ()
    return Frontend(
        name=frontend_name(svc.name),
        mode="http" if http else "tcp",
        binds=binds(svc),
        timeout_client=format_duration(svc.timeouts.client),
        timeout_request=format_duration(svc.timeouts.request_header) if isinstance(svc, HttpService) else None,
        timeout_keep_alive=format_duration(svc.timeouts.keep_alive) if isinstance(svc, HttpService) else None,
        trust=trust(svc),
        deny_src=tuple(svc.access.deny),
        allow_src=tuple(svc.access.allow),
        limits=_limits(svc),
        body_limits=body_limits(svc, conditions) if isinstance(svc, HttpService) else (),
        redirect_location=redirect_location(svc) if isinstance(svc, HttpService) else None,
        set_headers=_forwarded(svc) if isinstance(svc, HttpService) else (),
        cache=cache_name(svc.name) if isinstance(svc, HttpService) and svc.cache else None,
        compression_types=_compression(svc),
        hide_headers=_hidden(svc.hide_response_headers) if isinstance(svc, HttpService) else (),
        hsts=hsts(svc) if isinstance(svc, HttpService) else None,
        routes=_use_backends(routes, model_routes, conditions, picked=picked),
        default_backend=_default_backend(svc),
        log_format=haproxy_format(log) if http else None,
        save_vars=save_vars,
        client=client_verify(svc.name, svc.tls, "pem", from_cwd("")) if isinstance(svc, HttpService) else None,
        l4_phase="session" if svc.listen.accept_proxy_protocol else "connection",
        actions=actions,
        resave_path=bool(actions and actions.rewrites) and any(v == "txn.ctl_path" for v, _ in save_vars),
        request_id=REQUEST_ID_RULES if http else (),
        headers=header_rules(svc) if isinstance(svc, HttpService) else None,
        route_picks=picks,
        auth=auth_rules(svc, conditions),
        error_files=haproxy_errorfiles(svc, from_cwd("")) if isinstance(svc, HttpService) else (),
        intercepts=haproxy_intercepts(svc, from_cwd("")) if isinstance(svc, HttpService) else (),
        policies=route_policies(svc, from_cwd("")) if isinstance(svc, HttpService) else None,
        strict_paths=any(r.path_prefix != "/" for r in model_routes),
        hygiene=http,
    )


def _use_backends(routes: tuple[Route, ...], model_routes: list[Route], conditions: dict[int, tuple[Condition, ...]],
                  picked: bool) -> tuple[UseBackend, ...]:
    """One ``use_backend`` per route with a pool, in precedence order; by the route picked (its index in
    ``txn.ctl_route``) when the service picks its route once (``haproxy_actions``)."""
    out = []
    for route in routes:
        j = model_routes.index(route)
        if route.pool is None:
            continue
        cond = (Condition(f"var({ROUTE_VAR})", None, "-m int", str(j)),) if picked else conditions[j]
        out.append(UseBackend(backend_name(route.pool), cond))
    return tuple(out)


def _limits(svc: HttpService | TcpService) -> Limits | None:
    """The limits, a refusal answered with the service's page of its status when there is one."""
    found = limits(svc)
    if found is None or not isinstance(svc, HttpService):
        return found
    return found._replace(page=haproxy_page_of(svc, found.status, from_cwd("")))


def needs_notfound(svc: HttpService | TcpService) -> bool:
    return isinstance(svc, HttpService) and svc.default_pool is None


def _compression(svc: HttpService | TcpService) -> tuple[str, ...]:
    """The model's types and text/html, which NGINX always compresses."""
    if not isinstance(svc, HttpService) or svc.compression is None:
        return ()
    return tuple(dict.fromkeys(["text/html", *svc.compression.types]))


def _hidden(headers: list[str]) -> tuple[str, ...]:
    """Server and X-Powered-By, NGINX's X-Accel-* control headers (NGINX ignores and hides them), then the
    model's headers, each once (case-insensitively)."""
    seen: dict[str, str] = {}
    for header in (*ALWAYS_HIDDEN, *ENGINE_CONTROL, *headers):
        seen.setdefault(header.lower(), header)
    return tuple(seen.values())


def _forwarded(svc: HttpService) -> tuple[SetHeader, ...]:
    """The headers the backends get, as NGINX sends them (X-Forwarded-For is the rule set's, see the template)."""
    return (
        SetHeader("X-Real-IP", "%[src]", ""),
        *_forwarded_proto(svc),
        SetHeader("X-Forwarded-Host", "%[req.hdr(host)]", "if { req.hdr(host) -m found }"),
        SetHeader("X-Forwarded-Port", "%[dst_port]", ""),
        SetHeader("X-Request-ID", SOURCES["request_id"], ""),
    )


def _forwarded_proto(svc: HttpService) -> tuple[SetHeader, ...]:
    if svc.tls is None:
        return (SetHeader("X-Forwarded-Proto", "http", ""),)
    if svc.tls.redirect_http_port is None:
        return (SetHeader("X-Forwarded-Proto", "https", ""),)
    return (SetHeader("X-Forwarded-Proto", "https", "if { ssl_fc }"),
            SetHeader("X-Forwarded-Proto", "http", "if !{ ssl_fc }"))


def _conditions(route: Route) -> tuple[Condition, ...]:
    """The route's host (also as an absolute name with a final dot, which NGINX strips), path and header."""
    conditions: list[Condition] = []
    if route.host is not None and route.host.startswith("*."):
        conditions.append(Condition(HOST_FETCH, None, "-m end", route.host[1:], route.host[1:] + "."))
    elif route.host is not None:
        conditions.append(Condition(HOST_FETCH, None, "-m str", route.host, route.host + "."))
    if route.path_prefix != "/":
        conditions.append(Condition(DECODED_PATH, None, "-m beg", route.path_prefix))
    if route.header is not None:
        conditions.append(Condition("", route.header.name, "-m str", route.header.value))
    return tuple(conditions)


def _default_backend(svc: HttpService | TcpService) -> str:
    if isinstance(svc, TcpService):
        return backend_name(svc.pool)
    return backend_name(svc.default_pool) if svc.default_pool else NOTFOUND_BACKEND
