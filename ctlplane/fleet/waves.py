"""Pure wave planning: which fleet nodes get a release in which order.

Nodes that are not Ready or not active (drained, paused) are returned apart with the reason, never silently
dropped. The others are sorted by hostname, then id (a stable order the operator can predict); the first
``canary`` form wave 0, the rest follow in waves of ``wave_size`` nodes or of ``wave_share`` of the eligible
nodes (rounded up, at least one). A node is any object with ``id``, ``hostname``, ``ready`` and ``active``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from ctlplane.model.fleet import Rollout


class NodeLike(Protocol):
    """What wave planning needs of a Swarm node."""

    @property
    def id(self) -> str: ...
    @property
    def hostname(self) -> str: ...
    @property
    def ready(self) -> bool: ...
    @property
    def active(self) -> bool: ...


N = TypeVar("N", bound=NodeLike)


@dataclass(frozen=True)
class Node:
    """A Swarm node as wave planning and status see it."""

    id: str
    hostname: str
    labels: dict[str, str] = field(default_factory=dict)
    ready: bool = True
    active: bool = True


@dataclass(frozen=True)
class Left(Generic[N]):
    """A node that gets no wave, and why."""

    node: N
    reason: str


@dataclass(frozen=True)
class Waves(Generic[N]):
    """The waves in order (wave 0 is the canary) and the nodes left out."""

    waves: tuple[tuple[N, ...], ...]
    left_out: tuple[Left[N], ...] = ()

    def wave_of(self, node_id: str) -> int | None:
        return next((i for i, wave in enumerate(self.waves) for n in wave if n.id == node_id), None)


def plan_waves(nodes: Iterable[N], canary: int = 1, wave_size: int | None = None,
               wave_share: float | None = None) -> Waves[N]:
    """The waves of ``nodes``: canary first, then waves of ``wave_size`` or ``wave_share`` (neither: 1 node)."""
    if canary < 1 or (wave_size is not None and wave_size < 1) or \
            (wave_share is not None and not 0 < wave_share <= 1):
        raise ValueError("canary and wave_size must be at least 1, wave_share in (0, 1]")
    eligible: list[N] = []
    left: list[Left[N]] = []
    for node in sorted(nodes, key=lambda n: (n.hostname, n.id)):
        if not node.ready:
            left.append(Left(node, "not Ready: the manager does not reach it (down or partitioned)"))
        elif not node.active:
            left.append(Left(node, "availability is not active (drained or paused)"))
        else:
            eligible.append(node)
    if wave_share is not None:
        size = max(1, math.ceil(wave_share * len(eligible)))
    else:
        size = wave_size or 1
    waves = [tuple(eligible[:canary])] if eligible else []
    rest = eligible[canary:]
    waves += [tuple(rest[i:i + size]) for i in range(0, len(rest), size)]
    return Waves(tuple(waves), tuple(left))


def rollout_waves(rollout: Rollout, nodes: Iterable[N]) -> Waves[N]:
    """The waves a fleet's ``rollout`` settings give ``nodes``."""
    return plan_waves(nodes, rollout.canary, rollout.wave_size, rollout.wave_share)
