"""From a built model with a ``fleet:`` section to a rollout and a status: the controller's edge.

:func:`rollout_spec` is pure: the release bundle of the model (``sources`` + ``bundle``), its parts, and the
waves the fleet's rollout settings give the Swarm's nodes that carry the fleet's labels (canary first; nodes
that are not ready or not active are left out and reported, never silently dropped). :func:`open_swarm`
connects to the manager the model names (tls files relative to the model). :func:`apply_fleet` and
:func:`fleet_status` put those together for the CLI: the configs are proven with the real binaries before
anything is published, and a fleet without a selectable node is refused. The test hooks named in
:data:`TEST_HOOKS` are passed on to the agents when ``ctlplane apply`` runs with them set (never in production).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ctlplane.errors import CtlplaneError, Finding
from ctlplane.fleet.bundle import build_bundle, split
from ctlplane.fleet.publish import RolloutSpec, Secret
from ctlplane.fleet.sources import release_sources
from ctlplane.fleet.swarm import carries
from ctlplane.fleet.waves import Left, rollout_waves

TEST_HOOKS = ("CTLPLANE_AGENT_PAUSE_AT",)  # the agent's test hook (ctlplane.fleet.pause), passed on when set

if TYPE_CHECKING:
    from ctlplane.fleet.rollout import RolloutResult
    from ctlplane.fleet.status import FleetStatus
    from ctlplane.fleet.swarm import Clock, Node, Swarm
    from ctlplane.model.fleet import Fleet
    from ctlplane.pipeline import Build


class FleetError(CtlplaneError):
    """A fleet cannot be rolled out as asked (no model fleet, no selectable node)."""


@dataclass(frozen=True)
class Candidate:
    """A Swarm node as the wave planner sees it."""

    node: Node

    @property
    def id(self) -> str:
        return self.node.id

    @property
    def hostname(self) -> str:
        return self.node.hostname

    @property
    def ready(self) -> bool:
        return self.node.state == "ready"

    @property
    def active(self) -> bool:
        return self.node.availability == "active"


@dataclass(frozen=True)
class Plan:
    """A rollout to run and the selected nodes it leaves out (with the reason)."""

    spec: RolloutSpec
    left: tuple[Left[Candidate], ...]


def fleet_of(build: Build) -> Fleet:
    fleet = build.loaded.model.fleet
    if fleet is None:
        raise FleetError(f"{build.loaded.file} has no fleet", [Finding("the model has no fleet: section",
                                                                       file=build.loaded.file)])
    return fleet


def selected(fleet: Fleet, nodes: list[Node]) -> list[Node]:
    """The nodes that carry every label of the fleet's selector."""
    return [n for n in nodes if carries(n.labels, fleet.nodes.labels)]


def rollout_spec(build: Build, nodes: list[Node], agent_env: Mapping[str, str] | None = None) -> Plan:
    """The rollout of ``build``'s release to the fleet's nodes among ``nodes`` (pure)."""
    fleet = fleet_of(build)
    sources = release_sources(build.loaded, build.assets)
    bundle = build_bundle(fleet.name, sources.model, sources.files, sources.keys)
    waves = rollout_waves(fleet.rollout, [Candidate(n) for n in selected(fleet, nodes)])
    if not waves.waves:
        labels = ", ".join(f"{k}={v}" for k, v in fleet.nodes.labels.items())
        why = "; ".join(f"{x.node.hostname}: {x.reason}" for x in waves.left_out) or "no node carries them"
        raise FleetError(f"fleet {fleet.name} has no node to roll out to", [Finding(
            f"no ready, active Swarm node carries the labels {labels} ({why})", file=build.loaded.file,
            path="fleet.nodes.labels", source="fleet")])
    rollout = fleet.rollout
    spec = RolloutSpec(
        fleet=fleet.name, agent_image=fleet.agent_image, release=bundle.digest,
        parts=tuple(split(fleet.name, bundle.tar, secrets=sorted(bundle.secrets))),
        secrets=tuple(Secret(name, data) for name, data in sorted(bundle.secrets.items())),
        waves=tuple(tuple(c.id for c in wave) for wave in waves.waves),
        selector=dict(fleet.nodes.labels), soak_s=rollout.soak / 1000, deadline_s=rollout.deadline / 1000,
        gate=rollout.gate.model_dump(), agent_env=dict(agent_env or {}))
    return Plan(spec, tuple(waves.left_out))


def open_swarm(build: Build) -> Swarm:
    """The manager's engine API, as the model's fleet names it."""
    from ctlplane.fleet.docker_swarm import DockerSwarm, TlsFiles

    manager = fleet_of(build).manager
    tls = None
    if manager.tls is not None:
        base = build.loaded.base_dir

        def path(name: str) -> str:
            return str(name) if os.path.isabs(name) else str(base / name)

        tls = TlsFiles(path(manager.tls.ca), path(manager.tls.cert), path(manager.tls.key))
    return DockerSwarm(manager.url, tls)


def plain_tcp_warning(build: Build) -> list[Finding]:
    manager = fleet_of(build).manager
    if manager.url.startswith("tcp://") and manager.tls is None:
        return [Finding(f"the Swarm manager {manager.url} is reached without TLS (allow_plain_tcp): anyone on that "
                        "network can run containers on it", file=build.loaded.file, path="fleet.manager.url",
                        severity="warning", source="fleet")]
    return []


def apply_fleet(build: Build, swarm: Swarm, clock: Clock | None = None) -> tuple[RolloutResult, Plan]:
    """Prove the fleet's configs with the real binaries, then roll the release out through ``swarm``."""
    from ctlplane.fleet.rollout import Controller
    from ctlplane.pipeline import binary_check, require_clean

    fleet = fleet_of(build)
    for proxy in fleet.proxies:
        require_clean(binary_check(build, proxy), allow_skipped=False)
    plan = rollout_spec(build, swarm.nodes(), {k: v for k, v in os.environ.items() if k in TEST_HOOKS and v})
    return Controller(swarm, plan.spec, clock).run(), plan


def fleet_status(build: Build, swarm: Swarm) -> FleetStatus:
    from ctlplane.fleet.state import gone_check
    from ctlplane.fleet.status import gather

    fleet = fleet_of(build)
    return gather(swarm, fleet.name, dict(fleet.nodes.labels), gone=gone_check(3 * fleet.rollout.deadline / 1000))
