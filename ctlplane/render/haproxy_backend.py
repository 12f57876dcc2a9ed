"""HAProxy backends: one ``backend be_<pool>`` per pool used by the proxy.

Owns every decision about a pool on HAProxy: the balance algorithm, active
and passive health checks, persistence, connection reuse, the servers'
lines, and the backend-level timeouts and retries (HAProxy keeps these per
backend, so they come from the services using the pool; ``engines.py``
refuses services that share a pool but disagree). Server names are the
model's, so the runtime API can address ``be_<pool>/<server>``. A server in
``drain`` gets weight 0: no new clients, but clients stuck to it by a cookie
keep reaching it. Passive checks count failed connections only (``observe
layer4``), as NGINX's ``max_fails``; ``observe`` needs ``check``, so a server
taken out by real traffic comes back after a successful TCP connect check,
``window`` later (``inter``). Active HTTP checks are HTTP/1.1 with a Host
header. An ``h2c`` or ``grpc`` pool speaks HTTP/2 to its servers (``proto
h2``, its HTTP checks too). Source-IP persistence is ``balance source`` with
consistent hashing (stateless: it survives reloads and agrees across an HA pair, as NGINX's
``hash $remote_addr consistent``); the persistence cookie is HttpOnly,
SameSite=Lax, and Secure when every service using the pool is HTTPS. Retries
cover failed connections, empty answers and the listed statuses, never a
response timeout; with those retries a client's first request may take an
idle connection to a server too (``http-reuse always``, as NGINX's upstream
``keepalive``), else only its later ones (``safe``); ``timeout queue`` is the
model's, else 1 ms (no queue: a request finding every server at its ``max_connections`` is refused at once,
as on NGINX); ``timeout tunnel`` is the service's ``timeouts.tunnel`` (an
upgraded connection, a WebSocket, idle that long in both directions is closed;
it replaces the client and server timeouts once the backend answered 101).
An HTTP backend (not gRPC: a stream) reads a request body, up to one buffer, before it contacts a server,
as NGINX reads it all, waiting for it as long as the users' longest client timeout (``_body_wait``).
A pool with ``tls`` gets its TLS options on ``default-server`` (``tls_files``), one
sending the PROXY protocol ``send-proxy`` or ``send-proxy-v2`` (and ``check-send-proxy``).
The output is named tuples (immutable records); the templates only print them.
"""

from __future__ import annotations

from typing import NamedTuple

from ctlplane.errors import Finding, RenderError
from ctlplane.state.layout import CONFIG_DIR
from ctlplane.model.engines import backend_settings
from ctlplane.model.pool import Pool
from ctlplane.model.service import HttpService, TcpService
from ctlplane.model.types import format_duration
from ctlplane.render.error_pages import haproxy_backend_pages
from ctlplane.render.tls_files import haproxy_server_tls

Service = HttpService | TcpService

_BALANCE = {
    "round_robin": "roundrobin",
    "weighted_round_robin": "roundrobin",
    "least_connections": "leastconn",
    "random": "random(2)",
    "source_ip_hash": "source",
}
_HASH_KEY = {"header": "hdr", "cookie": "hash req.cook", "uri": "uri path-only whole"}
_NON_IDEMPOTENT = "POST PATCH LOCK"
NO_QUEUE = "1ms"  # HAProxy reads 0 as "no timeout": the shortest wait it has stands for none
DEFAULT_CHECK_HOST = "localhost"


class ServerLine(NamedTuple):  # one per server
    """One ``server`` line; ``name``, ``address`` and ``cookie`` are model strings (printed with ``hq``)."""

    name: str
    address: str
    weight: int
    maxconn: int | None
    backup: bool
    disabled: bool
    check: bool
    cookie: str | None
    proto: str | None = None  # "h2": HTTP/2 to the server (h2c and grpc pools)
    check_proto: str | None = None  # "h2": the HTTP check speaks it too


class DefaultServer(NamedTuple):
    """The ``default-server`` line carrying check timing and passive observation."""

    inter: str
    rise: int
    fall: int | None
    observe: bool  # observe layer4: failed connections of real traffic count
    error_limit: int | None


