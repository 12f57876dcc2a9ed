"""Faults during a fleet rollout on the real three-node Swarm (issue 16's tests 4, 5 and 6).

A fault only the last wave's node has (its new port held by another listener) halts the rollout there and
returns every node already changed to last-known-good. The controller (``ctlplane apply``, a subprocess) is
killed with SIGKILL between waves and during one: ``ctlplane status`` at once shows the rollout interrupted
(its owner's pid no longer runs on this host) and no node in sync that does not serve the target, and a re-run
takes over at once, resuming the same release or first finishing the rollback before another one. An agent
container is killed while its transaction stands after stage, after activate and during the reload (the agent
waits at that step through the test hook ``CTLPLANE_AGENT_PAUSE_AT``, see ``ctlplane/fleet/pause.py``): the
controller starts the agent again (it died without a verdict), the node converges on the target, and status
never shows it in sync before its proxy answers with the target. Keep-alive load through every node sees no
failed request throughout. The tests share one fleet (module fixture); each starts from an idle fleet in sync.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integration.fleet.kit import (AGENT_ROOT, EXTRA_PORT, FLEET, PORT, Run, agent_view, ctl, finish, fleet_lab,
                                   fleet_model, held_port, proxy_facts, release_of, start_ctl, write_model)
from integration.fleet.lab import Node, SwarmLab
from integration.fleet.traffic import NodeLoad
from integration.harness.wait import wait_until

SOAK = "2s"
DEADLINE = "30s"


@dataclass
class Fleet:
    """The fleet under test: where its models are written and the release every node serves."""

    lab: SwarmLab
    home: Path
    serving: str = ""
    model: Path | None = None

    @property
    def nodes(self) -> list[Node]:
        return sorted(self.lab.nodes, key=lambda n: n.name)  # waves are ordered by hostname: n1 is the canary

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def target(self, node: Node) -> str:
        return f"{node.ip}:{PORT}"

    @property
    def targets(self) -> list[str]:
        return [self.target(n) for n in self.nodes]

    def write(self, release: str, **kwargs: Any) -> Path:
        kwargs = {"soak": SOAK, "deadline": DEADLINE, **kwargs}
        return write_model(self.home / f"{release}-{len(list(self.home.iterdir()))}",
                           fleet_model(self.lab, release, **kwargs))

    def apply(self, release: str, **kwargs: Any) -> tuple[Run, Path]:
        path = self.write(release, **kwargs)
        return ctl("apply", str(path), "--yes", "-o", "json"), path

    def status(self, path: Path | None = None) -> dict[str, Any]:
        path = path or self.model
        assert path is not None
        run = ctl("status", str(path), "-o", "json", timeout=90)
        assert run.code == 0, run
        found: dict[str, Any] = run.json()
        return found

    def rows(self, status: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {r["hostname"]: r for r in status["nodes"]}

    def loaded(self, load: NodeLoad) -> None:
        wait_until(lambda: all(load.answers[t] for t in self.targets), timeout=10, what="load on every node")


@pytest.fixture(scope="module")
def fleet(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with fleet_lab(swarm_lab):
        yield Fleet(swarm_lab, tmp_path_factory.mktemp("faults"))


def ensure_serving(fleet: Fleet) -> None:
    """Start from an idle fleet in sync on one release (tests run in random order; a fault test leaves a halted
    rollout behind, whose failed node status rightly shows until the next rollout)."""
    if fleet.serving and fleet.model is not None:
        status = fleet.status()
        if status["phase"] == "idle" and status["in_sync"]:
            return
    release = fleet.serving or "f0"
    run, path = fleet.apply(release)
    assert run.code == 0, run
    fleet.serving, fleet.model = release, path


def assert_serving(fleet: Fleet, release: str, path: Path) -> None:
    """Every node answers with ``release`` and status shows the fleet idle and in sync on it."""
    for node in fleet.nodes:
        assert release_of(node) == release, node.name
    status = fleet.status(path)
    assert status["phase"] == "idle" and status["in_sync"], status
    assert all(r["state"] == "in-sync" and r["reported"] == status["target"] for r in status["nodes"]), status
    fleet.serving, fleet.model = release, path


# -- 4. a failure in wave 2 ----------------------------------------------------------------------------------
def test_a_failure_in_wave_2_returns_every_changed_node_to_last_known_good(fleet: Fleet) -> None:
    ensure_serving(fleet)
    n3 = fleet.node("n3")
    squatter = held_port(n3, fleet.lab.images[0], EXTRA_PORT)
    try:
        with NodeLoad(fleet.targets) as load:
            fleet.loaded(load)
            run, _ = fleet.apply("f-bad", extra_service=True, wave_size=1)
            wait_until(lambda: load.total() > 30, timeout=10, what="some load after the apply")
    finally:
        squatter.remove(force=True)
    assert run.code != 0, run
    result = run.json()
    assert not result["ok"] and result["phase"] == "halted", result
    assert "n3" in result["reason"] and "wave 2" in result["reason"], result
    nodes = {n["hostname"]: (n["wave"], n["outcome"]) for n in result["nodes"]}
    assert nodes == {"n1": (0, "rolled-back"), "n2": (1, "rolled-back"), "n3": (2, "failed")}, result
    assert load.failures() == [], load.failures()[:10]
    for target in fleet.targets[:2]:  # the first two waves served the new release before the halt
        assert any(a.release == "f-bad" for a in load.answers[target]), target
    for node in fleet.nodes:
        assert release_of(node) == fleet.serving, node.name
    status = fleet.status()
    assert status["phase"] == "halted" and "n3" in status["reason"] and "wave 2" in status["reason"], status
    rows = fleet.rows(status)
    assert rows["n3"]["state"] == "failed" and status["lkg"][:16] in rows["n3"]["detail"], status
    for name in ("n1", "n2"):
        assert rows[name]["state"] == "in-sync" and rows[name]["reported"] == status["lkg"], status


# -- 5. the controller killed ----------------------------------------------------------------------------------
def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the controller and reap it (until reaped, a zombie would still count as a running pid)."""
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


