"""The root of the model and its cross-references: unique names, pools that
exist, listeners that do not collide, HA pairs made of real proxies.

Each failed check is reported with the field path it concerns, so the loader
can point at the YAML line.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from functools import cached_property
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from ctlplane.model.fleet import Fleet, fleet_problems
from ctlplane.model.pool import Pool
from ctlplane.model.proxy import Pair, Proxy
from ctlplane.model.routing import service_auths
from ctlplane.model.service import HttpService, Service, TcpService
from ctlplane.model.types import FilePath, Frozen, shared_default


class CrossCheck(Exception):
    """A cross-field problem located by a field path (tuple of keys/indexes)."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def _absolute_base(value: str) -> str:
    if not value.startswith("/") or value == "/" or os.path.normpath(value) != value:
        raise ValueError("must be an absolute, normalized directory other than '/'")
    return value


class Files(Frozen):
    """Where the files a model names (certificates, keys, static roots, state directories) may live."""

    allowed_bases: list[Annotated[FilePath, AfterValidator(_absolute_base)]] = Field(
        default_factory=list,
        description="Absolute directories that may hold the model's files besides the model file's own directory "
        "(checked after resolving symlinks), e.g. /etc/letsencrypt.",
    )


class Model(Frozen):
    """A ctlplane model: pools, services, the proxies that run them and optional HA pairs."""

    version: Literal[1] = Field(1, description="Model format version.")
    pools: list[Pool] = Field(default_factory=list, description="Groups of backend servers.")
    services: list[Service] = Field(min_length=1, description="What the proxies listen on and route.")
    proxies: list[Proxy] = Field(min_length=1, description="The load balancers.")
    pairs: list[Pair] = Field(default_factory=list, description="HA pairs of proxies (keepalived).")
    files: Files = Field(default_factory=shared_default(Files),
                         description="Directories the model's files may be read from.")
    fleet: Fleet | None = Field(
        None, description="Run the proxies named here on every labelled node of a Docker Swarm, rolled out canary "
        "first, then in waves (ctlplane apply talks to the Swarm manager; an agent on each node applies).",
        examples=[{"name": "edge", "manager": {"url": "ssh://ops@manager1"},
                   "nodes": {"labels": {"ctlplane.fleet": "edge"}}, "proxies": ["edge"]}])

    @model_validator(mode="after")
    def _cross_references(self) -> Model:
        problems = list(cross_check(self))
        if problems:
            first = problems[0]
            raise PydanticCustomError(
                "cross_reference",
                "{message}",
                {"message": first.message, "loc": list(first.loc), "all": [(list(p.loc), p.message) for p in problems]},
            )
        return self

    @cached_property
    def _pools(self) -> dict[str, Pool]:
        return {p.name: p for p in self.pools}

    @cached_property
    def _services(self) -> dict[str, HttpService | TcpService]:
        return {s.name: s for s in self.services}

    @cached_property
    def _proxies(self) -> dict[str, Proxy]:
        return {p.name: p for p in self.proxies}

    def pool(self, name: str) -> Pool:
        return self._pools[name]

    def service(self, name: str) -> HttpService | TcpService:
        return self._services[name]

    def proxy(self, name: str) -> Proxy:
        return self._proxies[name]


def cross_check(model: Model) -> Iterator[CrossCheck]:
    yield from _unique(model)
    yield from _references(model)
    yield from _listeners(model)
    yield from _internal_listeners(model)
    yield from _pairs(model)
    yield from fleet_problems(model)


def _internal_listeners(model: Model) -> Iterator[CrossCheck]:
    """The admin and metrics listeners without auth (HAProxy stats, NGINX stub_status): loopback only."""
    for i, proxy in enumerate(model.proxies):
        for what, listener in (("admin", proxy.admin), ("metrics", proxy.metrics)):
            if listener is not None and listener.auth is None and \
                    not ipaddress.ip_address(listener.address).is_loopback:
                yield CrossCheck(("proxies", i, what, "address"), f"the {what} listener of proxy {proxy.name!r} "
                                 f"({proxy.engine}) has no authentication, so it may not listen on "
                                 f"{listener.address}: use 127.0.0.1 "
                                 "(or another 127.x address) or ::1 and reach it from beside the proxy, "
                                 f"or set {what}.auth")