class Backend(NamedTuple):
    """One ``backend`` section. ``balance`` is a fixed keyword; ``balance_arg`` a model header/cookie name."""

    name: str
    mode: str
    balance: str
    balance_arg: str | None
    hash_consistent: bool
    timeout_connect: str
    timeout_server: str
    timeout_queue: str
    timeout_tunnel: str | None  # http backends only
    retries: int
    retry_on: tuple[str, ...]
    guard_l7_retries: bool
    non_idempotent: str
    reuse: str | None
    httpchk_path: str | None
    httpchk_host: str | None
    expect_status: int | None
    expect_body: str | None  # literal text the check answer must contain (printed with hq)
    default_server: DefaultServer | None
    cookie: str | None
    cookie_options: tuple[tuple[str, str, bool], ...]  # after "insert indirect nocache": (keyword, value, quoted)
    servers: tuple[ServerLine, ...]
    body_wait: str | None = None  # wait-for-body (HTTP, not gRPC: a stream): the users' longest client timeout
    pool: str = ""  # the model's pool name (a Name: [a-z0-9_-]), saved for the access log's pool=
    empty_page: str | None = None  # a discovered pool: its own 503 page when no member can serve
    server_options: tuple[tuple[str, str, bool], ...] = ()  # default-server PROXY/TLS: keyword, value, hq it
    frontend_503: bool = False  # http-error status 503 default-errorfiles: the frontends' 503 page (error_pages)
    route_timeouts: tuple[str, ...] = ()  # server | tunnel: a route's own, set by its frontend (haproxy_policies)


EMPTY_POOL_PAGE = "errors/503-empty-pool.http"  # relative to the release; HAProxy names it from its cwd


def backend_name(pool_name: str) -> str:
    return f"be_{pool_name}"


def server_address(address: str, port: int) -> str:
    """``addr:port``, with an IPv6 address in brackets (model addresses are canonical IP addresses or host
    names, and only an IPv6 address holds a ':')."""
    if ":" in address:
        return f"[{address}]:{port}"
    return f"{address}:{port}"


def _route_timeouts(users: list[Service]) -> tuple[str, ...]:
    """The timeouts some user's route sets for its own requests (``txn.ctl_timeout_<kind>``, in ms, set by the
    frontend: HAProxy 2.6 takes ``set-timeout`` in a backend only)."""
    routes = [r for u in users if isinstance(u, HttpService) for r in u.routes if r.timeouts is not None]
    return tuple(kind for kind in ("server", "tunnel") if any(getattr(r.timeouts, kind) is not None for r in routes))


def build_backend(pool: Pool, users: list[Service]) -> Backend:
    """The backend of ``pool`` as used by ``users`` (the proxy's services that send traffic to it)."""
    first = _agreeing_user(pool, users)
    http = isinstance(first, HttpService)
    balance, arg, consistent = _balance(pool)
    checked = pool.health.active is not None or pool.health.passive is not None
    cookie = pool.persistence.cookie if pool.persistence and pool.persistence.type == "cookie" else None
    retry_on = _retry_on(first) if http else ()
    active = pool.health.active
    http_check = active if active is not None and active.type == "http" else None
    reset_503, empty_page = haproxy_backend_pages(users, pool.answers_503, f"{CONFIG_DIR}/")
    return Backend(
        name=backend_name(pool.name),
        pool=pool.name,
        body_wait=_body_wait(users) if http and pool.protocol != "grpc" else None,
        mode="http" if http else "tcp",
        balance=balance,
        balance_arg=arg,
        hash_consistent=consistent,
        timeout_connect=format_duration(first.timeouts.connect),
        timeout_server=format_duration(first.timeouts.server),
        timeout_queue=format_duration(first.timeouts.queue) if first.timeouts.queue else NO_QUEUE,
        timeout_tunnel=format_duration(first.timeouts.tunnel) if isinstance(first, HttpService) else None,
        retries=first.retries.attempts,
        retry_on=retry_on,
        guard_l7_retries=any(r != "conn-failure" for r in retry_on),
        non_idempotent=_NON_IDEMPOTENT,
        reuse=_reuse(pool, retry_on) if http else None,
        httpchk_path=http_check.path if http_check else None,
        httpchk_host=(http_check.host or DEFAULT_CHECK_HOST) if http_check else None,
        expect_status=http_check.expect_status if http_check else None,
        expect_body=http_check.expect_body if http_check else None,
        default_server=_default_server(pool) if checked else None,
        cookie=cookie,
        cookie_options=_cookie_options(pool, all(isinstance(u, HttpService) and u.tls is not None for u in users)),
        servers=_servers(pool, checked, cookie is not None, http_check is not None),
        empty_page=(empty_page or f"{CONFIG_DIR}/{EMPTY_POOL_PAGE}") if pool.answers_503 else None,
        server_options=_send_proxy(pool, checked) + haproxy_server_tls(pool, f"{CONFIG_DIR}/", checked)
        + _slow_start(pool),
        frontend_503=reset_503,
        route_timeouts=_route_timeouts(users),
    )


def _agreeing_user(pool: Pool, users: list[Service]) -> Service:
    """The service whose timeouts and retries the backend takes; all users must agree (checked in engines.py)."""
    if not users:
        raise RenderError("internal error", [Finding(f"pool {pool.name!r} has no service", source="haproxy")])
    first = backend_settings(users[0])
    if any(backend_settings(u) != first for u in users[1:]):
        raise RenderError("services disagree on a shared pool", [Finding(
            f"services sharing pool {pool.name!r} need the same timeouts and retries on HAProxy", source="haproxy")])
    return users[0]


