"""Which containers join which discovered pool: a pure decision on untrusted input.

A container joins a pool when it runs, carries every label of the pool's
selector, is healthy (or has no healthcheck), is reachable on the pool's
network (or on its only network when the pool names none) and its name and
member labels pass strict types: ``ctlplane.port`` (1-65535, else the pool's
port), ``ctlplane.weight`` (1-256), ``ctlplane.backup`` and ``ctlplane.drain``
(``true`` or ``false``). Anything else leaves the container out with a reason
(:class:`Excluded`) that quotes the offending value safely (``repr``, cut
short); nothing a label says is ever printed into a config, and a label can
only fill a pool that the model marks as discovered. A container that received
its stop signal (``stopping``, from the event stream) joins drained, so HAProxy
sends it no new sessions while it shuts down.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from ctlplane.discovery.containers import ContainerInfo
from ctlplane.model.pool import Pool
from ctlplane.model.root import Model
from ctlplane.model.routing import service_pools
from ctlplane.model.types import Name

PORT, WEIGHT, BACKUP, DRAIN = "ctlplane.port", "ctlplane.weight", "ctlplane.backup", "ctlplane.drain"
_NUMBER = re.compile(r"[0-9]{1,5}")
_BOOL = {"true": True, "false": False}
_NAME = TypeAdapter(Name)
_NGINX_NO_BACKUP = {"hash", "source_ip_hash", "random"}  # as model.engines: NGINX has no backup with these


@dataclass(frozen=True)
class Member:
    """A container that joins a pool, as the server it becomes (named after the container)."""

    pool: str
    name: str
    container_id: str
    address: str
    port: int
    weight: int = 1
    backup: bool = False
    drain: bool = False
    health: str = "running"  # "healthy" when its Docker healthcheck says so


@dataclass(frozen=True)
class Excluded:
    """A selected container that does not join, and why; ``refused``: a value was rejected (untrusted input)."""

    pool: str
    container: str  # the container's name as repr() shows it (safe to print)
    container_id: str
    reason: str
    refused: bool = True

    def message(self) -> str:
        return f"pool {self.pool!r}: container {self.container} ({self.container_id}): {self.reason}"


@dataclass(frozen=True)
class Snapshot:
    """The discovered members of every discovered pool at one moment."""

    pools: tuple[str, ...] = ()
    members: tuple[Member, ...] = ()
    excluded: tuple[Excluded, ...] = ()

    def of(self, pool: str) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.pool == pool)

    def excluded_from(self, pool: str) -> tuple[Excluded, ...]:
        return tuple(e for e in self.excluded if e.pool == pool)


EMPTY = Snapshot()


def shown(value: str, limit: int = 60) -> str:
    """An untrusted string as it may be printed: repr (control and line-break characters escaped), cut short."""
    text = repr(value[:limit])
    return text + "..." if len(value) > limit else text


class _Out(Exception):
    def __init__(self, reason: str, refused: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused


def resolve(model: Model, containers: Iterable[ContainerInfo], stopping: frozenset[str] = frozenset()) -> Snapshot:
    """Every discovered pool's members among ``containers``, and the selected containers left out."""
    listed = sorted({c.id: c for c in containers}.values(), key=lambda c: (c.name, c.id))
    no_backup = _nginx_no_backup(model)
    pools, members, excluded = [], [], []
    for pool in model.pools:
        if pool.discover is None:
            continue
        pools.append(pool.name)
        taken = {s.name for s in pool.servers}
        for container in listed:
            if not _selected(pool, container):
                continue
            try:
                member = _member(pool, container, container.id in stopping, pool.name in no_backup)
                if member.name in taken:
                    raise _Out(f"its name is already a server of pool {pool.name!r}")
            except _Out as out:
                excluded.append(Excluded(pool.name, shown(container.name), shown(container.short_id, 12),
                                         out.reason, out.refused))
                continue
            taken.add(member.name)
            members.append(member)
    return Snapshot(tuple(pools), tuple(members), tuple(excluded))


def _selected(pool: Pool, container: ContainerInfo) -> bool:
    assert pool.discover is not None
    wanted = pool.discover.docker.labels
    return container.running and all(container.labels.get(k) == v for k, v in wanted.items())


def _member(pool: Pool, container: ContainerInfo, stopping: bool, no_backup: bool) -> Member:
    assert pool.discover is not None
    docker = pool.discover.docker
    if container.health not in (None, "healthy"):
        raise _Out(f"waits for its healthcheck (health: {shown(container.health or '')})", refused=False)
    try:
        name = _NAME.validate_python(container.name)
    except ValidationError:
        raise _Out("its name cannot name a server (a lowercase letter, then lowercase letters, digits, '_' or '-', "
                   "at most 40): rename the container") from None
    address = _address(container, docker.network)
    labels = container.labels
    port = _number(labels, PORT, 1, 65535) if PORT in labels else docker.port
    if port is None:
        raise _Out(f"no {PORT} label and the pool sets no discover.docker.port")
    weight = _number(labels, WEIGHT, 1, 256) if WEIGHT in labels else 1
    backup = _flag(labels, BACKUP)
    if backup and no_backup:
        raise _Out(f"label {BACKUP}: NGINX cannot combine backup servers with this pool's hashing, random "
                   "balancing or persistence")
    return Member(pool.name, name, container.short_id, address, port, weight, backup,
                  _flag(labels, DRAIN) or stopping, "healthy" if container.health == "healthy" else "running")


def _address(container: ContainerInfo, network: str | None) -> str:
    if network is not None:
        if network not in container.networks:
            on = ", ".join(shown(n) for n in sorted(container.networks)) or "none"
            raise _Out(f"is not on network {network!r} (on: {on})")
        raw = container.networks[network]
    else:
        if len(container.networks) != 1:
            on = ", ".join(shown(n) for n in sorted(container.networks)) or "none"
            raise _Out(f"is on {len(container.networks)} networks ({on}): set discover.docker.network")
        (raw,) = container.networks.values()
    try:
        if not raw or "%" in raw:
            raise ValueError
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise _Out(f"has no usable address on its network ({shown(raw)})") from None


def _number(labels: Mapping[str, str], key: str, low: int, high: int) -> int:
    value = labels[key]
    if not _NUMBER.fullmatch(value) or not low <= int(value) <= high:
        raise _Out(f"label {key}: {shown(value)} is not a whole number from {low} to {high}")
    return int(value)


def _flag(labels: Mapping[str, str], key: str) -> bool:
    value = labels.get(key)
    if value is None:
        return False
    if value not in _BOOL:
        raise _Out(f"label {key}: {shown(value)} is not true or false")
    return _BOOL[value]


def _nginx_no_backup(model: Model) -> set[str]:
    """Pools an NGINX proxy serves whose balancing or persistence NGINX cannot combine with backup servers."""
    pools = {p.name: p for p in model.pools}
    refused: set[str] = set()
    for proxy in model.proxies:
        if proxy.engine != "nginx":
            continue
        for name in proxy.services:
            svc = model.service(name)
            for pool_name in service_pools(svc):
                pool = pools.get(pool_name)
                if pool and (pool.balance.strategy in _NGINX_NO_BACKUP or pool.persistence is not None):
                    refused.add(pool_name)
    return refused
