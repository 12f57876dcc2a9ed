"""The agent's test hook: unset it observes nothing; set, the transaction waits at the named step until the resume
file exists (marker written, one ``paused`` line), and the controller's agents carry it only when asked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ctlplane.drivers.control import no_step
from ctlplane.errors import CtlplaneError
from ctlplane.fleet.agent import run
from ctlplane.fleet.pause import ENV, pause_step
from ctlplane.fleet.specs import agent_spec
from tests.fleet.agent_kit import fleet_model, publish, settings
from tests.fleet.helpers import NODES, rollout_spec
from tests.fleet.test_fleet_agent import Node


def test_unset_the_hook_is_no_step_at_all(tmp_path: Path) -> None:
    assert pause_step({}, tmp_path, print, lambda s: None, lambda: 0.0) is no_step
    assert pause_step({ENV: ""}, tmp_path, print, lambda s: None, lambda: 0.0) is no_step
    with pytest.raises(CtlplaneError, match="not one of staged, activated, reloading"):
        pause_step({ENV: "verified"}, tmp_path, print, lambda s: None, lambda: 0.0)


def test_it_waits_at_its_step_until_the_resume_file_exists(tmp_path: Path) -> None:
    events: list[dict[str, object]] = []
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:
            (tmp_path / "resume").write_text("")

    step = pause_step({ENV: "activated"}, tmp_path, events.append, sleep, lambda: float(len(naps)))
    step("staged")
    assert naps == [] and events == []
    step("activated")
    assert len(naps) == 3 and (tmp_path / "paused-activated").is_file()
    assert events == [{"event": "paused", "at": "activated", "until": str(tmp_path / "resume")}]
    step("activated")  # the resume file is there: no wait
    assert len(naps) == 3 and len(events) == 1


def test_the_wait_is_bounded(tmp_path: Path) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    pause_step({ENV: "staged"}, tmp_path, lambda e: None, sleep, lambda: now[0])("staged")
    assert 300.0 <= now[0] < 301.0


def test_the_agent_hands_its_step_observer_to_the_transaction(tmp_path: Path) -> None:
    node = Node()
    digest = publish(tmp_path / "m1", tmp_path / "out", fleet_model(8443, 9001))
    seen: list[str] = []
    run(settings(tmp_path / "out", tmp_path / "root", digest, soak_ms=0), replace(node.seams(), step=seen.append))
    assert seen[:2] == ["staged", "activated"] and seen[-1] == "verified"


def test_agents_carry_the_hook_only_when_the_rollout_passes_it_on() -> None:
    spec = rollout_spec("1" * 64)
    assert ENV not in agent_spec(spec.settings, NODES[0], 0, spec.target, "", 1).env
    hooked = replace(spec, agent_env={ENV: "reloading"})
    assert agent_spec(hooked.settings, NODES[0], 0, hooked.target, "", 1).env[ENV] == "reloading"