def assert_truthful(fleet: Fleet, status: dict[str, Any], names: dict[str, str]) -> None:
    """No row is in sync for a node whose proxy does not answer with the target (``names``: digest -> X-Release)."""
    for node in fleet.nodes:
        row = fleet.rows(status)[node.name]
        if row["state"] == "in-sync":
            assert row["reported"] == row["desired"] == status["target"], status
            assert release_of(node) == names[status["target"]], (node.name, status)


def moved(fleet: Fleet, node: Node, away_from: str) -> str:
    """The release ``node``'s agent service now names, when it is no longer ``away_from`` ("" otherwise)."""
    view = agent_view(fleet.lab, node)
    return view.release if view is not None and view.release != away_from else ""


def healthy_on(fleet: Fleet, node: Node, release: str) -> bool:
    """Whether the manager counts ``node``'s agent task of ``release`` running (healthy: applied and soaked)."""
    view = agent_view(fleet.lab, node)
    return view is not None and view.task_state == "running" and view.task_release == release


def test_a_controller_killed_between_waves_shows_interrupted_and_a_re_run_resumes(fleet: Fleet) -> None:
    ensure_serving(fleet)
    lkg = fleet.status()["target"]
    n1, n2, n3 = fleet.nodes
    path = fleet.write("f-a")
    with NodeLoad(fleet.targets) as load:
        fleet.loaded(load)
        proc = start_ctl("apply", str(path), "--yes", "-o", "json")
        try:
            wait_until(lambda: moved(fleet, n1, lkg), timeout=60, interval=0.2, what="the canary moved")
            os.kill(proc.pid, signal.SIGSTOP)  # frozen from here: it never sees the canary healthy
            new = moved(fleet, n1, lkg)
            wait_until(lambda: healthy_on(fleet, n1, new), timeout=60, interval=0.3,
                       what="the canary healthy on the new release")
            assert not moved(fleet, n2, lkg) and not moved(fleet, n3, lkg)  # wave 1 has not moved
        finally:
            kill(proc)
        status = fleet.status(path)
        assert status["phase"] == "interrupted" and status["target"] == new, status
        assert f"pid {proc.pid}" in status["reason"] and "apply again" in status["reason"], status
        rows = fleet.rows(status)
        assert rows["n1"]["state"] == "in-sync" and rows["n1"]["reported"] == new, status
        assert rows["n2"]["state"] == rows["n3"]["state"] == "pending", status
        assert_truthful(fleet, status, {new: "f-a", lkg: fleet.serving})
        run = ctl("apply", str(path), "--yes", "-o", "json")  # at once: the dead owner's pid is gone
        assert run.code == 0, run
        result = run.json()
        assert f"-{proc.pid}-" in result["took_over"], result
        assert {n["hostname"]: n["outcome"] for n in result["nodes"]} == {
            "n1": "unchanged", "n2": "applied", "n3": "applied"}, result
        wait_until(lambda: all(load.last_release(t) == "f-a" for t in fleet.targets), timeout=10,
                   what="the load sees f-a on every node")
    assert load.failures() == [], load.failures()[:10]
    assert_serving(fleet, "f-a", path)


def served(load: NodeLoad, target: str) -> list[str]:
    """The releases a node answered with, in order, each run of equal answers once."""
    out: list[str] = []
    for answer in load.answers[target]:
        if answer.status == 200 and (not out or out[-1] != answer.release):
            out.append(answer.release)
    return out


