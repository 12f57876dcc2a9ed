"""NGINX ``server`` blocks of one HTTP service and the http-level pieces it
needs (limit zones, cache path, route maps).

One server block per virtual host (``routing.virtual_hosts``, with every SNI
name of the service's certificates as an extra host); the catch-all one is the
``default_server`` with ``server_name _``. Each block gets the certificate
whose names match it (exact, then wildcard), else the service's first one,
and the service-wide settings: TLS profile (Mozilla intermediate with its
key-exchange groups, HTTP/2 unless the model turns it off), trusted proxies
(realip), access lists, limits (burst defaults to twice the rate), the request
body limit, timeouts (the request header's own, keep-alive), retries (never
after a response timeout: ``proxy_next_upstream_timeout`` is the server
timeout; upgraded connections their tunnel timeout, see ``nginx_locations``),
the forwarded headers (``nginx_forwarding``), compression, cache,
hidden headers (Server and X-Powered-By always), the model's request
headers (``nginx_headers``) and the service's error pages (``error_pages``).
A listener on '::' is dual stack (``ipv6only=off``, once per address, on the catch-all server).
``redirect_http_port`` adds a plain server on the same address answering 301
to HTTPS.
"""

from __future__ import annotations

from typing import NamedTuple, TypeVar

from ctlplane.errors import Finding, RenderError
from ctlplane.model.assets import Assets, CertAsset
from ctlplane.model.pool import Pool
from ctlplane.model.service import HttpService
from ctlplane.model.tls import Tls
from ctlplane.model.types import format_duration, format_size
from ctlplane.state.layout import CONFIG_DIR
from ctlplane.render import nginx_names as names
from ctlplane.render.error_pages import NginxPages, nginx_pages, with_pages
from ctlplane.render.nginx_forwarding import CACHE_BYPASS, CACHE_NO_STORE, FixedMap, Geo, trust
from ctlplane.render.nginx_auth import AuthEndpoint, auth_plan
from ctlplane.render.nginx_headers import Header
from ctlplane.render.nginx_policies import route_zones
from ctlplane.render.nginx_locations import (Chains, Inherited, Location, inherited, locations,
                                             with_upgrade_twins)
from ctlplane.render.nginx_upstream import MapBlock, host_port
from ctlplane.model.routing import host_matches, virtual_hosts
from ctlplane.render.tls_files import ClientVerify, client_verify, ocsp_file

# Mozilla's intermediate profile (guidelines v5.7): these ciphers for TLS 1.2, OpenSSL's TLS 1.3 suites, and
# the RFC 7919 ffdhe2048 group for the DHE ciphers (a public constant, written as DHPARAM_FILE).
CIPHERS_TLS12 = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)
DHPARAM_FILE = "dhparam.pem"
FFDHE2048 = b"""-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""
ECDH_CURVES = "X25519:prime256v1:secp384r1"  # Mozilla intermediate's key-exchange groups
T = TypeVar("T")


class TlsSettings(NamedTuple):
    protocols: str
    ciphers: str | None
    curves: str


class CacheSettings(NamedTuple):
    """The cache directives of a service: zone, lifetime of validator-only answers, key, and the fixed
    predicates (``proxy_cache_bypass`` / ``proxy_no_cache`` variables) that keep both engines' rules."""

    zone: str
    valid: str
    key: str
    bypass: tuple[str, ...]
    no_store: tuple[str, ...]


class Settings(NamedTuple):
    """Service-wide directives repeated in each of the service's server blocks."""

    tls: TlsSettings | None
    deny: tuple[str, ...]
    allow: tuple[str, ...]
    deny_all: bool
    trusted: tuple[str, ...]  # set_real_ip_from networks (real_ip_header X-Forwarded-For, recursive)
    forwarded_for: str  # the X-Forwarded-For value: $remote_addr, or the service's trusted-peer variable
    limit_conn: tuple[str, int] | None  # zone, connections
    limit_req: tuple[str, int] | None  # zone, burst
    limit_status: int | None
    max_body: str
    header_timeout: str
    keep_alive: str
    connect_timeout: str
    client_timeout: str
    server_timeout: str
    next_upstream: str  # "off" or the retry conditions
    next_upstream_tries: int | None
    next_upstream_timeout: str | None  # no retry once the server timeout has passed (never after a read timeout)
    gzip: bool
    gzip_types: tuple[str, ...]  # besides text/html, which NGINX always compresses
    gzip_min_length: int | None
    cache: CacheSettings | None
    hide_headers: tuple[str, ...]
    request_headers: tuple[Header, ...]  # the model's, after ctlplane's forwarded headers (nginx_headers)
    client: ClientVerify | None = None  # client-certificate verification (tls.client_ca)
    proxy_protocol: bool = False  # the client address from the PROXY header (realip, from any peer)
    authorization: bool = False  # Authorization sent as $ctl_authorization (some location removes it: nginx_auth)


