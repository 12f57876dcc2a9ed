"""The complete view of one HAProxy proxy: every decision, as plain data.

Owns the process-wide settings (master-worker friendly ``global``: no
``daemon``, the admin socket with ``expose-fd listeners`` for seamless
reloads, ``hard-stop-after`` = the model's ``drain_timeout``, workers
switching to the model's user and group inside an empty ``chroot`` when the
master runs as root (nothing is read from disk after start: certificates,
error pages and the server-state file are read by the master), Mozilla-
intermediate TLS defaults including its key-exchange groups, logging to
stderr at ``info`` so every request is logged), the ``defaults`` (its error
pages: HAProxy's own 503 "no server available" answers 502 like NGINX's "no
live upstreams", and a request header timeout closes the connection without
an answer, as NGINX does), the cache sections, the admin and metrics
listeners (the latter HAProxy's built-in Prometheus exporter), and which pools
and services belong to the proxy. Frontends and backends are built by
``haproxy_frontend`` and ``haproxy_backend`` (the rules frontends share, by
``haproxy_shared``); the crt-list files by
``crt_lists`` here. Templates only print what this module returns.
"""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple

from pathlib import Path

from ctlplane.errors import Finding, RenderError
from ctlplane.model.assets import Assets, CertAsset
from ctlplane.model.auth import AdminAuth
from ctlplane.model.proxy import Proxy
from ctlplane.model.root import Model
from ctlplane.model.routing import service_pools
from ctlplane.model.service import HttpService, TcpService
from ctlplane.model.types import format_duration
from ctlplane.render.haproxy_auth import AuthCheck, UserList, listener_check
from ctlplane.render.haproxy_backend import Backend, build_backend, server_address
from ctlplane.render.haproxy_shared import SharedRules, share_rules
from ctlplane.render.haproxy_frontend import Frontend, build_frontend, cache_name, needs_notfound
from ctlplane.render.haproxy_listen import cert_path, crt_list_path, from_cwd

# Mozilla's intermediate profile (guidelines v5.7); the DHE ciphers use the ffdhe2048 group that
# tune.ssl.default-dh-param 2048 selects. The client's cipher order wins (server_preferred_order: false).
SSL_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)
SSL_CIPHERSUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
SSL_BIND_OPTIONS = "prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets"
SSL_CURVES = "X25519:P-256:P-384"  # Mozilla intermediate: X25519, prime256v1, secp384r1
STATS_SOCKET = "unix@run/admin.sock"  # relative to the working directory; a bare relative path would be read as host
PEERS_SECTION, LOCAL_PEER = "ctl_reload", "ctlplane"
CHROOT = "/var/lib/haproxy"  # empty and root-owned in Debian's haproxy package and the official images
_BAD_GATEWAY = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>\n"
ERROR_PAGES = {
    # HAProxy's "no server available" (503) is NGINX's "no live upstreams" (502) for the same model.
    503: b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: %d\r\nCache-Control: no-cache\r\n"
         b"Connection: close\r\n\r\n%s" % (len(_BAD_GATEWAY), _BAD_GATEWAY),
    # NGINX closes a connection whose request header did not arrive in time without answering; so does HAProxy.
    408: b"",
}
_UNAVAILABLE = b"<html><head><title>503 Service Unavailable</title></head><body><h1>503 Service Unavailable</h1>" \
    b"</body></html>\n"
EMPTY_POOL_ANSWER = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                     b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n%s" % (len(_UNAVAILABLE), _UNAVAILABLE))
_CRT_LIST_WORD = re.compile(r"[A-Za-z0-9*._/-]+")
_MIB = 1024 * 1024


class GlobalView(NamedTuple):
    user: tuple[str, str] | None  # (user, group) of the workers when the master runs as root
    chroot: str | None
    maxconn: int
    nbthread: int | None
    stats_socket: str
    hard_stop_after: str
    log_level: str
    ssl_ciphers: str
    ssl_ciphersuites: str
    ssl_bind_options: str
    ssl_curves: str


class PeersView(NamedTuple):
    """The local ``peers`` section: at a reload the old workers teach the new ones their stick tables (the
    per-client counters), as NGINX keeps its zones. Its listener is an abstract socket named after the state
    directory (nothing on disk the chrooted workers would have to reach, unique per proxy on the host)."""

    section: str
    local_peer: str
    address: str


class DefaultsView(NamedTuple):
    timeout_connect: str
    timeout_client: str
    timeout_server: str
    timeout_http_request: str
    timeout_http_keep_alive: str
    retries: int
    error_pages: tuple[tuple[int, str], ...]  # (status, path from the working directory)


class CacheView(NamedTuple):
    """A ``cache`` section: size in MiB (rounded up), max-age in seconds (rounded up)."""

    name: str
    total_max_mb: int
    max_age_s: int


class AdminView(NamedTuple):
    address: str  # a loopback address, or any with auth (the model refuses others)
    auth: AuthCheck | None = None  # basic auth of the stats / metrics (not of /healthz)


class CrtListEntry(NamedTuple):
    """One crt-list line: the combined PEM path and the SNI names it serves (empty: the certificate's own)."""

    path: str
    hosts: tuple[str, ...]


class View(NamedTuple):
    global_: GlobalView
    defaults: DefaultsView
    caches: tuple[CacheView, ...]
    frontends: tuple[Frontend, ...]
    backends: tuple[Backend, ...]
    notfound: bool
    admin: AdminView | None
    metrics: AdminView | None  # the Prometheus exporter's listener, or None
    peers: PeersView | None  # only when a frontend counts a client's requests (conn_cur is never handed over)
    userlists: tuple[UserList, ...] = ()  # htpasswd files (haproxy_auth; set from the assets by the renderer)
    shared_rules: tuple[SharedRules, ...] = ()  # named defaults sections of the frontends' common rules


