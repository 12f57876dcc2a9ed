"""HAProxy backends: one ``backend be_<pool>`` per pool used by the proxy.

Owns every decision about a pool on HAProxy: the balance algorithm, active
and passive health checks, persistence, connection reuse, the servers'
lines, and the backend-level timeouts and retries (HAProxy keeps these per
backend, so they come from the services using the pool; ``engines.py``
refuses services that share a pool but disagree). Server names are the
model's, so the runtime API can address ``be_<pool>/<server>``. A server in
``drain`` gets weight 0: no new sessions, but clients stuck to it by a
cookie or a stick table keep reaching it. Passive checks use ``observe``,
which needs ``check``: a server marked down by real traffic comes back after
a successful check, ``window`` later (``inter``). The output is plain frozen
dataclasses; the templates only print them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ctlplane.errors import Finding, RenderError
from ctlplane.model.pool import Pool, Server
from ctlplane.model.service import HttpService, TcpService
from ctlplane.model.types import format_duration

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
_PERSIST_TABLE_SIZE = "200k"


@dataclass(frozen=True)
class ServerLine:
    """One ``server`` line; ``name``, ``address`` and ``cookie`` are model strings (printed with ``hq``)."""

    name: str
    address: str
    weight: int
    maxconn: int | None
    backup: bool
    disabled: bool
    check: bool
    cookie: str | None


@dataclass(frozen=True)
class DefaultServer:
    """The ``default-server`` line carrying check timing and passive observation."""

    inter: str
    rise: int
    fall: int | None
    observe: str | None  # layer7 | layer4
    error_limit: int | None


@dataclass(frozen=True)
class Backend:
    """One ``backend`` section. ``balance`` is a fixed keyword; ``balance_arg`` a model header/cookie name."""

    name: str
    mode: str
    balance: str
    balance_arg: str | None
    hash_consistent: bool
    timeout_connect: str
    timeout_server: str
    retries: int
    retry_on: tuple[str, ...]
    guard_l7_retries: bool
    non_idempotent: str
    reuse: str | None
    httpchk_path: str | None
    expect_status: int | None
    default_server: DefaultServer | None
    cookie: str | None
    stick_table: str | None  # "ip" or "ipv6" when persisting on the source address
    stick_expire: str | None
    stick_size: str
    servers: tuple[ServerLine, ...]


def backend_name(pool_name: str) -> str:
    return f"be_{pool_name}"


def server_address(address: str, port: int) -> str:
    """``addr:port``, with an IPv6 address in brackets."""
    try:
        if ipaddress.ip_address(address).version == 6:
            return f"[{address}]:{port}"
    except ValueError:
        pass
    return f"{address}:{port}"


def build_backend(pool: Pool, users: list[Service]) -> Backend:
    """The backend of ``pool`` as used by ``users`` (the proxy's services that send traffic to it)."""
    first = _agreeing_user(pool, users)
    http = isinstance(first, HttpService)
    balance, arg, consistent = _balance(pool)
    checked = pool.health.active is not None or pool.health.passive is not None
    cookie = pool.persistence.cookie if pool.persistence and pool.persistence.type == "cookie" else None
    source = pool.persistence if pool.persistence and pool.persistence.type == "source_ip" else None
    retry_on = _retry_on(first) if http else ()
    active = pool.health.active
    return Backend(
        name=backend_name(pool.name),
        mode="http" if http else "tcp",
        balance=balance,
        balance_arg=arg,
        hash_consistent=consistent,
        timeout_connect=format_duration(first.timeouts.connect),
        timeout_server=format_duration(first.timeouts.server),
        retries=first.retries.attempts,
        retry_on=retry_on,
        guard_l7_retries=any(r != "conn-failure" for r in retry_on),
        non_idempotent=_NON_IDEMPOTENT,
        reuse=("safe" if pool.keepalive > 0 else "never") if http else None,
        httpchk_path=active.path if active is not None and active.type == "http" else None,
        expect_status=active.expect_status if active is not None and active.type == "http" else None,
        default_server=_default_server(pool, http) if checked else None,
        cookie=cookie,
        stick_table=_address_family(users) if source else None,
        stick_expire=format_duration(source.expire) if source else None,
        stick_size=_PERSIST_TABLE_SIZE,
        servers=tuple(_server(s, checked, cookie is not None) for s in pool.servers),
    )


def _agreeing_user(pool: Pool, users: list[Service]) -> Service:
    """The service whose timeouts and retries the backend takes; all users must agree (checked in engines.py)."""
    def settings(s: Service) -> tuple[object, ...]:
        return s.timeouts.connect, s.timeouts.server, s.retries.attempts, tuple(sorted(s.retries.on_status))

    if not users:
        raise RenderError("internal error", [Finding(f"pool {pool.name!r} has no service", source="haproxy")])
    if any(settings(u) != settings(users[0]) for u in users):
        raise RenderError("services disagree on a shared pool", [Finding(
            f"services sharing pool {pool.name!r} need the same timeouts and retries on HAProxy", source="haproxy")])
    return users[0]


def _balance(pool: Pool) -> tuple[str, str | None, bool]:
    """(keyword, header/cookie name or None, consistent hashing)."""
    b = pool.balance
    if b.strategy == "hash":
        return _HASH_KEY[b.key], b.name, True
    return _BALANCE[b.strategy], None, b.strategy == "source_ip_hash"


def _retry_on(svc: Service) -> tuple[str, ...]:
    """Connection failures always; empty responses and timeouts (idempotent requests) and listed statuses."""
    if svc.retries.attempts == 0:
        return ()
    return ("conn-failure", "empty-response", "response-timeout", *(str(s) for s in sorted(svc.retries.on_status)))


def _default_server(pool: Pool, http: bool) -> DefaultServer:
    active, passive = pool.health.active, pool.health.passive
    observe = ("layer7" if http else "layer4") if passive else None
    error_limit = passive.max_fails if passive else None
    if active is not None:
        return DefaultServer(format_duration(active.interval), active.rise, active.fall, observe, error_limit)
    assert passive is not None
    # Passive only: connect checks every 'window' bring a marked-down server back after one success.
    return DefaultServer(format_duration(passive.window), 1, None, observe, error_limit)


def _address_family(users: list[Service]) -> str:
    """``ipv6`` when any service listens on IPv6 (IPv4 clients are stored IPv4-mapped), else ``ip``."""
    v6 = any(ipaddress.ip_address(u.listen.address).version == 6 for u in users)
    return "ipv6" if v6 else "ip"


def _server(server: Server, check: bool, cookie: bool) -> ServerLine:
    return ServerLine(
        name=server.name,
        address=server_address(server.address, server.port),
        weight=0 if server.state == "drain" else server.weight,
        maxconn=server.max_connections,
        backup=server.backup,
        disabled=server.state == "disabled",
        check=check,
        cookie=server.name if cookie else None,
    )
