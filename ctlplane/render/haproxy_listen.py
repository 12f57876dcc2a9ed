"""HAProxy frontends' listening side: the ``bind`` lines and what follows from TLS.

A plain service binds its addresses (``v4v6`` on '::', so that it is dual stack like NGINX's
``ipv6only=off``; ``accept-proxy`` behind the PROXY protocol). A TLS service binds its port with a crt-list
(each certificate serving exactly its model host names, the first being the default; ALPN h2 when the model
offers HTTP/2; TLS 1.3 only when asked; the client CA when client certificates are verified), and its plain
redirect port when it has one, whose redirect keeps host, path and query and names the TLS port unless it is
443. HSTS is the model's, in seconds. Paths are relative to HAProxy's working directory, the state directory
(:func:`from_cwd`).
"""

from __future__ import annotations

from typing import NamedTuple

from ctlplane.model.service import HttpService, TcpService
from ctlplane.render.haproxy_backend import server_address
from ctlplane.render.tls_files import client_verify
from ctlplane.state.layout import CONFIG_DIR

HOST_FETCH = "req.hdr(host),host_only"  # lowercase, port removed, IPv6 literals kept


class Bind(NamedTuple):
    """A ``bind`` line: ``address`` is ``addr:port``; ``crt_list`` a relative path (both printed with ``hq``)."""

    address: str
    crt_list: str | None
    alpn: str | None  # "h2,http/1.1" or "http/1.1" on TLS binds
    tls13_only: bool
    v4v6: bool  # '::': IPv4 clients too
    client_ca: str | None = None  # client certificates verified against this CA bundle (verify optional)
    accept_proxy: bool = False  # accept-proxy: every connection starts with a PROXY header


def crt_list_path(svc_name: str) -> str:
    """Where the crt-list file is written, relative to the release directory."""
    return f"certs/{svc_name}.crtlist"


def from_cwd(rel: str) -> str:
    """A release file as HAProxy names it: relative to its working directory, the state directory."""
    return f"{CONFIG_DIR}/{rel}"


def cert_path(svc_name: str, index: int) -> str:
    return f"certs/{svc_name}-{index}.pem"


def binds(svc: HttpService | TcpService) -> tuple[Bind, ...]:
    """The binds of every listen address (``listen.also`` adds some)."""
    return tuple(b for addr in svc.listen.addresses for b in _address_binds(svc, addr))


def _address_binds(svc: HttpService | TcpService, addr: str) -> tuple[Bind, ...]:
    dual, proxy = addr == "::", svc.listen.accept_proxy_protocol
    tls = svc.tls if isinstance(svc, HttpService) else None
    if tls is None:
        return (Bind(server_address(addr, svc.listen.port), None, None, False, dual, accept_proxy=proxy),)
    alpn = "h2,http/1.1" if tls.http2 else "http/1.1"
    crt_list = from_cwd(crt_list_path(svc.name))
    client = client_verify(svc.name, tls, "pem", from_cwd(""))
    found = [Bind(server_address(addr, svc.listen.port), crt_list, alpn, tls.min_version == "1.3", dual,
                  client.ca if client else None, proxy)]
    if tls.redirect_http_port is not None:
        found.append(Bind(server_address(addr, tls.redirect_http_port), None, None, False, dual, accept_proxy=proxy))
    return tuple(found)


def redirect_location(svc: HttpService) -> str | None:
    """The HTTPS URL of a plain request: same host (port removed) on the TLS port, same path and query."""
    if svc.tls is None or svc.tls.redirect_http_port is None:
        return None
    port = "" if svc.listen.port == 443 else f":{svc.listen.port}"
    return f"https://%[{HOST_FETCH}]{port}%[pathq]"


def hsts(svc: HttpService) -> str | None:
    if svc.tls is None or svc.tls.hsts is None:
        return None
    policy = svc.tls.hsts
    value = f"max-age={(policy.max_age + 999) // 1000}"
    if policy.include_subdomains:
        value += "; includeSubDomains"
    if policy.preload:
        value += "; preload"
    return value