def services_of(model: Model, proxy: Proxy) -> list[HttpService | TcpService]:
    return [model.service(name) for name in proxy.services]


def pools_of(svc: HttpService | TcpService) -> list[str]:
    return service_pools(svc)


def error_page_path(status: int) -> str:
    return f"errors/{status}.http"


def build_view(model: Model, proxy: Proxy, root_master: bool = False, state_dir: Path | None = None) -> View:
    services = services_of(model, proxy)
    users: dict[str, list[HttpService | TcpService]] = {}
    for svc in services:
        for name in pools_of(svc):
            users.setdefault(name, []).append(svc)
    backends = tuple(build_backend(pool, users[pool.name]) for pool in model.pools if pool.name in users)
    frontends, shared = share_rules(tuple(build_frontend(s, log=proxy.access_log) for s in services))
    return View(
        global_=_global(proxy, root_master),
        defaults=DefaultsView("5s", "60s", "60s", "10s", "60s", 2,
                              tuple((status, from_cwd(error_page_path(status))) for status in sorted(ERROR_PAGES))),
        caches=tuple(_cache(s) for s in services if isinstance(s, HttpService) and s.cache),
        frontends=frontends,
        backends=backends,
        notfound=any(needs_notfound(s) for s in services),
        admin=_listener(proxy.admin.address, proxy.admin.port, proxy.admin.auth) if proxy.admin else None,
        metrics=_listener(proxy.metrics.address, proxy.metrics.port, proxy.metrics.auth) if proxy.metrics else None,
        peers=reload_peers(proxy, state_dir) if any(_counts_rates(fe) for fe in frontends) else None,
        shared_rules=shared,
    )


def _counts_rates(fe: Frontend) -> bool:
    """The frontend keeps a request rate per client (its service's, or a route's own limits)."""
    tables = fe.policies.tables if fe.policies else ()
    return bool(fe.limits and fe.limits.rate_window) or any(r.limits and r.limits.rate_window for r in tables)


def reload_peers(proxy: Proxy, state_dir: Path | None) -> PeersView:
    """The local peer of ``proxy``: its abstract socket's name digests the state directory (the proxy's name
    when there is none), so two proxies on one host never share it."""
    digest = hashlib.sha256(str(state_dir or proxy.name).encode()).hexdigest()[:16]
    return PeersView(PEERS_SECTION, LOCAL_PEER, f"abns@ctlplane-peers-{digest}")


def _global(proxy: Proxy, root_master: bool) -> GlobalView:
    return GlobalView(
        user=(proxy.user, proxy.group) if root_master else None,
        chroot=CHROOT if root_master else None,
        maxconn=proxy.max_connections,
        nbthread=proxy.workers if isinstance(proxy.workers, int) else None,
        stats_socket=STATS_SOCKET,
        hard_stop_after=format_duration(proxy.drain_timeout),
        log_level="info",
        ssl_ciphers=SSL_CIPHERS,
        ssl_ciphersuites=SSL_CIPHERSUITES,
        ssl_bind_options=SSL_BIND_OPTIONS,
        ssl_curves=SSL_CURVES,
    )


def _listener(address: str, port: int, auth: AdminAuth | None = None) -> AdminView:
    return AdminView(server_address(address, port), listener_check(auth))


def _cache(svc: HttpService) -> CacheView:
    assert svc.cache is not None
    mb = max(1, -(-svc.cache.max_size // _MIB))
    return CacheView(cache_name(svc.name), mb, max(1, -(-svc.cache.valid // 1000)))


def crt_lists(model: Model, proxy: Proxy, assets: Assets) -> dict[str, tuple[CrtListEntry, ...]]:
    """crt-list path -> its entries, for every TLS service of the proxy, certificates in model order."""
    lists: dict[str, tuple[CrtListEntry, ...]] = {}
    for svc in services_of(model, proxy):
        if not isinstance(svc, HttpService) or svc.tls is None:
            continue
        entries = []
        for i in range(len(svc.tls.certificates)):
            asset = _asset(assets, svc.name, i)
            entries.append(CrtListEntry(from_cwd(cert_path(svc.name, i)), asset.hosts))
        lists[crt_list_path(svc.name)] = tuple(entries)
    return lists


def cert_files(model: Model, proxy: Proxy, assets: Assets) -> dict[str, bytes]:
    """Relative path -> certificate chain followed by its private key (HAProxy's combined PEM)."""
    files: dict[str, bytes] = {}
    for svc in services_of(model, proxy):
        if not isinstance(svc, HttpService) or svc.tls is None:
            continue
        for i in range(len(svc.tls.certificates)):
            asset = _asset(assets, svc.name, i)
            chain = asset.cert_pem if asset.cert_pem.endswith(b"\n") else asset.cert_pem + b"\n"
            files[cert_path(svc.name, i)] = chain + asset.key_pem
    return files


def _asset(assets: Assets, svc_name: str, index: int) -> CertAsset:
    try:
        return assets.certs[(svc_name, index)]
    except KeyError as exc:
        raise RenderError("certificate not read", [Finding(
            f"service {svc_name!r} certificate {index} was not read (read_assets first)", source="haproxy")]) from exc


def crt_list_word(value: object) -> str:
    """A crt-list token: crt-list lines have no quoting, so only a plain path or host name passes."""
    text = value if isinstance(value, str) else ""
    if not _CRT_LIST_WORD.fullmatch(text):
        raise RenderError("refusing to print a value into haproxy crt-list",
                          [Finding(f"not a plain token: {value!r}", source="haproxy")])
    return text