def _body_wait(users: list[Service]) -> str:
    """How long a backend waits for a request body (up to one buffer) before it contacts a server: the longest
    client timeout of the services using it. Each frontend's own ``timeout client`` still cuts a client that
    stays silent longer than its service allows, as NGINX's ``client_body_timeout`` does; ``option
    http-buffer-request`` would instead count the body against ``timeout http-request`` (the header's)."""
    return format_duration(max(u.timeouts.client for u in users))


def _balance(pool: Pool) -> tuple[str, str | None, bool]:
    """(keyword, header/cookie name or None, consistent hashing)."""
    b = pool.balance
    if pool.persistence is not None and pool.persistence.type == "source_ip":
        return "source", None, True
    if b.strategy == "hash":
        return _HASH_KEY[b.key], b.name, True
    return _BALANCE[b.strategy], None, b.strategy == "source_ip_hash"


def _retry_on(svc: Service) -> tuple[str, ...]:
    """Failed connections and empty answers (idempotent requests) and the listed statuses; never a response
    timeout (a slow request is not sent again: at most attempts x connect + one server timeout)."""
    if svc.retries.attempts == 0:
        return ()
    return ("conn-failure", "empty-response", *(str(s) for s in sorted(svc.retries.on_status)))


def _reuse(pool: Pool, retry_on: tuple[str, ...]) -> str:
    """How idle connections to the servers are shared. With retries of empty answers, every request may take
    an idle connection, a client's first too (``always``), as NGINX's upstream ``keepalive`` does: a server
    closing that connection as the request arrives sends nothing back, and HAProxy retries the request (an
    idempotent one; NGINX retries the same ones). Without them, or towards HTTP/2 servers, a client's first
    request gets a connection of its own (``safe``, HAProxy's default); ``keepalive: 0`` shares none."""
    if pool.keepalive == 0:
        return "never"
    return "always" if pool.protocol == "http" and "empty-response" in retry_on else "safe"


def _default_server(pool: Pool) -> DefaultServer:
    active, passive = pool.health.active, pool.health.passive
    error_limit = passive.max_fails if passive else None
    if active is not None:
        return DefaultServer(format_duration(active.interval), active.rise, active.fall, passive is not None,
                             error_limit)
    assert passive is not None
    # Passive only: connect checks every 'window' bring a marked-down server back after one success.
    return DefaultServer(format_duration(passive.window), 1, None, True, error_limit)


def _send_proxy(pool: Pool, checked: bool) -> tuple[tuple[str, str, bool], ...]:
    """``send-proxy`` (v1) or ``send-proxy-v2``, and ``check-send-proxy`` so that checks speak it too."""
    if pool.send_proxy_protocol is None:
        return ()
    word = "send-proxy" if pool.send_proxy_protocol == "v1" else "send-proxy-v2"
    return ((word, "", False),) + ((("check-send-proxy", "", False),) if checked else ())


def _cookie_options(pool: Pool, secure: bool) -> tuple[tuple[str, str, bool], ...]:
    """The persistence cookie's attributes (CookiePersistence.attributes) as HAProxy's cookie keywords; Path=/ is
    HAProxy's own."""
    if pool.persistence is None or pool.persistence.type != "cookie":
        return ()
    words = {"HttpOnly": "httponly", "Secure": "secure", "Domain": "domain"}
    options: list[tuple[str, str, bool]] = []
    for name, value in pool.persistence.attributes(secure):
        if name == "Path":
            continue
        if name in words:
            options.append((words[name], value or "", value is not None))
        else:
            options.append(("attr", f"{name}={value}", True))
    return tuple(options)


def _slow_start(pool: Pool) -> tuple[tuple[str, str, bool], ...]:
    """``slowstart``: a server coming back ramps up to its weight (every balance ctlplane renders is dynamic)."""
    return (("slowstart", format_duration(pool.slow_start), False),) if pool.slow_start is not None else ()


def _proto(pool: Pool) -> str | None:
    """``h2`` for pools that speak HTTP/2 to their servers (h2c, gRPC), else HTTP/1.1 (None)."""
    return "h2" if pool.protocol in ("h2c", "grpc") else None


def _servers(pool: Pool, check: bool, cookie: bool, http_check: bool) -> tuple[ServerLine, ...]:
    """The server lines of ``pool``, built in one loop (10,000 of them at scale), ServerLine's fields in order."""
    proto = _proto(pool)
    check_proto = proto if http_check else None
    return tuple(ServerLine(s.name, server_address(s.address, s.port), 0 if s.state == "drain" else s.weight,
                            s.max_connections, s.backup, s.state == "disabled", check, s.name if cookie else None,
                            proto, check_proto)
                 for s in pool.servers)