class HttpServer(NamedTuple):
    listen: str
    listen_params: tuple[str, ...]
    server_name: str  # "_" for the catch-all
    cert: str | None
    key: str | None
    settings: Settings
    locations: tuple[Location, ...]
    upgrades: tuple[Location, ...] = ()  # named twins for requests carrying Upgrade (nginx_locations)
    also_listen: tuple[str, ...] = ()  # listen.also: the same listen line on these host:port
    auth_endpoints: tuple[AuthEndpoint, ...] = ()  # internal locations asking authorization services
    pages: NginxPages | None = None  # the service's error pages (render/error_pages.py)
    stapling: str | None = None  # the verified OCSP response stapled with this server's certificate

    @property
    def empty_answer(self) -> bool:
        """Some location reaches a pool without a regular server: the server needs ``@ctlplane_empty``."""
        return any(loc.empty_pool for loc in self.locations)


class RedirectServer(NamedTuple):
    """Plain HTTP answering 301 to HTTPS. No access lists: ``return`` runs before NGINX's access phase, so they
    would be dead config; a refused client is refused on the HTTPS listener it is sent to."""

    listen: str
    listen_params: tuple[str, ...]
    port_suffix: str  # ":8443", or "" for 443
    also_listen: tuple[str, ...] = ()  # listen.also: the same listen line on these host:port


class CachePath(NamedTuple):
    path: str
    zone: str
    max_size: str
    inactive: str


class ServiceBlocks(NamedTuple):
    """Everything one http service adds to the http block."""

    servers: tuple[HttpServer, ...]
    redirect: RedirectServer | None
    maps: tuple[MapBlock, ...]
    geo: Geo | None  # is the peer a trusted proxy
    forwarded_for: FixedMap | None  # the X-Forwarded-For value behind trusted proxies
    conn_zone: str | None
    req_zone: tuple[str, int] | None  # zone, rate per second
    cache: CachePath | None
    route_req_zones: tuple[tuple[str, int], ...] = ()  # routes' own limits (nginx_policies)
    route_conn_zones: tuple[str, ...] = ()
    off_zones: bool = False  # a route's limits leave out a kind its service limits: the empty-key zones


def cert_files(service: str, index: int) -> tuple[str, str]:
    return f"certs/{service}-{index}.crt", f"certs/{service}-{index}.key"


def _pick_cert(host: str | None, certs: list[CertAsset]) -> int:
    if host is None:
        return 0
    for i, cert in enumerate(certs):
        if host in cert.hosts:
            return i
    for i, cert in enumerate(certs):
        if any(h.startswith("*.") and host_matches(h, host) for h in cert.hosts):
            return i
    return 0


def _tls(tls: Tls) -> TlsSettings:
    if tls.min_version == "1.3":
        return TlsSettings("TLSv1.3", None, ECDH_CURVES)
    return TlsSettings("TLSv1.2 TLSv1.3", CIPHERS_TLS12, ECDH_CURVES)


def _settings(svc: HttpService, forwarded_for: str, authorization: bool, server_level: Inherited) -> Settings:
    limits, timeouts, retries = svc.limits, svc.timeouts, svc.retries
    conditions = " ".join(["error", "timeout"] + [f"http_{s}" for s in sorted(set(retries.on_status))])
    return Settings(
        tls=_tls(svc.tls) if svc.tls else None,
        deny=tuple(svc.access.deny),
        allow=tuple(svc.access.allow),
        deny_all=bool(svc.access.allow),
        trusted=tuple(svc.trusted_proxies),
        forwarded_for=forwarded_for,
        limit_conn=(names.bare("conn", svc.name), limits.connections_per_client)
        if limits.connections_per_client else None,
        limit_req=(names.bare("req", svc.name), limits.effective_burst) if limits.requests_per_second else None,
        limit_status=limits.status if limits.connections_per_client or limits.requests_per_second else None,
        max_body=format_size(svc.max_body_size),
        header_timeout=format_duration(timeouts.request_header),
        keep_alive=format_duration(timeouts.keep_alive),
        connect_timeout=format_duration(timeouts.connect),
        client_timeout=format_duration(timeouts.client),
        server_timeout=format_duration(timeouts.server),
        next_upstream=conditions if retries.attempts else "off",
        next_upstream_tries=retries.attempts + 1 if retries.attempts else None,
        next_upstream_timeout=format_duration(timeouts.server) if retries.attempts else None,
        gzip=svc.compression is not None,
        gzip_types=tuple(t for t in dict.fromkeys(svc.compression.types) if t != "text/html")
        if svc.compression else (),
        gzip_min_length=svc.compression.min_length if svc.compression else None,
        cache=_cache(svc),
        hide_headers=server_level.hide,
        request_headers=server_level.request,
        client=client_verify(svc.name, svc.tls, "crt"),
        proxy_protocol=svc.listen.accept_proxy_protocol,
        authorization=authorization,
    )


def _tunnel(svc: HttpService) -> str | None:
    """The tunnel timeout when upgraded connections need their own (it differs from the client or server one)."""
    t = svc.timeouts
    return None if t.tunnel == t.server == t.client else format_duration(t.tunnel)


