"""What a rollout is given, and publishing its release to the Swarm once, content-addressed.

A :class:`RolloutSpec` is plain data: the fleet, the agent image, the release digest, the
release's parts (config name, labels, bytes) and key secrets (name, bytes), the waves as node
ids (canary first), the node label selector, the soak, the wave deadline and the gate. Publishing
creates each part as a Swarm config and each key as a Swarm secret, labelled with the fleet and
the sha256 of its bytes; an object of the same name and the same sha is reused, one with another
sha is refused (a name is a promise about content), and nothing else is written. Keys only ever
travel as secrets: their bytes are never put in a config, a label or an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ctlplane.errors import DriverError, Finding
from ctlplane.fleet.bundle import Part, sha256
from ctlplane.fleet.specs import L_FLEET, L_SHA, AgentSettings, Release, part_labels
from ctlplane.fleet.swarm import Swarm


@dataclass(frozen=True)
class Secret:
    """One private key, published as a Swarm secret."""

    name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class RolloutSpec:
    """Everything one rollout needs, as plain data."""

    fleet: str
    agent_image: str
    release: str
    parts: tuple[Part, ...]
    secrets: tuple[Secret, ...]
    waves: tuple[tuple[str, ...], ...]
    selector: Mapping[str, str]
    soak_s: float
    deadline_s: float
    gate: Mapping[str, object] = field(default_factory=dict)
    agent_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def settings(self) -> AgentSettings:
        return AgentSettings(self.fleet, self.agent_image, self.soak_s, self.deadline_s, self.gate, self.agent_env)

    @property
    def target(self) -> Release:
        return Release(self.release, tuple(p.name for p in self.parts), tuple(s.name for s in self.secrets),
                       tuple(sha256(p.data) for p in self.parts))


def publish(swarm: Swarm, spec: RolloutSpec) -> list[str]:
    """Create the release's configs and secrets that are not there yet; the names created, in order."""
    created: list[str] = []
    names = [s.name for s in spec.secrets]
    n = len(spec.parts)
    for k, part in enumerate(spec.parts, 1):
        sha = sha256(part.data)
        labels = {**part.labels, **part_labels(spec.fleet, spec.release, k, n, sha, names)}
        existing = swarm.config(part.name)
        if existing is None:
            swarm.create_config(part.name, part.data, labels)
            created.append(part.name)
        else:
            _same(swarm, "config", part.name, existing.labels.get(L_SHA, ""), sha)
    for secret in spec.secrets:
        sha = sha256(secret.data)
        found = swarm.secret(secret.name)
        if found is None:
            swarm.create_secret(secret.name, secret.data, {L_FLEET: spec.fleet, L_SHA: sha})
            created.append(secret.name)
        else:
            _same(swarm, "secret", secret.name, found.labels.get(L_SHA, ""), sha)
    return created


def _same(swarm: Swarm, kind: str, name: str, theirs: str, ours: str) -> None:
    if theirs != ours:
        message = (f"swarm {kind} {name} exists with other content (sha256 {theirs[:16] or 'unknown'}, this "
                   f"release's is {ours[:16]}): refusing to publish over it; remove the stale {kind}")
        raise DriverError(message, [Finding(message, path=swarm.url, source="driver")])
