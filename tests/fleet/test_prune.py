"""Pruning a fleet's published releases: what a successful rollout removes from the Swarm (the parts and keys of
releases no node serves or can go back to), and what no prune removes (the last-known-good's parts and keys,
while any node or the rollout record still names it, and anything a service still mounts)."""

from __future__ import annotations

from dataclasses import replace

from ctlplane.fleet.fake import FakeSwarm, Outcome
from ctlplane.fleet.prune import needed, plan_prune, prune
from ctlplane.fleet.bundle import secret_name
from ctlplane.fleet.publish import RolloutSpec, Secret, publish
from ctlplane.fleet.specs import L_FLEET, L_LKG, L_RELEASE, L_SECRETS, agent_name, agent_spec, with_labels
from ctlplane.fleet.swarm import Blob
from ctlplane.fleet.rollout import Controller, RolloutResult
from tests.fleet.helpers import FLEET, NODES, R1, R2, fleet, releases
from tests.fleet.helpers import rollout_spec as any_key_spec

KEY_A = b"-----BEGIN PRIVATE KEY-----\nkey of release A\n-----END PRIVATE KEY-----\n"
KEY_B = b"-----BEGIN PRIVATE KEY-----\nkey of release B\n-----END PRIVATE KEY-----\n"


def rollout_spec(release: str, key: bytes) -> RolloutSpec:
    """A release whose key secret is named by the key's content, as bundles name them."""
    return replace(any_key_spec(release), secrets=(Secret(secret_name(FLEET, key), key),))


def apply(fake: FakeSwarm, release: str, key: bytes) -> RolloutResult:
    return Controller(fake, rollout_spec(release, key), fake.clock, owner="ctl-test").run()


def names(fake: FakeSwarm, kind: str) -> set[str]:
    return {name for k, name in fake.blobs if k == kind}


def part(name: str, release: str, secrets: str = "") -> Blob:
    return Blob(name, name, {L_FLEET: FLEET, L_RELEASE: release, L_SECRETS: secrets})


def test_the_plan_removes_only_releases_no_one_needs_and_keys_no_kept_release_names() -> None:
    configs = [part("a-1", "A", "key-a"), part("a-2", "A", "key-a"), part("b-1", "B", "key-b,key-shared"),
               part("c-1", "C", "key-shared"), Blob("other", "other", {L_FLEET: FLEET})]
    secrets = [Blob(n, n, {L_FLEET: FLEET}) for n in ("key-a", "key-b", "key-shared", "key-orphan")]
    plan = plan_prune(configs, secrets, frozenset({"B"}))
    assert plan.configs == ("a-1", "a-2", "c-1")  # not "other": it is no release's part
    assert plan.secrets == ("key-a", "key-orphan")  # the key B shares with C stays while B is needed
    assert plan_prune(configs, secrets, frozenset({"A", "B", "C"})).secrets == ("key-orphan",)


def test_a_needed_release_whose_parts_are_gone_keeps_every_key() -> None:
    """Without its parts there is no telling which keys it uses: none is removed."""
    secrets = [Blob("key-a", "key-a", {L_FLEET: FLEET})]
    plan = plan_prune([part("b-1", "B", "")], secrets, frozenset({"A"}))
    assert plan.configs == ("b-1",) and plan.secrets == ()


def test_needed_releases_are_the_records_and_every_agents_release_and_last_known_good() -> None:
    fake = fleet()
    apply(fake, R1, KEY_A)
    services = fake.services({L_FLEET: FLEET})
    assert needed(services, {R2, ""}) == {R1, R2}


def test_a_successful_rotation_prunes_the_old_key_once_no_node_can_go_back_to_it() -> None:
    fake = fleet()
    first = apply(fake, R1, KEY_A)
    assert first.ok and first.pruned == ()
    key_a, parts_a = names(fake, "secret"), names(fake, "config")
    second = apply(fake, R2, KEY_B)
    assert second.ok, second
    assert set(releases(fake).values()) == {(R2, R2)}
    assert key_a.isdisjoint(names(fake, "secret")) and parts_a.isdisjoint(names(fake, "config"))
    assert set(second.pruned) == key_a | parts_a
    assert len(names(fake, "secret")) == 1 and len(names(fake, "config")) == 2  # B's key and parts


def test_the_last_known_good_keeps_its_key_and_parts_while_any_node_can_go_back_to_it() -> None:
    """As in B's last wave, before the last-known-good moves: every agent mounts B and none mounts A, which Swarm
    would let go; no prune removes it while a node's last-known-good (or the caller's release) is A."""
    fake = fleet()
    apply(fake, R1, KEY_A)
    key_a, parts_a = names(fake, "secret"), names(fake, "config")
    b = rollout_spec(R2, KEY_B)
    publish(fake, b)
    for wave, nodes in enumerate(b.waves):
        for node in nodes:
            fake.svcs[agent_name(FLEET, node)].spec = agent_spec(b.settings, node, wave, b.target, R1, 2)
    assert not any(ref.name in key_a | parts_a for svc in fake.svcs.values()
                   for ref in (*svc.spec.configs, *svc.spec.secrets))
    assert prune(fake, FLEET, keep={R2}) == ()
    assert key_a <= names(fake, "secret") and parts_a <= names(fake, "config")
    for node in NODES:
        name = agent_name(FLEET, node)
        fake.svcs[name].spec = with_labels(fake.svcs[name].spec, {L_LKG: R2})
    assert prune(fake, FLEET, keep={R1}) == ()  # the release the caller keeps (the record's) stays too
    assert set(prune(fake, FLEET, keep={R2})) == key_a | parts_a


def test_a_halted_rollout_prunes_nothing() -> None:
    fake = fleet()
    apply(fake, R1, KEY_A)
    before = set(fake.blobs)
    fake.script(NODES[0], Outcome(kind="failed"))
    halted = apply(fake, R2, KEY_B)
    assert not halted.ok and halted.pruned == ()
    assert before < set(fake.blobs)


def test_an_object_a_service_still_mounts_is_left_for_the_next_prune() -> None:
    fake = fleet()
    apply(fake, R1, KEY_A)
    for node in NODES:  # labels say nothing needs R1, yet every agent still mounts it
        name = agent_name(FLEET, node)
        fake.svcs[name].spec = with_labels(fake.svcs[name].spec, {L_RELEASE: R2, L_LKG: R2})
    assert prune(fake, FLEET, keep={R2}) == ()
    assert names(fake, "secret") and names(fake, "config")