def _cache(svc: HttpService) -> CacheSettings | None:
    if svc.cache is None:
        return None
    key = "$scheme$host$request_uri" if svc.cache.key == "host_uri" else "$request_uri"
    return CacheSettings(names.bare("cache", svc.name), format_duration(svc.cache.valid), key, CACHE_BYPASS,
                         CACHE_NO_STORE)


def listen_params(address: str, *, tls: bool, http2: bool, default: bool, proxy_protocol: bool = False) -> tuple[
        str, ...]:
    """``ssl`` / ``http2`` / ``proxy_protocol`` on every server of a listener; ``default_server`` and, on '::',
    ``ipv6only=off`` (dual stack; a socket option NGINX takes once per address) on the catch-all one."""
    params = (("ssl",) if tls else ()) + (("http2",) if http2 else ()) + (("proxy_protocol",) if proxy_protocol else ())
    if default:
        params += ("default_server",) + (("ipv6only=off",) if address == "::" else ())
    return params


def _hsts(tls: Tls | None) -> tuple[Header, ...]:
    if tls is None or tls.hsts is None:
        return ()
    value = f"max-age={tls.hsts.max_age // 1000}"
    value += "; includeSubDomains" if tls.hsts.include_subdomains else ""
    value += "; preload" if tls.hsts.preload else ""
    return (Header("Strict-Transport-Security", text=value),)


def _asset(table: dict[tuple[str, int], T], svc: HttpService, i: int, what: str) -> T:
    if (svc.name, i) not in table:
        raise RenderError("assets are missing",
                          [Finding(f"service {svc.name!r}: {what} {i} was not read", source="nginx")])
    return table[(svc.name, i)]


def http_service(svc: HttpService, pools: dict[str, Pool], assets: Assets) -> ServiceBlocks:
    certs = [_asset(assets.certs, svc, i, "certificate") for i in range(len(svc.tls.certificates))] if svc.tls else []
    sni = tuple(h for cert in certs for h in cert.hosts)
    roots = tuple(_asset(assets.static_roots, svc, i, "static root") for i in range(len(svc.static)))
    geo, xff, forwarded_for = trust(svc)
    plan = auth_plan(svc)
    server_level = inherited(svc)
    settings = _settings(svc, forwarded_for, plan.strips, server_level)
    chains = Chains(svc.name, pools, auth=plan)
    listen = host_port(svc.listen.address, svc.listen.port)
    http2 = bool(svc.tls and svc.tls.http2)
    pages = nginx_pages(svc, CONFIG_DIR, _hsts(svc.tls))
    servers = []
    for vhost in virtual_hosts(svc, extra_hosts=sni):
        params = listen_params(svc.listen.address, tls=svc.tls is not None, http2=http2, default=vhost.host is None,
                               proxy_protocol=svc.listen.accept_proxy_protocol)
        cert = key = stapling = None
        if svc.tls:
            picked = _pick_cert(vhost.host, certs)
            cert, key = cert_files(svc.name, picked)
            stapling = ocsp_file("nginx", svc.name, picked) if (svc.name, picked) in assets.ocsp else None
        locs = locations(svc, vhost, chains, roots, _hsts(svc.tls), server_level)
        locs, twins = with_upgrade_twins(locs, _tunnel(svc))
        servers.append(HttpServer(listen, params, vhost.host or "_", cert, key, settings, with_pages(locs, pages),
                                  with_pages(twins, pages), pages=pages, auth_endpoints=plan.endpoints,
                                  also_listen=tuple(host_port(a, svc.listen.port) for a in svc.listen.also),
                                  stapling=stapling))
    redirect = None
    if svc.tls and svc.tls.redirect_http_port:
        suffix = "" if svc.listen.port == 443 else f":{svc.listen.port}"
        redirect = RedirectServer(host_port(svc.listen.address, svc.tls.redirect_http_port),
                                  listen_params(svc.listen.address, tls=False, http2=False, default=True,
                                                proxy_protocol=svc.listen.accept_proxy_protocol), suffix,
                                  tuple(host_port(a, svc.tls.redirect_http_port) for a in svc.listen.also))
    route_req, route_conn, off = route_zones(svc)
    cache = None
    if svc.cache:
        inactive = format_duration(max(svc.cache.valid, 600_000))
        cache = CachePath(f"cache/{svc.name}", names.bare("cache", svc.name), format_size(svc.cache.max_size),
                          inactive)
    return ServiceBlocks(
        servers=tuple(servers),
        redirect=redirect,
        maps=tuple(chains.maps),
        geo=geo,
        forwarded_for=xff,
        conn_zone=settings.limit_conn[0] if settings.limit_conn else None,
        req_zone=(names.bare("req", svc.name), svc.limits.requests_per_second)
        if svc.limits.requests_per_second else None,
        cache=cache,
        route_req_zones=route_req, route_conn_zones=route_conn, off_zones=off,
    )
