"""The view of one NGINX proxy: every decision behind ``nginx.conf``, as
immutable records (named tuples: a class of them is made in a sixth of a frozen
dataclass's time, which every command's start paid) the templates only loop
over and print.

Selects the proxy's services and the pools they use (in model order), builds
the upstreams, maps, zones and server blocks through the ``nginx_*`` modules,
and sizes the hash tables NGINX builds at start (server names, variables,
maps, proxy headers) so long names never fail the config test. The stream
module is loaded from a constant path, and only when a tcp service runs. The workers' user
(only when the master runs as root, ``Assets.root_masters``), the drain time after a reload,
the metrics server (``stub_status`` at /metrics) and the access log format are chosen here
too.
"""

from __future__ import annotations

from typing import NamedTuple

from ctlplane.model.assets import Assets
from ctlplane.model.auth import AdminAuth
from ctlplane.model.proxy import Proxy
from ctlplane.model.root import Model
from ctlplane.model.routing import service_pools
from ctlplane.model.service import HttpService, TcpService
from ctlplane.model.types import format_duration
from ctlplane.render.backend_headers import ENGINE_CONTROL
from ctlplane.render.access_log import (
    NGINX_FORMAT,
    NGINX_FORMAT_NAME,
    NGINX_MS_LARGE,
    NGINX_MS_MAPS,
    NGINX_MS_SMALL,
    NGINX_TEXT_FORMAT,
    NGINX_TEXT_NAME,
    MsMap,
)
from ctlplane.render.auth_names import user_file
from ctlplane.render.nginx_forwarding import CACHE_MAPS, FORWARD_MAPS, FixedMap, Geo
from ctlplane.render.nginx_http import CachePath, HttpServer, RedirectServer, http_service
from ctlplane.render.nginx_stream import StreamServer, stream_server
from ctlplane.render.nginx_upstream import MapBlock, Upstream, host_port, pool_names, sticky_maps, upstream

STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
MAX_NOFILE = 1_048_576  # Linux's default fs.nr_open: a worker may not raise its limit above it

MIME_TYPES = (
    ("text/html", "html htm"),
    ("text/css", "css"),
    ("text/plain", "txt"),
    ("text/xml", "xml"),
    ("text/csv", "csv"),
    ("text/markdown", "md"),
    ("application/javascript", "js mjs"),
    ("application/json", "json map"),
    ("application/manifest+json", "webmanifest"),
    ("application/wasm", "wasm"),
    ("application/pdf", "pdf"),
    ("application/zip", "zip"),
    ("application/gzip", "gz"),
    ("application/x-tar", "tar"),
    ("application/rss+xml", "rss"),
    ("application/atom+xml", "atom"),
    ("image/png", "png"),
    ("image/jpeg", "jpeg jpg"),
    ("image/gif", "gif"),
    ("image/webp", "webp"),
    ("image/avif", "avif"),
    ("image/svg+xml", "svg svgz"),
    ("image/x-icon", "ico"),
    ("font/woff", "woff"),
    ("font/woff2", "woff2"),
    ("font/ttf", "ttf"),
    ("font/otf", "otf"),
    ("audio/mpeg", "mp3"),
    ("audio/ogg", "ogg"),
    ("video/mp4", "mp4"),
    ("video/webm", "webm"),
)

