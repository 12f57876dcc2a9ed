"""A five-node fake fleet and rollout specs for the controller and status tests."""

from __future__ import annotations

from ctlplane.fleet.fake import FakeSwarm
from ctlplane.fleet.bundle import Part
from ctlplane.fleet.publish import RolloutSpec, Secret
from ctlplane.fleet.rollout import Controller, RolloutResult
from ctlplane.fleet.specs import agent_name

FLEET = "edge"
SELECTOR = {"ctlplane.fleet": FLEET}
NODES = [f"node{i}xxxxxxxxxxxxxxxxxx" for i in range(1, 6)]  # Swarm node ids are 25 characters
WAVES = ((NODES[0],), (NODES[1], NODES[2]), (NODES[3], NODES[4]))
KEY = b"-----BEGIN PRIVATE KEY-----\nsecret-bytes\n-----END PRIVATE KEY-----\n"
R1, R2, R3 = "1" * 64, "2" * 64, "3" * 64
DEADLINE = 60.0


class Killed(BaseException):
    """The controller process died (nothing in the controller catches a BaseException)."""


def fleet() -> FakeSwarm:
    fake = FakeSwarm()
    for i, node in enumerate(NODES, 1):
        fake.add_node(node, f"lb{i}", SELECTOR)
    return fake


def rollout_spec(release: str, waves: tuple[tuple[str, ...], ...] = WAVES, key: bytes = KEY) -> RolloutSpec:
    data = f"bundle of {release}".encode() * 3
    parts = (Part(f"ctl-{FLEET}-{release[:16]}-1-of-2", data[:20], 1, 2, {}),
             Part(f"ctl-{FLEET}-{release[:16]}-2-of-2", data[20:], 2, 2, {}))
    return RolloutSpec(fleet=FLEET, agent_image="ctlplane-agent:test", release=release, parts=parts,
                       secrets=(Secret("ctl-edge-key-0123456789abcdef", key),), waves=waves, selector=SELECTOR,
                       soak_s=10.0, deadline_s=DEADLINE, gate={"max_5xx_increase": 0.01, "pools_healthy": True})


def apply(fake: FakeSwarm, release: str, owner: str = "ctl-test", **kwargs: object) -> RolloutResult:
    return Controller(fake, rollout_spec(release, **kwargs), fake.clock, owner=owner).run()  # type: ignore[arg-type]


def releases(fake: FakeSwarm) -> dict[str, tuple[str, str]]:
    """Per node: its agent service's (release, lkg) labels."""
    out = {}
    for node in NODES:
        name = agent_name(FLEET, node)
        if name in fake.svcs:
            labels = fake.spec(name).labels
            out[node] = (labels["ctlplane.release"], labels["ctlplane.lkg"])
    return out


def serving(fake: FakeSwarm) -> dict[str, str]:
    """Per node: the release of its current running agent task (what it serves once healthy)."""
    out = {}
    for node in NODES:
        name = agent_name(FLEET, node)
        if name in fake.svcs:
            running = [t for t in fake.tasks(name) if t.state == "running"]
            out[node] = running[-1].release if running else ""
    return out


def touched(fake: FakeSwarm, since: int) -> set[str]:
    """The agent services created or updated since call number ``since``."""
    return {name for op, name in fake.calls[since:] if op in ("create_service", "update_service") and "-agent-" in name}
