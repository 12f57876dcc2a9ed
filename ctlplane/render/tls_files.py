"""TLS to a pool's servers and client-certificate verification, for both engines: where the files go in a
release, and what each engine is told.

Files (copied into the release like a service's certificates, keys 0600): a pool's CA bundle, its client
certificate and key (NGINX: two files; HAProxy: one combined PEM), a service's client CA bundle, and the OCSP
responses ctlplane fetched and verified for ``tls.ocsp_stapling`` (``ocsp_file``; NGINX staples it with
``ssl_stapling_file``, HAProxy loads ``<certificate>.ocsp`` beside the certificate at start).

NGINX, per location (``proxy_pass https://`` and ``proxy_ssl_*``) or stream server (``proxy_ssl on``):
TLS 1.2 and 1.3 as HAProxy's servers default to, ``proxy_ssl_verify on`` with the CA, a verify depth of 100
(OpenSSL's default, HAProxy's; NGINX's own default of 1 would refuse a server certificate from an
intermediate CA), the name checked and sent in SNI. HAProxy, on the backend's ``default-server`` line (so
that servers added through the runtime API find the CA already loaded): ``ssl verify required ca-file …
verifyhost NAME sni str(NAME)`` or ``ssl verify none``, ``crt`` for the client certificate, and
``check-sni NAME`` (health checks take the server's TLS settings, but not its ``sni`` expression).

Client certificates on a TLS listener: NGINX ``ssl_verify_client on | optional`` (NGINX completes the
handshake and answers 400 to a missing required certificate or one that does not verify), HAProxy ``verify
optional`` with verification errors kept for its rules (``ca-ignore-err all crt-ignore-err all``), which
answer the same 400: both engines refuse after the handshake, never in it. The subject reaches the backend
as RFC 2253 on both (NGINX ``$ssl_client_s_dn``, HAProxy ``ssl_c_s_dn(,0,rfc2253)``, both OpenSSL's
``XN_FLAG_RFC2253``).
"""

from __future__ import annotations

from typing import NamedTuple

from ctlplane.errors import Finding, RenderError
from ctlplane.model.assets import Assets
from ctlplane.model.pool import Pool
from ctlplane.model.proxy import Proxy
from ctlplane.model.root import Model
from ctlplane.model.routing import service_pools
from ctlplane.model.service import HttpService, TcpService
from ctlplane.model.tls import CLIENT_SUBJECT_HEADER, Tls
from ctlplane.render import RenderedFile

VERIFY_DEPTH = 100  # OpenSSL's default, which HAProxy keeps


class NginxUpstreamTls(NamedTuple):
    """The ``proxy_ssl_*`` settings of a location or stream server reaching a TLS pool (paths relative)."""

    trusted: str | None  # CA bundle: verify on
    name: str | None  # proxy_ssl_name, with proxy_ssl_server_name on
    cert: str | None
    key: str | None
    depth: int = VERIFY_DEPTH


class ClientVerify(NamedTuple):
    """Client-certificate verification on a TLS listener."""

    ca: str  # the CA bundle's path, relative to the release
    required: bool
    header: str  # a HeaderName, carrying the subject
    depth: int = VERIFY_DEPTH


def pool_file(pool: str, what: str) -> str:
    """``ca.crt``, ``client.crt``, ``client.key`` (NGINX), ``ca.pem``, ``client.pem`` (HAProxy)."""
    return f"certs/pools/{pool}-{what}"


def ocsp_file(engine: str, service: str, index: int) -> str:
    """The OCSP response stapled for a service's certificate: NGINX's ``ssl_stapling_file``, HAProxy's
    ``<combined PEM>.ocsp`` beside ``certs/<service>-<index>.pem`` (loaded with it at start)."""
    return f"certs/{service}-{index}.ocsp" if engine == "nginx" else f"certs/{service}-{index}.pem.ocsp"


def client_ca_file(service: str, ext: str) -> str:
    return f"certs/{service}-client-ca.{ext}"


def client_verify(service: str, tls: Tls | None, ext: str, prefix: str = "") -> ClientVerify | None:
    if tls is None or tls.client_ca is None:
        return None
    return ClientVerify(prefix + client_ca_file(service, ext), tls.client_verify != "optional",
                        tls.client_subject_header or CLIENT_SUBJECT_HEADER)


def nginx_upstream_tls(pool: Pool) -> NginxUpstreamTls | None:
    tls = pool.tls
    if tls is None:
        return None
    verified = tls.verify != "none"
    client = tls.client_cert is not None
    return NginxUpstreamTls(pool_file(pool.name, "ca.crt") if verified else None, tls.sni,
                            pool_file(pool.name, "client.crt") if client else None,
                            pool_file(pool.name, "client.key") if client else None)


def haproxy_server_tls(pool: Pool, prefix: str, checked: bool) -> tuple[tuple[str, str, bool], ...]:
    """The ``default-server`` options of a TLS pool, as (keyword, value, quoted): a quoted value is printed with
    ``hq`` (paths relative to the working directory: ``prefix`` is the release directory)."""
    tls = pool.tls
    if tls is None:
        return ()
    options: list[tuple[str, str, bool]] = [("ssl", "", False)]
    if tls.verify == "none":
        options.append(("verify", "none", False))
    else:
        assert tls.sni is not None  # the model requires it with a CA
        options += [("verify", "required", False), ("ca-file", prefix + pool_file(pool.name, "ca.pem"), True),
                    ("verifyhost", tls.sni, True)]
    if tls.sni is not None:
        options.append(("sni", f"str({tls.sni})", True))
        if checked:
            options.append(("check-sni", tls.sni, True))
    if tls.client_cert is not None:
        options.append(("crt", prefix + pool_file(pool.name, "client.pem"), True))
    return tuple(options)


def tls_files(model: Model, proxy: Proxy, assets: Assets) -> dict[str, RenderedFile]:
    """The TLS files of the proxy's pools and of its services' client CAs."""
    engine = proxy.engine
    files: dict[str, RenderedFile] = {}
    with_tls = [pool for pool in model.pools if pool.tls is not None]
    used = {name for s in proxy.services for name in _pools_of(model.service(s))} if with_tls else set()
    for pool in with_tls:
        if pool.name not in used:
            continue
        asset = assets.pool_tls.get(pool.name)
        if asset is None:
            raise RenderError("TLS files not read", [Finding(f"pool {pool.name!r}: read_assets first", source=engine)])
        if asset.ca_pem is not None:
            files[pool_file(pool.name, "ca.crt" if engine == "nginx" else "ca.pem")] = RenderedFile(asset.ca_pem)
        if asset.client_cert_pem is not None and asset.client_key_pem is not None:
            if engine == "nginx":
                files[pool_file(pool.name, "client.crt")] = RenderedFile(asset.client_cert_pem)
                files[pool_file(pool.name, "client.key")] = RenderedFile(asset.client_key_pem, 0o600)
            else:
                chain = asset.client_cert_pem if asset.client_cert_pem.endswith(b"\n") else \
                    asset.client_cert_pem + b"\n"
                files[pool_file(pool.name, "client.pem")] = RenderedFile(chain + asset.client_key_pem, 0o600)
    for (name, index), der in assets.ocsp.items():
        if name in proxy.services:
            files[ocsp_file(engine, name, index)] = RenderedFile(der)
    for name in proxy.services:
        if name in assets.client_cas:
            files[client_ca_file(name, "crt" if engine == "nginx" else "pem")] = RenderedFile(assets.client_cas[name])
    return files


def _pools_of(svc: HttpService | TcpService) -> list[str]:
    return service_pools(svc)