_PROXY_HEADERS = ("Host", "X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                  "X-Forwarded-Port", "Upgrade", "Connection")
_BUILTIN_VARIABLES = 200  # roughly how many variables NGINX itself registers


class HashSizes(NamedTuple):
    server_names_bucket: int
    server_names_max: int
    variables_bucket: int
    variables_max: int
    map_bucket: int
    proxy_headers_bucket: int


class AccessLog(NamedTuple):
    """The fixed pieces of the access log (``ctlplane.render.access_log``): its format and the maps that turn
    NGINX's seconds into milliseconds."""

    name: str
    format: str
    escape: str  # "" or " escape=json"
    ms_maps: tuple[MsMap, ...]
    ms_small: str
    ms_large: str


TEXT_LOG = AccessLog(NGINX_TEXT_NAME, NGINX_TEXT_FORMAT, "", NGINX_MS_MAPS, NGINX_MS_SMALL, NGINX_MS_LARGE)
JSON_LOG = AccessLog(NGINX_FORMAT_NAME, NGINX_FORMAT, " escape=json", NGINX_MS_MAPS, NGINX_MS_SMALL,
                     NGINX_MS_LARGE)


class HttpBlock(NamedTuple):
    hashes: HashSizes
    mime_types: tuple[tuple[str, str], ...]
    tls_sessions: bool
    upstreams: tuple[Upstream, ...]
    fixed_maps: tuple[FixedMap, ...]  # forwarded headers, trusted peers' X-Forwarded-For, cache predicates
    geos: tuple[Geo, ...]  # which peers are trusted proxies, per service
    maps: tuple[MapBlock, ...]
    conn_zones: tuple[str, ...]
    req_zones: tuple[tuple[str, int], ...]
    caches: tuple[CachePath, ...]
    servers: tuple[HttpServer, ...]
    redirects: tuple[RedirectServer, ...]
    admin: str | None  # the admin listener, or None
    metrics: str | None  # the metrics listener (stub_status at /metrics), or None
    access_log: AccessLog
    off_zones: bool = False  # ctl_off_req / ctl_off_conn: keyed on "", they count nothing (nginx_policies)
    admin_auth: tuple[str, str] | None = None  # (realm, user file) of /status (/healthz stays open)
    metrics_auth: tuple[str, str] | None = None  # (realm, user file) of /metrics
    ignore_headers: tuple[str, ...] = ENGINE_CONTROL  # the backends' X-Accel-* are neither obeyed nor passed on


class StreamBlock(NamedTuple):
    upstreams: tuple[Upstream, ...]
    conn_zones: tuple[str, ...]
    servers: tuple[StreamServer, ...]


class NginxConf(NamedTuple):
    proxy: str
    load_modules: tuple[str, ...]
    user: tuple[str, str] | None  # (user, group) of the workers when the master runs as root, else None
    drain: str  # worker_shutdown_timeout
    workers: str
    rlimit_nofile: int
    worker_connections: int
    http: HttpBlock
    stream: StreamBlock | None


def _pool_names(svc: HttpService | TcpService) -> list[str]:
    return service_pools(svc)


def _bucket(lengths: list[int], default: int = 64) -> int:
    """A power-of-two bucket size holding at least two entries of the longest key (NGINX's element size)."""
    need = max([default] + [2 * (8 + ((n + 2 + 7) // 8) * 8) + 8 for n in lengths])
    size = 32
    while size < need:
        size *= 2
    return size


def _max_size(count: int, default: int) -> int:
    size = default
    while size < 4 * count:
        size *= 2
    return size


def _hashes(servers: tuple[HttpServer, ...], maps: tuple[MapBlock, ...]) -> HashSizes:
    hosts = {s.server_name for s in servers}
    variables = {m.result for m in maps}
    string_keys = [len(k) for m in maps for k, _ in m.entries if not k.startswith("~")]
    headers = [len(h) for s in servers for h in s.settings.hide_headers] + [len(h) for h in _PROXY_HEADERS]
    return HashSizes(
        server_names_bucket=_bucket([len(h) for h in hosts]),
        server_names_max=_max_size(len(hosts), 512),
        variables_bucket=_bucket([len(v) for v in variables]),
        variables_max=_max_size(len(variables) + _BUILTIN_VARIABLES, 1024),
        map_bucket=_bucket(string_keys),
        proxy_headers_bucket=_bucket(headers),
    )


def _all_tls(services: list[HttpService | TcpService]) -> dict[str, bool]:
    """Per pool: every service of the proxy that uses it terminates TLS (its persistence cookie can be Secure).
    One pass over the services (a per-pool scan was quadratic: 1,000 pools x 1,000 services)."""
    tls: dict[str, bool] = {}
    for svc in services:
        if isinstance(svc, HttpService):
            for name in set(_pool_names(svc)):
                tls[name] = tls.get(name, True) and svc.tls is not None
    return tls


def _listener_auth(auth: AdminAuth | None) -> tuple[str, str] | None:
    return (auth.realm, user_file(auth.htpasswd)) if auth else None


def nginx_view(model: Model, proxy: Proxy, assets: Assets) -> NginxConf:
    """Every decision behind one proxy's nginx.conf."""
    services = [model.service(name) for name in proxy.services]
    http_pools = {n for s in services if isinstance(s, HttpService) for n in _pool_names(s)}
    tcp_pools = {n for s in services if isinstance(s, TcpService) for n in _pool_names(s)}
    pools = {p.name: p for p in model.pools}
    http_upstreams = tuple(upstream(p, stream=False) for p in model.pools if p.name in http_pools)
    blocks = [http_service(s, pools, assets) for s in services if isinstance(s, HttpService)]
    secure = _all_tls(services)
    sticky = tuple(m for p in model.pools if p.name in http_pools for m in sticky_maps(p, secure.get(p.name, False)))
    caches = tuple(b.cache for b in blocks if b.cache)
    named = pool_names([p for p in model.pools if p.name in http_pools])
    maps = sticky + tuple(m for b in blocks for m in b.maps) + (named,)
    servers = tuple(srv for b in blocks for srv in b.servers)
    http = HttpBlock(
        hashes=_hashes(servers, maps),
        mime_types=MIME_TYPES,
        tls_sessions=any(isinstance(s, HttpService) and s.tls for s in services),
        upstreams=http_upstreams,
        fixed_maps=FORWARD_MAPS + tuple(b.forwarded_for for b in blocks if b.forwarded_for)
        + (CACHE_MAPS if caches else ()),
        geos=tuple(b.geo for b in blocks if b.geo),
        maps=maps,
        conn_zones=tuple(b.conn_zone for b in blocks if b.conn_zone) + tuple(z for b in blocks
                                                                           for z in b.route_conn_zones),
        req_zones=tuple(b.req_zone for b in blocks if b.req_zone) + tuple(z for b in blocks for z in b.route_req_zones),
        off_zones=any(b.off_zones for b in blocks),
        caches=caches,
        servers=servers,
        redirects=tuple(b.redirect for b in blocks if b.redirect),
        admin=host_port(proxy.admin.address, proxy.admin.port) if proxy.admin else None,
        metrics=host_port(proxy.metrics.address, proxy.metrics.port) if proxy.metrics else None,
        access_log=JSON_LOG if proxy.access_log == "json" else TEXT_LOG,
        admin_auth=_listener_auth(proxy.admin.auth if proxy.admin else None),
        metrics_auth=_listener_auth(proxy.metrics.auth if proxy.metrics else None),
    )
    tcp = [stream_server(s, model.pool(s.pool)) for s in services if isinstance(s, TcpService)]
    stream = None
    if tcp:
        stream = StreamBlock(
            upstreams=tuple(upstream(p, stream=True) for p in model.pools if p.name in tcp_pools),
            conn_zones=tuple(s.limit_conn[0] for s in tcp if s.limit_conn),
            servers=tuple(tcp),
        )
    return NginxConf(
        proxy=proxy.name,
        load_modules=(STREAM_MODULE,) if stream else (),
        user=(proxy.user, proxy.group) if assets.master_is_root(proxy.name) else None,
        drain=format_duration(proxy.drain_timeout),
        workers=str(proxy.workers),
        rlimit_nofile=min(2 * proxy.max_connections, MAX_NOFILE),
        worker_connections=proxy.max_connections,
        http=http,
        stream=stream,
    )
