"""Pruning a fleet's published releases: the Swarm configs and key secrets that no needed release uses.

A release is needed while the caller keeps it (the controller: the release it just rolled out; an operator's
call: the rollout record's target and last-known-good, :func:`record_releases`) or while any node's agent
service names it as its release or its last-known-good: a node's way back must stay mountable (a rollback
points its agent at it again, and without its parts or its key the node would have no way back). The plan
(:func:`plan_prune`, pure) removes every part of a release that is not needed and every key secret that no
needed release names (``ctlplane.secrets`` on its parts; a key two releases share stays while either is
needed; when a needed release's parts are gone no key is removed, as there is no telling which it uses).
:func:`prune` reads the Swarm, removes what the plan says and returns the names removed; an object Swarm
refuses to remove (a service still mounts it) is left for the next prune. The controller prunes at the end of
a rollout that succeeded, while it still owns the record, so a rotated key leaves the cluster once no node can
go back to it; a halted rollout prunes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from ctlplane.errors import DriverError
from ctlplane.fleet.specs import L_FLEET, L_LKG, L_RELEASE, L_ROLE, L_SECRETS
from ctlplane.fleet.state import Record
from ctlplane.fleet.swarm import Blob, Service, Swarm


@dataclass(frozen=True)
class PrunePlan:
    """The names of the configs and secrets to remove."""

    configs: tuple[str, ...]
    secrets: tuple[str, ...]


def record_releases(record: Record | None) -> set[str]:
    """The releases a rollout record names (its target and its last-known-good)."""
    return {r for r in (record.target, record.lkg) if r} if record is not None else set()


def needed(services: Sequence[Service], keep: Iterable[str]) -> frozenset[str]:
    """``keep`` and every release the agent services name as their release or last-known-good."""
    found = set(keep)
    for service in services:
        found |= {service.labels.get(L_RELEASE, ""), service.labels.get(L_LKG, "")}
    found.discard("")
    return frozenset(found)


def plan_prune(configs: Sequence[Blob], secrets: Sequence[Blob], keep: AbstractSet[str]) -> PrunePlan:
    """What to remove of a fleet's ``configs`` and ``secrets`` when the releases in ``keep`` are needed."""
    kept_keys: set[str] = set()
    seen: set[str] = set()
    remove: list[str] = []
    for config in configs:
        release = config.labels.get(L_RELEASE, "")
        if not release:
            continue  # not a release's part
        if release in keep:
            seen.add(release)
            kept_keys |= {s for s in config.labels.get(L_SECRETS, "").split(",") if s}
        else:
            remove.append(config.name)
    if keep - seen:  # a needed release whose parts are gone: which keys it uses is unknown, keep them all
        return PrunePlan(tuple(sorted(remove)), ())
    return PrunePlan(tuple(sorted(remove)), tuple(sorted(s.name for s in secrets if s.name not in kept_keys)))


def prune(swarm: Swarm, fleet: str, keep: Iterable[str]) -> tuple[str, ...]:
    """Remove the fleet's configs and secrets that no needed release uses; the names removed."""
    services = swarm.services({L_FLEET: fleet, L_ROLE: "agent"})
    plan = plan_prune(swarm.configs({L_FLEET: fleet}), swarm.secrets({L_FLEET: fleet}), needed(services, keep))
    removed: list[str] = []
    for names, remove in ((plan.configs, swarm.remove_config), (plan.secrets, swarm.remove_secret)):
        for name in names:
            try:
                remove(name)
            except DriverError:
                continue  # still mounted by a service: Swarm refuses; the next prune tries again
            removed.append(name)
    return tuple(removed)


def prune_after_rollout(swarm: Swarm, fleet: str, release: str) -> tuple[str, ...]:
    """The controller's prune once ``release`` serves everywhere: housekeeping, so a failure changes nothing
    of the rollout's outcome (what is left is pruned by the next successful rollout)."""
    try:
        return prune(swarm, fleet, {release})
    except DriverError:
        return ()
