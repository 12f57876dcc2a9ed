"""HAProxy frontends: one ``frontend fe_<service>`` per service of the proxy.

Owns the listening side: binds (TLS with a crt-list so each certificate
serves exactly its model host names, the first being the default; the plain
redirect port, whose redirect keeps host, path and query and names the TLS
port unless it is 443; ``v6only`` on IPv6 like NGINX), access lists (deny checked
before allow, both at connection time), per-client limits (a stick table
tracking the source; the request-rate limit refuses a client that sent more
than ``requests_per_second + burst`` requests in the last second), the
forwarding headers, compression, cache use, hidden response headers, HSTS,
and the routing rules in the engine-neutral order of
``ctlplane.render.routing.ordered_routes`` (first match wins). A service
without a default pool falls through to the ``notfound`` backend (404).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from ctlplane.state.layout import CONFIG_DIR
from ctlplane.model.service import HttpService, Route, TcpService
from ctlplane.model.types import format_duration
from ctlplane.render.access_log import HAPROXY_FORMAT, HAPROXY_SAVE_VARS
from ctlplane.render.haproxy_backend import backend_name, server_address
from ctlplane.render.routing import ordered_routes

NOTFOUND_BACKEND = "notfound"
_CACHE_NAME_MAX = 32  # HAProxy 2.6 copies a cache name into char[33] and silently cuts a longer one
_LIMIT_TABLE = ("100k", "30s")
_HOST_FETCH = "req.hdr(host),host_only"  # lowercase, port removed, IPv6 literals kept


@dataclass(frozen=True)
class Bind:
    """A ``bind`` line: ``address`` is ``addr:port``; ``crt_list`` a relative path (both printed with ``hq``)."""

    address: str
    crt_list: str | None
    tls13_only: bool
    v6only: bool


@dataclass(frozen=True)
class Condition:
    """One anonymous ACL ``{ <fetch> <match> <value> }``; ``header`` replaces ``fetch`` by ``req.fhdr(<header>)``."""

    fetch: str
    header: str | None
    match: str
    value: str


@dataclass(frozen=True)
class UseBackend:
    backend: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class SetHeader:
    """``http-request set-header <name> <value> [<cond>]``: all three are fixed strings chosen here."""

    name: str
    value: str
    cond: str


@dataclass(frozen=True)
class Limits:
    """Per-client tracking: the stick table's key type and stored counters, and the thresholds."""

    table_type: str
    table_size: str
    table_expire: str
    store: str
    conn_max: int | None
    rate_max: int | None
    status: int


@dataclass(frozen=True)
class Frontend:
    name: str
    mode: str
    binds: tuple[Bind, ...]
    timeout_client: str
    deny_src: tuple[str, ...]
    allow_src: tuple[str, ...]
    limits: Limits | None
    redirect_location: str | None  # a log-format of fixed parts and the TLS port
    set_headers: tuple[SetHeader, ...]
    cache: str | None
    compression_types: tuple[str, ...]
    hide_headers: tuple[str, ...]
    hsts: str | None
    routes: tuple[UseBackend, ...]
    default_backend: str
    log_format: str | None  # the JSON access log's log-format (a fixed constant), or None for option httplog
    save_vars: tuple[tuple[str, str], ...]  # (variable, fetch) saved at request time for log_format


def frontend_name(svc_name: str) -> str:
    return f"fe_{svc_name}"


def cache_name(svc_name: str) -> str:
    """``c_<service>``; HAProxy keeps at most 32 characters of a cache name, so a longer one becomes
    ``C_<first 21>_<8 hex of its SHA-256>`` (the capital C keeps it apart from every short name)."""
    name = f"c_{svc_name}"
    if len(name) <= _CACHE_NAME_MAX:
        return name
    return f"C_{svc_name[:21]}_{hashlib.sha256(svc_name.encode()).hexdigest()[:8]}"


def crt_list_path(svc_name: str) -> str:
    """Where the crt-list file is written, relative to the release directory."""
    return f"certs/{svc_name}.crtlist"


def from_cwd(rel: str) -> str:
    """A release file as HAProxy names it: relative to its working directory, the state directory."""
    return f"{CONFIG_DIR}/{rel}"


def cert_path(svc_name: str, index: int) -> str:
    return f"certs/{svc_name}-{index}.pem"