def _unique(model: Model) -> Iterator[CrossCheck]:
    for kind, items in (("pools", model.pools), ("services", model.services), ("proxies", model.proxies),
                        ("pairs", model.pairs)):
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.name in seen:
                yield CrossCheck((kind, i, "name"), f"duplicate name {item.name!r} in {kind}")
            seen.add(item.name)
    containers: set[str] = set()
    for i, proxy in enumerate(model.proxies):
        container = getattr(proxy.runtime, "container", None)
        if container in containers:
            yield CrossCheck(("proxies", i, "runtime", "container"), f"container {container!r} is already used by "
                             "another proxy")
        if container:
            containers.add(container)
    for i, pool in enumerate(model.pools):
        seen = set()
        for j, server in enumerate(pool.servers):
            if server.name in seen:
                yield CrossCheck(("pools", i, "servers", j, "name"), f"duplicate server name {server.name!r}")
            seen.add(server.name)


def _references(model: Model) -> Iterator[CrossCheck]:
    pools = {p.name for p in model.pools}
    modes: dict[str, tuple[str, str]] = {}
    for i, svc in enumerate(model.services):
        for loc, name in _pool_refs(svc):
            if name not in pools:
                yield CrossCheck(("services", i, *loc), f"unknown pool {name!r}")
                continue
            other = modes.setdefault(name, (svc.mode, svc.name))
            if other[0] != svc.mode:
                yield CrossCheck(
                    ("services", i, *loc),
                    f"pool {name!r} is used by {other[0]} service {other[1]!r} and {svc.mode} service "
                    f"{svc.name!r}: define one pool per mode",
                )
        if isinstance(svc, TcpService):
            pool = model.pool(svc.pool) if svc.pool in pools else None
            if pool and pool.protocol != "http":
                yield CrossCheck(("services", i, "pool"), f"pool {pool.name!r} speaks {pool.protocol}, an HTTP "
                                 "protocol; a tcp service forwards bytes: use protocol: http (the default)")
            if pool and pool.balance.strategy == "hash":
                yield CrossCheck(("services", i, "pool"), f"pool {pool.name!r} hashes on HTTP data; "
                                 "a tcp service can only use source_ip_hash")
            if pool and pool.persistence and pool.persistence.type == "cookie":
                yield CrossCheck(("services", i, "pool"), f"pool {pool.name!r} uses cookie persistence; "
                                 "a tcp service has no cookies: use source_ip persistence")
        if isinstance(svc, HttpService):
            yield from _cookie_needs_tls(model, i, svc, pools)
            yield from _duplicate_routes(i, svc)
            yield from _grpc_needs_http2(model, i, svc, pools)
    services = {s.name for s in model.services}
    for i, proxy in enumerate(model.proxies):
        for j, name in enumerate(proxy.services):
            if name not in services:
                yield CrossCheck(("proxies", i, "services", j), f"unknown service {name!r}")
        if len(set(proxy.services)) != len(proxy.services):
            yield CrossCheck(("proxies", i, "services"), "a service is listed twice")


def _cookie_needs_tls(model: Model, i: int, svc: HttpService, pools: set[str]) -> Iterator[CrossCheck]:
    """A SameSite=None cookie without Secure is dropped by browsers: its pool must be reached over TLS only."""
    if svc.tls is not None:
        return
    for loc, name in _pool_refs(svc):
        persistence = model.pool(name).persistence if name in pools else None
        if persistence is not None and persistence.type == "cookie" and persistence.same_site == "none":
            yield CrossCheck(("services", i, *loc), f"pool {name!r} sets a SameSite=None cookie, which browsers "
                             f"accept only with Secure, and service {svc.name!r} is plain HTTP: give the service "
                             "tls, or use same_site: lax")


def _grpc_needs_http2(model: Model, i: int, svc: HttpService, pools: set[str]) -> Iterator[CrossCheck]:
    """gRPC clients speak HTTP/2 only: a TLS listener reaching a grpc pool must offer it."""
    if svc.tls is None or svc.tls.http2:
        return
    for loc, name in _pool_refs(svc):
        if name in pools and model.pool(name).protocol == "grpc":
            yield CrossCheck(("services", i, *loc), f"pool {name!r} speaks gRPC, whose clients need HTTP/2: set "
                             "tls.http2: true")
            return


def _pool_refs(svc: HttpService | TcpService) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(svc, TcpService):
        yield ("pool",), svc.pool
        return
    if svc.default_pool is not None:
        yield ("default_pool",), svc.default_pool
    for j, route in enumerate(svc.routes):
        if route.pool is not None:
            yield ("routes", j, "pool"), route.pool
    for loc, auth in service_auths(svc):
        if auth.request is not None:
            yield (*loc, "request", "pool"), auth.request.pool


