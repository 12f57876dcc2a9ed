"""The fleet controller's hands on the node agent services: what one rollout does to one node's agent.

:class:`NodeAgents` holds the Swarm seam, the rollout's spec and clock and the fleet's nodes, and
knows how to build a node's agent service spec for a release, write it by compare-and-swap
(read again and retried when Swarm bumped the version itself), find the agent task of the
service's current generation, point a node at the target (``applied``, or ``unchanged`` for a
resumed rollout), recover a release from its published parts and keep the controller's claim
fresh. :class:`NodeResult` is one node's part in a rollout. The decisions (waves, halting, rolling
back, deferring, retiring) are made by the classes built on it (``membership``, ``rollout``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ctlplane.fleet.publish import RolloutSpec
from ctlplane.fleet.specs import (L_FLEET, L_LKG, L_RELEASE, L_WAVE, Release, agent_name, agent_spec,
                                  release_from_parts, with_labels)
from ctlplane.fleet.state import StateRecord
from ctlplane.fleet.swarm import Clock, Node, Service, ServiceSpec, Swarm, SwarmConflict, Task, current_task

CAS_TRIES = 3  # Swarm bumps an agent service's version itself while it updates (UpdateStatus): read again


@dataclass(frozen=True)
class NodeResult:
    """One node's part in a rollout: ``outcome`` is applied | unchanged | failed | rolled-back | rollback-failed |
    removed | not-reached | deferred | skipped | retired | retiring."""

    node: str
    hostname: str
    wave: int
    outcome: str
    reason: str = ""


class NodeAgents:
    """The agent services of a fleet's nodes, as one rollout of ``spec`` changes them."""

    state: StateRecord

    def __init__(self, swarm: Swarm, spec: RolloutSpec, clock: Clock, poll_s: float) -> None:
        self.swarm, self.spec, self.clock, self.poll_s = swarm, spec, clock, poll_s
        self.heartbeat_s = min(10.0, spec.deadline_s / 4)
        self._beat = 0.0
        self.hosts: dict[str, Node] = {}

    def _host(self, node: str) -> str:
        found = self.hosts.get(node)
        return found.hostname if found else node[:12]

    def _spec_of(self, node: str, cur: Service, release: Release, generation: int | None = None) -> ServiceSpec:
        wave = int(cur.labels.get(L_WAVE, "0") or 0)
        gen = cur.generation if generation is None else generation
        return agent_spec(self.spec.settings, node, wave, release, cur.labels.get(L_LKG, ""), gen)

    def _write(self, node: str, build: Callable[[str, Service], ServiceSpec | None]) -> None:
        """Update a node's agent service to what ``build`` makes of it as read (None: leave it)."""
        name = agent_name(self.spec.fleet, node)
        for attempt in range(CAS_TRIES):
            current = self.swarm.service(name)
            if current is None:
                return
            wanted = build(node, current)
            if wanted is None:
                return
            try:
                self.swarm.update_service(current, wanted)
                return
            except SwarmConflict:
                if attempt == CAS_TRIES - 1:
                    raise

    def _current(self, node: str) -> Task | None:
        """The newest task of the node's agent service created for its current generation."""
        name = agent_name(self.spec.fleet, node)
        service = self.swarm.service(name)
        if service is None:
            return None
        return current_task(self.swarm.tasks(name), service.generation)

    def _move(self, node: str, wave: int) -> str:
        """Point the node's agent at the target; ``unchanged`` when it already runs it (a resumed rollout)."""
        spec = self.spec
        name = agent_name(spec.fleet, node)
        current = self.swarm.service(name)
        if current is None:
            self.swarm.create_service(agent_spec(spec.settings, node, wave, spec.target, "", 1))
            return "applied"
        task = self._current(node)
        if current.labels.get(L_RELEASE) == spec.release and task is not None and not task.terminal:
            self._write(node, lambda n, cur: None if cur.labels.get(L_WAVE) == str(wave) else
                        with_labels(self._spec_of(n, cur, spec.target), {L_WAVE: str(wave)}))
            return "unchanged"
        self._write(node, lambda n, cur: with_labels(self._spec_of(n, cur, spec.target, cur.generation + 1),
                                                     {L_WAVE: str(wave)}))
        return "applied"

    def _heartbeat(self) -> None:
        if self.clock.now() - self._beat >= self.heartbeat_s:
            self.state.heartbeat()
            self._beat = self.clock.now()

    def _release(self, digest: str) -> Release | None:
        return release_from_parts(digest, self.swarm.configs({L_FLEET: self.spec.fleet, L_RELEASE: digest}))