def build_frontend(svc: HttpService | TcpService, json_log: bool = False) -> Frontend:
    """``json_log``: HTTP requests are logged as JSON (``ctlplane.render.access_log``); TCP keeps tcplog."""
    http = isinstance(svc, HttpService)
    json_http = json_log and http
    return Frontend(
        name=frontend_name(svc.name),
        mode="http" if http else "tcp",
        binds=_binds(svc),
        timeout_client=format_duration(svc.timeouts.client),
        deny_src=tuple(svc.access.deny),
        allow_src=tuple(svc.access.allow),
        limits=_limits(svc),
        redirect_location=_redirect_location(svc) if isinstance(svc, HttpService) else None,
        set_headers=_forwarded_proto(svc) if isinstance(svc, HttpService) else (),
        cache=cache_name(svc.name) if isinstance(svc, HttpService) and svc.cache else None,
        compression_types=tuple(svc.compression.types) if isinstance(svc, HttpService) and svc.compression else (),
        hide_headers=tuple(svc.hide_response_headers) if isinstance(svc, HttpService) else (),
        hsts=_hsts(svc) if isinstance(svc, HttpService) else None,
        routes=tuple(_use_backend(r) for r in ordered_routes(svc)) if isinstance(svc, HttpService) else (),
        default_backend=_default_backend(svc),
        log_format=HAPROXY_FORMAT if json_http else None,
        save_vars=HAPROXY_SAVE_VARS if json_http else (),
    )


def needs_notfound(svc: HttpService | TcpService) -> bool:
    return isinstance(svc, HttpService) and svc.default_pool is None


def _is_v6(address: str) -> bool:
    return ipaddress.ip_address(address).version == 6


def _binds(svc: HttpService | TcpService) -> tuple[Bind, ...]:
    addr, v6 = svc.listen.address, _is_v6(svc.listen.address)
    tls = svc.tls if isinstance(svc, HttpService) else None
    if tls is None:
        return (Bind(server_address(addr, svc.listen.port), None, False, v6),)
    crt_list = from_cwd(crt_list_path(svc.name))
    binds = [Bind(server_address(addr, svc.listen.port), crt_list, tls.min_version == "1.3", v6)]
    if tls.redirect_http_port is not None:
        binds.append(Bind(server_address(addr, tls.redirect_http_port), None, False, v6))
    return tuple(binds)


def _limits(svc: HttpService | TcpService) -> Limits | None:
    lim = svc.limits
    if lim.connections_per_client is None and lim.requests_per_second is None:
        return None
    store = ["conn_cur"] if lim.connections_per_client is not None else []
    if lim.requests_per_second is not None:
        store.append("http_req_rate(1s)")
    rate = lim.requests_per_second + lim.burst if lim.requests_per_second is not None else None
    table_type = "ipv6" if _is_v6(svc.listen.address) else "ip"
    size, expire = _LIMIT_TABLE
    return Limits(table_type, size, expire, ",".join(store), lim.connections_per_client, rate, lim.status)


def _forwarded_proto(svc: HttpService) -> tuple[SetHeader, ...]:
    if svc.tls is None:
        return (SetHeader("X-Forwarded-Proto", "http", ""),)
    if svc.tls.redirect_http_port is None:
        return (SetHeader("X-Forwarded-Proto", "https", ""),)
    return (SetHeader("X-Forwarded-Proto", "https", "if { ssl_fc }"),
            SetHeader("X-Forwarded-Proto", "http", "if !{ ssl_fc }"))


def _redirect_location(svc: HttpService) -> str | None:
    """The HTTPS URL of a plain request: same host (port removed) on the TLS port, same path and query."""
    if svc.tls is None or svc.tls.redirect_http_port is None:
        return None
    port = "" if svc.listen.port == 443 else f":{svc.listen.port}"
    return f"https://%[{_HOST_FETCH}]{port}%[pathq]"


def _hsts(svc: HttpService) -> str | None:
    if svc.tls is None or svc.tls.hsts is None:
        return None
    hsts = svc.tls.hsts
    value = f"max-age={(hsts.max_age + 999) // 1000}"
    if hsts.include_subdomains:
        value += "; includeSubDomains"
    if hsts.preload:
        value += "; preload"
    return value


def _use_backend(route: Route) -> UseBackend:
    conditions: list[Condition] = []
    if route.host is not None and route.host.startswith("*."):
        conditions.append(Condition(_HOST_FETCH, None, "-m end", route.host[1:]))
    elif route.host is not None:
        conditions.append(Condition(_HOST_FETCH, None, "-m str", route.host))
    if route.path_prefix != "/":
        conditions.append(Condition("path", None, "-m beg", route.path_prefix))
    if route.header is not None:
        conditions.append(Condition("", route.header.name, "-m str", route.header.value))
    return UseBackend(backend_name(route.pool), tuple(conditions))


def _default_backend(svc: HttpService | TcpService) -> str:
    if isinstance(svc, TcpService):
        return backend_name(svc.pool)
    return backend_name(svc.default_pool) if svc.default_pool else NOTFOUND_BACKEND