def test_a_controller_killed_during_a_wave_then_a_re_run_with_another_release_rolls_back_first(
        fleet: Fleet) -> None:
    ensure_serving(fleet)
    lkg, old = fleet.status()["target"], fleet.serving
    n1, n2, n3 = fleet.nodes
    with NodeLoad(fleet.targets) as load:
        fleet.loaded(load)
        proc = start_ctl("apply", str(fleet.write("f-b", soak="6s")), "--yes", "-o", "json")
        try:
            wait_until(lambda: moved(fleet, n2, lkg) and moved(fleet, n3, lkg), timeout=90, interval=0.2,
                       what="wave 1 moved")
        finally:
            kill(proc)
        new = moved(fleet, n1, lkg)
        views = {n.name: agent_view(fleet.lab, n) for n in (n2, n3)}
        assert all(v is not None and v.task_state != "running" for v in views.values()), views  # mid-wave
        status = fleet.status()
        assert status["phase"] == "interrupted" and status["target"] == new, status
        assert f"pid {proc.pid}" in status["reason"], status
        assert fleet.rows(status)["n1"]["state"] == "in-sync", status
        assert_truthful(fleet, status, {new: "f-b", lkg: old})
        run, path = fleet.apply("f-c")  # at once: the dead owner's pid is gone
        assert run.code == 0, run
        assert f"-{proc.pid}-" in run.json()["took_over"], run
        wait_until(lambda: all(load.last_release(t) == "f-c" for t in fleet.targets), timeout=10,
                   what="the load sees f-c on every node")
    assert load.failures() == [], load.failures()[:10]
    for target in fleet.targets:  # f-b reached every node, went back to last-known-good, then f-c came
        assert served(load, target) in ([old, "f-b", old, "f-c"], [old, "f-c"]), (target, served(load, target))
    assert served(load, fleet.target(n1)) == [old, "f-b", old, "f-c"]
    assert_serving(fleet, "f-c", path)


# -- 6. an agent killed at a moment of its transaction --------------------------------------------------------
@pytest.mark.parametrize("moment", ["staged", "activated", "reloading"])
def test_an_agent_killed_mid_transaction_is_started_again_and_status_never_runs_ahead(
        fleet: Fleet, moment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_serving(fleet)
    n1 = fleet.node("n1")
    home = f"{AGENT_ROOT}/fleet/{FLEET}"
    for node in fleet.nodes:  # only the canary's agent waits at the moment
        rc, out = node.exec("sh", "-c", f"rm -f {home}/resume {home}/paused-* && "
                                        f"{'true' if node is n1 else f'touch {home}/resume'}")
        assert rc == 0, out
    before = proxy_facts(n1)
    release = f"f-{moment}"
    path = fleet.write(release)
    seen: list[tuple[float, dict[str, Any]]] = []
    with NodeLoad(fleet.targets) as load:
        fleet.loaded(load)
        monkeypatch.setenv("CTLPLANE_AGENT_PAUSE_AT", moment)
        proc = start_ctl("apply", str(path), "--yes", "-o", "json")
        monkeypatch.delenv("CTLPLANE_AGENT_PAUSE_AT")
        started = time.monotonic()
        try:
            wait_until(lambda: n1.exec("test", "-f", f"{home}/paused-{moment}")[0] == 0, timeout=60,
                       interval=0.2, what=f"the canary's agent paused at {moment}")
            [agent] = n1.client.containers.list(filters={
                "label": f"com.docker.swarm.service.name=ctl-{FLEET}-agent-{n1.id[:12]}", "status": "running"})
            agent.kill()
            rc, out = n1.exec("touch", f"{home}/resume")
            assert rc == 0, out
            while proc.poll() is None and len(seen) < 60:  # status during the window, until the apply ends
                seen.append((time.time(), fleet.status(path)))
            run = finish(proc, started)
        finally:
            if proc.poll() is None:
                kill(proc)
            for node in fleet.nodes:
                node.exec("sh", "-c", f"rm -f {home}/resume {home}/paused-*")
    assert run.code == 0, run
    result = run.json()
    assert {n["hostname"]: n["outcome"] for n in result["nodes"]} == {
        "n1": "applied", "n2": "applied", "n3": "applied"}, result
    assert load.failures() == [], load.failures()[:10]
    first = min((a.at for a in load.answers[fleet.target(n1)] if a.release == release), default=float("inf"))
    for at, status in seen:  # never in sync before the proxy itself answered with the release
        row = fleet.rows(status)["n1"]
        assert row["state"] != "in-sync" or (row["reported"] == result["release"] and first <= at), (at, status)
    assert seen and any(fleet.rows(s)["n1"]["state"] != "in-sync" for _, s in seen), seen
    after = proxy_facts(n1)
    assert (after.container, after.master) == (before.container, before.master)  # the proxy was never restarted
    assert_serving(fleet, release, path)
