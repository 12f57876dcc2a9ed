"""Fixtures of the fleet suite: ``swarm_lab`` (session) is a started :class:`SwarmLab` shared by every fleet test.

It builds or reuses the node and agent images (``make fleet-images`` builds them before the suite in CI), starts
three nodes, forms the Swarm and loads ``ctlplane-base`` and ``ctlplane-agent`` into every node, once per run;
the steps' timings are printed in the terminal summary. Every test under ``integration/fleet`` is put in the
``fleet`` xdist group, so with ``-n`` one worker runs them all and only one lab starts. A failing test (or a
failing lab start) gets each node's dockerd log in its report. Without an engine the suite fails under
``CI=true`` (``docker_session``), as the rest of the integration suite does.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from integration.fleet.kit import agent_logs
from integration.fleet.lab import SwarmLab
from integration.harness import DockerSession

_LABS: list[SwarmLab] = []
TIMINGS_KEY = "ctlplane/fleet-lab-timings"
_STARTED = time.time()
HERE = os.path.dirname(os.path.abspath(__file__))


def _say(line: str) -> None:
    if sys.__stderr__ is not None:
        sys.__stderr__.write(line + "\n")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if str(item.path).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.xdist_group("fleet"))


@pytest.fixture(scope="session")
def swarm_lab(docker_session: DockerSession, request: pytest.FixtureRequest) -> Iterator[SwarmLab]:
    from integration.images.agent import ensure_agent_image
    from integration.images.node import ensure_node_image

    def quiet(line: str) -> None:
        if "cached" not in line:
            _say(line)

    t0 = time.monotonic()
    node_image = ensure_node_image(docker_session.client, progress=quiet)
    agent_image = ensure_agent_image(docker_session.client, progress=quiet)
    lab = SwarmLab(docker_session, node_image, images=(docker_session.image, agent_image), progress=_say)
    lab.timings["images"] = round(time.monotonic() - t0, 1)
    try:
        lab.start()
    except Exception as exc:
        logs = "".join(f"\n--- swarm node {name} dockerd log ---\n{text}" for name, text in lab.logs().items())
        lab.remove()
        raise RuntimeError(f"the fleet lab did not start: {exc!r}{logs}") from exc
    _LABS.append(lab)
    try:
        yield lab
    finally:
        _LABS.remove(lab)
        lab.remove()
        request.config.cache.set(TIMINGS_KEY, {"at": time.time(), **lab.timings})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    if not report.failed or "swarm_lab" not in getattr(item, "fixturenames", ()):
        return
    for lab in _LABS:
        for name, text in lab.logs().items():
            report.sections.append((f"swarm node {name} dockerd log", text))
        report.sections.append(("fleet agents and proxies", agent_logs(lab)))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The lab's start-up timings of this run (written by the worker that ran the lab, read here)."""
    timings = dict(config.cache.get(TIMINGS_KEY, {}) if config.cache else {})
    if timings.pop("at", 0) >= _STARTED:
        terminalreporter.write_line("fleet lab timings (s): " + ", ".join(f"{k} {v}" for k, v in timings.items()))