def _duplicate_routes(i: int, svc: HttpService) -> Iterator[CrossCheck]:
    seen: set[tuple[object, ...]] = set()
    for j, route in enumerate(svc.routes):
        header = (route.header.name.lower(), route.header.value) if route.header else None
        key = (route.host, route.path_prefix, header)
        if key in seen:
            yield CrossCheck(("services", i, "routes", j), "another route matches exactly the same requests")
        seen.add(key)
    prefixes = [s.path_prefix for s in svc.static]
    for j, prefix in enumerate(prefixes):
        if prefixes.index(prefix) != j:
            yield CrossCheck(("services", i, "static", j, "path_prefix"), f"path prefix {prefix!r} served twice")


def _service_sockets(svc: HttpService | TcpService) -> Iterator[tuple[tuple[str | int, ...], str, int]]:
    yield ("listen",), svc.listen.address, svc.listen.port
    for n, address in enumerate(svc.listen.also):
        yield ("listen", "also", n), address, svc.listen.port
    if isinstance(svc, HttpService) and svc.tls and svc.tls.redirect_http_port:
        for address in svc.listen.addresses:
            yield ("tls", "redirect_http_port"), address, svc.tls.redirect_http_port


def _overlaps(a: str, b: str) -> bool:
    """Two listeners on one port collide: the same address, 0.0.0.0 and any IPv4 address, or '::' (dual stack on
    both engines) and any address at all."""
    ia, ib = ipaddress.ip_address(a), ipaddress.ip_address(b)
    if a == b or (ia.is_unspecified and ia.version == 6) or (ib.is_unspecified and ib.version == 6):
        return True
    return (ia.is_unspecified or ib.is_unspecified) and ia.version == ib.version


def _listeners(model: Model) -> Iterator[CrossCheck]:
    """No two sockets of one proxy collide; local proxies share this host, so theirs must not collide either."""
    groups: dict[str, list[int]] = {}
    for i, proxy in enumerate(model.proxies):
        key = "local" if proxy.runtime.kind == "local" else f"docker:{proxy.name}"
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        taken: dict[int, list[tuple[str, str]]] = {}
        for i in members:
            yield from _proxy_sockets(model, i, taken)


def _proxy_sockets(model: Model, i: int, taken: dict[int, list[tuple[str, str]]]) -> Iterator[CrossCheck]:
    proxy = model.proxies[i]
    index = {s.name: k for k, s in enumerate(model.services)}
    sockets: list[tuple[tuple[str | int, ...], str, int, str]] = []
    for name in proxy.services:
        if name not in index:
            continue
        k = index[name]
        for loc, addr, port in _service_sockets(model.services[k]):
            sockets.append((("services", k, *loc), addr, port, f"service {name!r}"))
    if proxy.admin:
        sockets.append((("proxies", i, "admin"), proxy.admin.address, proxy.admin.port, "the admin listener"))
    if proxy.metrics:
        sockets.append((("proxies", i, "metrics"), proxy.metrics.address, proxy.metrics.port, "the metrics listener"))
    for loc, addr, port, what in sockets:
        for other_addr, other in taken.get(port, []):
            if _overlaps(addr, other_addr):
                yield CrossCheck(loc, f"{addr}:{port} of {what} on proxy {proxy.name!r} collides with {other}")
        taken.setdefault(port, []).append((addr, f"{what} on proxy {proxy.name!r}"))


def _pairs(model: Model) -> Iterator[CrossCheck]:
    proxies = {p.name: p for p in model.proxies}
    used: dict[str, str] = {}
    for i, pair in enumerate(model.pairs):
        engines = set()
        for j, node in enumerate(pair.nodes):
            proxy = proxies.get(node.proxy)
            if proxy is None:
                yield CrossCheck(("pairs", i, "nodes", j, "proxy"), f"unknown proxy {node.proxy!r}")
                continue
            if node.proxy in used:
                yield CrossCheck(("pairs", i, "nodes", j, "proxy"), f"proxy {node.proxy!r} is already in pair "
                                 f"{used[node.proxy]!r}")
            used[node.proxy] = pair.name
            if proxy.admin is None:
                yield CrossCheck(("pairs", i, "nodes", j, "proxy"), f"proxy {node.proxy!r} needs 'admin' so "
                                 "keepalived can check that it serves")
            engines.add(tuple(sorted(proxy.services)))
        if len(engines) > 1:
            yield CrossCheck(("pairs", i, "nodes"), "both nodes of a pair must run the same services")
