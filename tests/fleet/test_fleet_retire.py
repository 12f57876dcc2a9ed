"""A node that left the fleet: its last agent task stops its proxies on the simulated host and records the node
as retired with no last-known-good, so that a node labelled again starts like a new one."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctlplane.fleet.agent import AgentError, read_status
from ctlplane.fleet.retire import retire
from tests.fleet.test_fleet_agent import Node, first_release


def test_retiring_stops_the_proxies_and_forgets_the_last_known_good(tmp_path: Path) -> None:
    node = Node()
    one, _ = first_release(tmp_path, node)
    assert node.reports(one, one.release)["edge"] is not None  # its workers serve the release's config
    assert retire(one, node.seams()) == ["edge"]
    assert node.reports(one, one.release) == {"edge": None}  # no worker serves any more
    assert node.events[-1] == {"event": "retired", "node": one.node, "proxies": ["edge"]}
    record = read_status(one)
    assert record["state"] == "retired" and record["lkg"] is None


def test_a_proxy_that_cannot_be_stopped_fails_the_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ctlplane.errors import DriverError

    node = Node()
    one, _ = first_release(tmp_path, node)

    def refuse(self: object) -> None:
        raise DriverError("cannot stop", [])

    monkeypatch.setattr("ctlplane.drivers.haproxy.HaproxyControl.stop", refuse)
    with pytest.raises(AgentError) as caught:
        retire(one, node.seams())
    assert "could not be stopped" in caught.value.message and "edge: cannot stop" in str(caught.value)
    assert node.events[-1]["event"] == "retire-failed" and read_status(one)["state"] == "soaked"
