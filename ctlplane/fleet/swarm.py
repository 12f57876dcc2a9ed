"""The Swarm seam: what the fleet controller asks of a Docker Swarm manager, as plain data.

The controller (rollout, state record, status) talks to a Swarm only through the
:class:`Swarm` protocol: nodes with their labels, state, availability and address; configs
and secrets created and looked up by name with labels (their data is never read back);
services listed by label, created, updated with the version read before (a compare-and-
swap: a stale version raises :class:`SwarmConflict`) and removed; the tasks of a service;
the tail of a service's logs. Every value crossing the seam is a frozen dataclass, so the
in-memory :class:`~ctlplane.fleet.fake.FakeSwarm` and the docker SDK implementation
(:class:`~ctlplane.fleet.docker_swarm.DockerSwarm`) are interchangeable, and a
:class:`Clock` is injected so deadlines are tested without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ctlplane.errors import DriverError

# Task states after which the task never runs again (Swarm's TaskState, lower case).
TERMINAL = frozenset({"complete", "shutdown", "failed", "rejected", "remove", "orphaned"})


class SwarmConflict(DriverError):
    """A write lost a race: the object changed since it was read (stale version) or its name is taken."""


@dataclass(frozen=True)
class Node:
    """One Swarm node: ``state`` is ready | down | disconnected | unknown, ``availability`` active | pause | drain."""

    id: str
    hostname: str
    labels: Mapping[str, str]
    state: str
    availability: str
    address: str


@dataclass(frozen=True)
class Blob:
    """A Swarm config or secret as listed (its data is never read back)."""

    id: str
    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class BindMount:
    """A host path bind-mounted into the service's containers."""

    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class FileRef:
    """A config or secret (by name) mounted as a file: ``target`` is an absolute path for a config, a file
    name under ``/run/secrets`` for a secret."""

    name: str
    target: str
    mode: int = 0o444


@dataclass(frozen=True)
class Health:
    """A container healthcheck (an argv run inside the container)."""

    test: tuple[str, ...]
    interval_s: float = 1.0
    timeout_s: float = 10.0
    retries: int = 1
    start_period_s: float = 0.0


@dataclass(frozen=True)
class ServiceSpec:
    """Everything the controller writes of a replicated service. ``generation`` is Swarm's ``ForceUpdate``
    counter: every task carries the generation it was created for, so tasks of an earlier attempt are never
    mistaken for the current one."""

    name: str
    image: str
    labels: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    replicas: int = 1
    constraints: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    binds: tuple[BindMount, ...] = ()
    configs: tuple[FileRef, ...] = ()
    secrets: tuple[FileRef, ...] = ()
    health: Health | None = None
    restart: str = "none"  # Swarm restart condition: none | on-failure | any
    generation: int = 0


@dataclass(frozen=True)
class Service:
    """A service as read: ``version`` is what the next update must name."""

    id: str
    name: str
    version: int
    labels: Mapping[str, str]
    generation: int
    replicas: int


@dataclass(frozen=True)
class Task:
    """One task of a service: ``release`` is its ``CTLPLANE_RELEASE`` environment value ("" if none);
    timestamps are the manager's (unix seconds)."""

    id: str
    node_id: str
    state: str
    desired_state: str
    error: str
    created_at: float
    updated_at: float
    generation: int
    release: str

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


def carries(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """Whether ``labels`` hold every label of ``selector`` (a fleet's node selector)."""
    return all(labels.get(k) == v for k, v in selector.items())


def current_task(tasks: Iterable[Task], generation: int) -> Task | None:
    """The newest of ``tasks`` created for ``generation`` (a service's current attempt), None if none."""
    mine = [t for t in tasks if t.generation == generation]
    return max(mine, key=lambda t: t.created_at) if mine else None


class Swarm(Protocol):
    """The Swarm manager, as the fleet controller uses it."""

    url: str

    def nodes(self) -> list[Node]: ...

    def config(self, name: str) -> Blob | None: ...

    def configs(self, labels: Mapping[str, str]) -> list[Blob]: ...

    def create_config(self, name: str, data: bytes, labels: Mapping[str, str]) -> Blob: ...

    def secret(self, name: str) -> Blob | None: ...

    def create_secret(self, name: str, data: bytes, labels: Mapping[str, str]) -> Blob: ...

    def secrets(self, labels: Mapping[str, str]) -> list[Blob]: ...

    def remove_config(self, name: str) -> None: ...

    def remove_secret(self, name: str) -> None: ...

    def service(self, name: str) -> Service | None: ...

    def services(self, labels: Mapping[str, str]) -> list[Service]: ...

    def create_service(self, spec: ServiceSpec) -> Service: ...

    def update_service(self, current: Service, spec: ServiceSpec) -> None: ...

    def remove_service(self, name: str) -> None: ...

    def tasks(self, service: str) -> list[Task]: ...

    def service_logs(self, service: str, tail: int) -> list[str]: ...


class Clock(Protocol):
    """Wall-clock time and waiting, injectable."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
