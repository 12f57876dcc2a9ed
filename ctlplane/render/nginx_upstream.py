"""NGINX ``upstream`` blocks for pools (http and stream) and the maps behind
cookie persistence.

Decides the balancing directive, each server's parameters (weight, max_conns,
passive-check counters, backup, down) and the shared-memory zone size. A
disabled server is ``down`` (a graceful drain in the model is refused for
NGINX in ``model/engine_semantics.py``; a discovered member leaving its pool
is drained on HAProxy and marked ``down`` here, which the block says in a
comment). The passive check (on by default) gives ``max_fails``/``fail_timeout``;
a pool whose model turns it off gets ``max_fails=0``, so that, as on HAProxy,
no server is taken out. Cookie persistence is the documented NGINX equivalent
of an inserted cookie: when the client has none, the proxy picks a random one
(``$request_id``), hashes consistently on it and sends it back with
``Set-Cookie`` (HttpOnly, SameSite=Lax, and Secure when every service using the
pool is HTTPS); later requests carry it and stick. Source-IP persistence is
``hash $remote_addr consistent``, as HAProxy's ``balance source`` with
consistent hashing. NGINX refuses an upstream without a regular server, which a
pool that discovers its members can be: it then gets a placeholder marked
``down`` (:data:`PLACEHOLDER`), so requests fail with "no live upstreams" (the
error log and the access log's ``upstream=`` name the pool), and its locations
answer 503 instead of 502.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from ctlplane.errors import Finding, RenderError
from ctlplane.model.pool import ConsistentHash, CookiePersistence, Pool
from ctlplane.model.types import format_duration
from ctlplane.render import nginx_names as names
from ctlplane.render.access_log import NGINX_POOL_NAME_VAR, NGINX_POOL_VAR

EMPTY = '""'  # the empty NGINX string, a fixed token
PLACEHOLDER = "127.0.0.1:9"  # never used: marked down (port 9, discard)


class UpstreamServer(NamedTuple):  # one per server
    """One ``server`` line: address through ``nq``; params are fixed keywords and numbers chosen here."""

    name: str
    address: str
    params: tuple[str, ...]


class Upstream(NamedTuple):
    name: str
    zone_size: str
    method: str | None  # the balancing directive line (without ';'), None for round robin
    servers: tuple[UpstreamServer, ...]
    keepalive: int  # idle connections kept per worker; 0 = none
    has_drain: bool
    empty: bool = False  # no regular server (a discovered pool without members): a placeholder marked down


class MapBlock(NamedTuple):
    """``map $source $result { key value; ... default value; }``.

    Keys are printed through ``nq``; values and the default are tokens built here from fixed text and
    checked identifiers (an upstream name, ``$variable``, or a quoted fixed string).
    """

    source: str
    result: str
    entries: tuple[tuple[str, str], ...]
    default: str


def host_port(address: str, port: int) -> str:
    """``addr:port`` with IPv6 addresses in brackets (model addresses are canonical IP addresses or host names,
    and only an IPv6 address holds a ':')."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _method(pool: Pool, stream: bool) -> str | None:
    strategy = pool.balance.strategy
    if pool.persistence is not None:
        if pool.persistence.type == "source_ip":
            return "hash $remote_addr consistent"
        if stream:
            raise _cannot(pool, "cookie persistence in a tcp service")
        return f"hash ${names.sticky_var(pool.name)} consistent"
    if strategy in ("round_robin", "weighted_round_robin"):
        return None
    if strategy == "least_connections":
        return "least_conn"
    if strategy == "random":
        return "random two least_conn"
    if strategy == "source_ip_hash":
        return "hash $remote_addr consistent"
    balance = pool.balance
    assert isinstance(balance, ConsistentHash)  # the only strategy left
    if stream:
        raise _cannot(pool, f"hashing on {balance.key} in a tcp service")
    if balance.key in ("header", "cookie"):
        assert balance.name is not None  # the model requires a name for header and cookie hashing
        var = names.header_var(balance.name) if balance.key == "header" else names.cookie_var(balance.name)
        return f"hash ${var} consistent"
    return "hash $request_uri consistent"


def _cannot(pool: Pool, what: str) -> RenderError:
    return RenderError("nginx cannot render this pool", [Finding(f"pool {pool.name!r}: {what}", source="nginx")])


def _servers(pool: Pool) -> tuple[UpstreamServer, ...]:
    """The ``server`` lines of ``pool``: weight, max_conns, the passive check (the same for every server of the
    pool, formatted once), backup, down."""
    passive = pool.health.passive
    health = ("max_fails=0",) if passive is None else (f"max_fails={passive.max_fails}",
                                                       f"fail_timeout={format_duration(passive.window)}")
    return tuple(UpstreamServer(s.name, host_port(s.address, s.port), (
        f"weight={s.weight}", *((f"max_conns={s.max_connections}",) if s.max_connections is not None else ()),
        *health, *(("backup",) if s.backup else ()), *(("down",) if s.state != "active" else ())))
        for s in pool.servers)


def is_empty(pool: Pool) -> bool:
    """No regular (non-backup) server: only a pool that discovers its members can be so."""
    return all(s.backup for s in pool.servers)


def upstream(pool: Pool, stream: bool) -> Upstream:
    servers = _servers(pool)
    empty = is_empty(pool)
    if empty:
        servers = (UpstreamServer("placeholder", PLACEHOLDER, ("down",)), *servers)
    return Upstream(
        name=names.upstream_name(pool.name),
        zone_size=f"{max(64, 32 + len(pool.servers))}k",
        method=_method(pool, stream),
        servers=servers,
        keepalive=0 if stream else pool.keepalive,
        has_drain=any(s.state == "drain" for s in pool.servers),
        empty=empty,
    )


def cookie_attributes(persistence: CookiePersistence, secure: bool) -> str:
    """The persistence cookie's attributes as NGINX appends them to the value (see CookiePersistence.attributes:
    the same on both engines; Domain is a plain host name, the rest fixed words and digits)."""
    return "".join(f"; {name}" if value is None else f"; {name}={value}"
                   for name, value in persistence.attributes(secure))


def pool_names(pools: Sequence[Pool]) -> MapBlock:
    """``map $ctl_pool $ctl_pool_name``: the upstream a location chose, as the model names its pool (the access
    log's ``pool=``); ``-`` when the request went to no pool. Without pools no location sets ``$ctl_pool`` (NGINX
    would not know the variable): the map then reads ``$uri`` and always answers ``-``."""
    entries = tuple((names.upstream_name(p.name), p.name) for p in pools)
    return MapBlock(NGINX_POOL_VAR if entries else "uri", NGINX_POOL_NAME_VAR, entries, '"-"')


def sticky_maps(pool: Pool, secure: bool = False) -> tuple[MapBlock, ...]:
    """The two maps of a pool with cookie persistence (none otherwise)."""
    if pool.persistence is None or pool.persistence.type != "cookie":
        return ()
    cookie = names.cookie_name(pool.persistence.cookie)
    source = names.cookie_var(cookie)
    key = MapBlock(source, names.sticky_var(pool.name), (("", "$request_id"),), f"${source}")
    set_cookie = f'"{cookie}=$request_id{cookie_attributes(pool.persistence, secure)}"'
    setter = MapBlock(source, names.setcookie_var(pool.name), (("", set_cookie),), EMPTY)
    return (key, setter)


def has_cookie_persistence(pool: Pool) -> bool:
    return pool.persistence is not None and pool.persistence.type == "cookie"
