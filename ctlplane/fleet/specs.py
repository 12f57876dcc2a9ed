"""Names, labels and service specs of a fleet's Swarm objects, pure.

One agent service per node, ``ctl-<fleet>-agent-<node id[:12]>``: replicated 1, placed on
``node.id==<id>``, restart condition ``none`` (a failed agent stays failed and the controller
sees it), the engine socket and ``/var/lib/ctlplane`` bound in, the release's parts mounted as
configs at ``/run/ctlplane/release/part-<k>`` and its keys as secrets (0400) under
``/run/secrets``, the release, soak, gate and each part's sha256 in its environment, the fleet, node, wave, desired
release and last-known-good in its labels, and a test of the agent's health file as its
healthcheck (Swarm counts the task running only once it passes: applied, soaked, and the
proxies' workers report the release). The fleet's state
record is the service ``ctl-<fleet>-state`` with 0 replicas; it never runs, its labels are the
record. A :class:`Release` names what a release's agents mount; it is recovered from the
labels of its part configs (``ctlplane.secrets`` lists its secrets), so a controller that never
saw a release can still return a node to it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ctlplane.fleet.swarm import BindMount, Blob, FileRef, Health, ServiceSpec

L_FLEET = "ctlplane.fleet"
L_NODE = "ctlplane.node"
L_WAVE = "ctlplane.wave"
L_RELEASE = "ctlplane.release"
L_LKG = "ctlplane.lkg"
L_PART = "ctlplane.part"
L_PARTS = "ctlplane.parts"
L_SHA = "ctlplane.sha256"
L_SECRETS = "ctlplane.secrets"  # on every part: the release's secret names, comma-separated
L_ROLE = "ctlplane.role"  # agent | state

STATE_DIR = "/var/lib/ctlplane"
DOCKER_SOCKET = "/var/run/docker.sock"
RELEASE_DIR = "/run/ctlplane/release"
AGENT_COMMAND = ("ctlplane", "agent", "run")
HEALTH_FILE = "/run/ctlplane/healthy"  # the agent keeps the release in it while its proxies serve it
# The healthcheck runs every second on every node: a shell test of the agent's health file, not a Python process
# that loads the model and asks the proxies (``ctlplane agent check`` does that, for an operator).
CHECK_COMMAND = ("sh", "-c", f'test "$(cat {HEALTH_FILE} 2>/dev/null)" = "$CTLPLANE_RELEASE"')
SECRET_MODE = 0o400


def agent_name(fleet: str, node_id: str) -> str:
    return f"ctl-{fleet}-agent-{node_id[:12]}"


def state_name(fleet: str) -> str:
    return f"ctl-{fleet}-state"


@dataclass(frozen=True)
class Release:
    """What the agents of one release mount: its part configs in order, its key secrets and the sha256 of each
    part (the agent checks every part's bytes against it and names a corrupted one)."""

    digest: str
    parts: tuple[str, ...]
    secrets: tuple[str, ...] = ()
    shas: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentSettings:
    """What every agent service of a fleet shares."""

    fleet: str
    image: str
    soak_s: float
    deadline_s: float
    gate: Mapping[str, object] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)  # more environment (test hooks: controller.TEST_HOOKS)


def part_labels(fleet: str, digest: str, k: int, n: int, sha: str, secrets: Sequence[str]) -> dict[str, str]:
    """The labels of part ``k`` of ``n`` (1-based) of release ``digest``."""
    return {L_FLEET: fleet, L_RELEASE: digest, L_PART: str(k), L_PARTS: str(n), L_SHA: sha,
            L_SECRETS: ",".join(secrets)}


def release_from_parts(digest: str, parts: Sequence[Blob]) -> Release | None:
    """The release whose part configs are listed, or None when a part is missing (the release cannot be
    mounted again)."""
    mine = [p for p in parts if p.labels.get(L_RELEASE) == digest]
    if not mine:
        return None
    n = int(mine[0].labels.get(L_PARTS, "0"))
    by_k = {int(p.labels.get(L_PART, "0")): p for p in mine}
    if n < 1 or sorted(by_k) != list(range(1, n + 1)):
        return None
    secrets = mine[0].labels.get(L_SECRETS, "")
    shas = tuple(by_k[k].labels.get(L_SHA, "") for k in range(1, n + 1))
    return Release(digest, tuple(by_k[k].name for k in range(1, n + 1)),
                   tuple(s for s in secrets.split(",") if s), shas if all(shas) else ())


def agent_spec(settings: AgentSettings, node_id: str, wave: int, release: Release, lkg: str,
               generation: int) -> ServiceSpec:
    """The agent service of one node serving ``release`` (``lkg``: its last-known-good digest, "" if none)."""
    labels = {L_FLEET: settings.fleet, L_ROLE: "agent", L_NODE: node_id, L_WAVE: str(wave),
              L_RELEASE: release.digest, L_LKG: lkg}
    env = {"CTLPLANE_FLEET": settings.fleet, "CTLPLANE_NODE": node_id, "CTLPLANE_RELEASE": release.digest,
           "CTLPLANE_SOAK_MS": str(round(settings.soak_s * 1000)),
           "CTLPLANE_GATE": json.dumps(dict(settings.gate), sort_keys=True, separators=(",", ":")), **settings.env}
    if release.shas and len(release.shas) == len(release.parts):
        env["CTLPLANE_PARTS"] = json.dumps(list(release.shas), separators=(",", ":"))
    return ServiceSpec(
        name=agent_name(settings.fleet, node_id), image=settings.image, labels=labels, command=AGENT_COMMAND,
        replicas=1, constraints=(f"node.id=={node_id}",), env=env,
        binds=(BindMount(DOCKER_SOCKET, DOCKER_SOCKET), BindMount(STATE_DIR, STATE_DIR)),
        configs=tuple(FileRef(name, f"{RELEASE_DIR}/part-{k}") for k, name in enumerate(release.parts, 1)),
        secrets=tuple(FileRef(name, name, SECRET_MODE) for name in release.secrets),
        health=Health(CHECK_COMMAND, interval_s=1.0, timeout_s=10.0, retries=1, start_period_s=settings.deadline_s),
        restart="none", generation=generation)


def with_labels(spec: ServiceSpec, changes: Mapping[str, str]) -> ServiceSpec:
    """``spec`` with some labels changed (a label-only update starts no task)."""
    return replace(spec, labels={**spec.labels, **changes})


def state_spec(fleet: str, image: str, labels: Mapping[str, str]) -> ServiceSpec:
    """The state record: a service that never runs (0 replicas) whose labels are the record."""
    return ServiceSpec(name=state_name(fleet), image=image, labels={**labels, L_FLEET: fleet, L_ROLE: "state"},
                       command=("true",), replicas=0)
