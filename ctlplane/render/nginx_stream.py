"""The NGINX ``stream`` servers of TCP services.

A tcp service becomes one ``server`` in the stream block: its listener, the
pool's upstream, connect timeout, access lists and per-client connection
limit. NGINX's stream proxy has a single inactivity timeout for both
directions (``proxy_timeout``); it takes the longer of the model's client and
server timeouts so that neither side is cut earlier than the model allows.
A pool with ``tls`` gets ``proxy_ssl on`` and the ``proxy_ssl_*`` settings of ``tls_files``. A listener
accepting the PROXY protocol takes the client address from it (``set_real_ip_from`` every address: any
peer may send it, as on HAProxy); a pool sending it gets ``proxy_protocol on`` (version 1).
Retries map to ``proxy_next_upstream`` on/off and its number of tries. A
listener on '::' is dual stack (``ipv6only=off``), as on HAProxy (``v4v6``).
"""

from __future__ import annotations

from typing import NamedTuple

from ctlplane.model.pool import Pool
from ctlplane.model.service import TcpService
from ctlplane.model.types import format_duration
from ctlplane.render import nginx_names as names
from ctlplane.render.nginx_upstream import host_port
from ctlplane.render.tls_files import NginxUpstreamTls, nginx_upstream_tls


class StreamServer(NamedTuple):
    listen: str
    listen_params: tuple[str, ...]  # ("ipv6only=off",) on '::' (dual stack)
    upstream: str
    deny: tuple[str, ...]
    allow: tuple[str, ...]
    deny_all: bool
    limit_conn: tuple[str, int] | None  # zone, connections
    connect_timeout: str
    timeout: str
    next_upstream: str  # on | off
    next_upstream_tries: int | None
    tls: NginxUpstreamTls | None = None  # TLS to the servers: proxy_ssl on and the proxy_ssl_* settings
    accept_proxy: bool = False  # listen ... proxy_protocol, the client address from it (realip)
    send_proxy: bool = False  # proxy_protocol on (version 1) towards the servers
    also_listen: tuple[str, ...] = ()  # listen.also: the same listen line on these host:port


def stream_server(svc: TcpService, pool: Pool) -> StreamServer:
    limit = svc.limits.connections_per_client
    return StreamServer(
        listen=host_port(svc.listen.address, svc.listen.port),
        listen_params=(("ipv6only=off",) if svc.listen.address == "::" else ())
        + (("proxy_protocol",) if svc.listen.accept_proxy_protocol else ()),
        upstream=names.upstream_name(svc.pool),
        deny=tuple(svc.access.deny),
        allow=tuple(svc.access.allow),
        deny_all=bool(svc.access.allow),
        limit_conn=(names.bare("conn", svc.name), limit) if limit else None,
        connect_timeout=format_duration(svc.timeouts.connect),
        timeout=format_duration(max(svc.timeouts.client, svc.timeouts.server)),
        next_upstream="on" if svc.retries.attempts else "off",
        next_upstream_tries=svc.retries.attempts + 1 if svc.retries.attempts else None,
        tls=nginx_upstream_tls(pool),
        accept_proxy=svc.listen.accept_proxy_protocol,
        send_proxy=pool.send_proxy_protocol is not None,  # v1: v2 is refused (model/engine_protocols.py)
        also_listen=tuple(host_port(a, svc.listen.port) for a in svc.listen.also),
    )
