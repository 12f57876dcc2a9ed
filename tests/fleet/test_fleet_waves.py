"""Wave planning: canary first, then waves by size or share (rounded up, at least one), in hostname-then-id order;
nodes that are not Ready or not active are reported with a reason."""

from __future__ import annotations

import pytest

from ctlplane.fleet.waves import Node, plan_waves, rollout_waves
from ctlplane.model.fleet import Rollout


def nodes(n: int) -> list[Node]:
    return [Node(id=f"id{i}", hostname=f"lb{i}") for i in reversed(range(1, n + 1))]


def ids(waves: tuple[tuple[Node, ...], ...]) -> list[list[str]]:
    return [[n.hostname for n in wave] for wave in waves]


@pytest.mark.parametrize(("count", "size", "expected"), [
    (1, 2, [["lb1"]]),
    (2, 2, [["lb1"], ["lb2"]]),
    (3, 2, [["lb1"], ["lb2", "lb3"]]),
    (7, 2, [["lb1"], ["lb2", "lb3"], ["lb4", "lb5"], ["lb6", "lb7"]]),
    (7, 4, [["lb1"], ["lb2", "lb3", "lb4", "lb5"], ["lb6", "lb7"]]),
])
def test_waves_by_size(count: int, size: int, expected: list[list[str]]) -> None:
    assert ids(plan_waves(nodes(count), canary=1, wave_size=size).waves) == expected


@pytest.mark.parametrize(("count", "share", "expected"), [
    (1, 0.5, [["lb1"]]),
    (2, 0.5, [["lb1"], ["lb2"]]),
    (3, 0.5, [["lb1"], ["lb2", "lb3"]]),  # ceil(1.5) = 2
    (7, 0.25, [["lb1"], ["lb2", "lb3"], ["lb4", "lb5"], ["lb6", "lb7"]]),  # ceil(1.75) = 2
    (7, 0.01, [["lb1"], ["lb2"], ["lb3"], ["lb4"], ["lb5"], ["lb6"], ["lb7"]]),  # at least one
    (7, 1.0, [["lb1"], ["lb2", "lb3", "lb4", "lb5", "lb6", "lb7"]]),
])
def test_waves_by_share(count: int, share: float, expected: list[list[str]]) -> None:
    assert ids(plan_waves(nodes(count), canary=1, wave_share=share).waves) == expected


def test_a_larger_canary_and_the_default_of_one_node_per_wave() -> None:
    assert ids(plan_waves(nodes(3), canary=2).waves) == [["lb1", "lb2"], ["lb3"]]
    assert ids(plan_waves(nodes(2), canary=5).waves) == [["lb1", "lb2"]]
    assert plan_waves([]).waves == ()


def test_order_is_hostname_then_id() -> None:
    found = plan_waves([Node("b", "same"), Node("a", "same"), Node("c", "alpha")], wave_size=5)
    assert [[n.id for n in w] for w in found.waves] == [["c"], ["a", "b"]]
    assert found.wave_of("b") == 1 and found.wave_of("zz") is None


def test_nodes_not_ready_or_not_active_are_reported_not_dropped() -> None:
    given = [Node("1", "lb1"), Node("2", "lb2", ready=False), Node("3", "lb3", active=False), Node("4", "lb4")]
    found = plan_waves(given, wave_size=2)
    assert ids(found.waves) == [["lb1"], ["lb4"]]
    assert [(x.node.hostname, x.reason.split(":")[0]) for x in found.left_out] == [
        ("lb2", "not Ready"), ("lb3", "availability is not active (drained or paused)")]
    share = plan_waves(given, wave_share=0.5)  # the share counts the eligible nodes only: ceil(0.5 * 2) = 1
    assert ids(share.waves) == [["lb1"], ["lb4"]]


def test_from_the_model_rollout() -> None:
    assert ids(rollout_waves(Rollout(canary=1, wave_share=0.5), nodes(5)).waves) == [["lb1"], ["lb2", "lb3", "lb4"],
                                                                                      ["lb5"]]
    with pytest.raises(ValueError):
        plan_waves(nodes(2), canary=0)
