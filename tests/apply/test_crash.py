"""Crash and fault tests with real local proxies on loopback: `ctlplane apply` killed with SIGKILL at each
step of the transaction (after stage, after activate, during the reload, after verification), on both
engines. Each time: the proxy serves the old release or the new one, never a mix; `status` says which,
truthfully; the next apply converges; and no request fails on HAProxy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctlplane.apply import apply_model
from ctlplane.pipeline import build
from ctlplane.render.release import release_id
from ctlplane.status import model_status
from tests.apply.local import Echo, Load, free_port, keepalive_race, who
from tests.apply.test_local import model_text
from tests.helpers import need_binary

ENGINES = ["nginx", "haproxy"]
STEPS = ["staged", "activated", "reloading", "verified"]
CHILD = """
import signal, sys, time, pathlib
from ctlplane.apply import apply_model
from ctlplane.cli import _interrupt
if sys.argv[4:] == ["cli-signals"]:
    signal.signal(signal.SIGTERM, _interrupt)  # what `ctlplane` itself installs: SIGTERM acts like Ctrl-C
marker, wanted = pathlib.Path(sys.argv[2]), sys.argv[3]
def step(name):
    if name == wanted:
        marker.write_text(name)
        time.sleep(120)
apply_model(sys.argv[1], step=step)
"""


@pytest.fixture
def lab(tmp_path: Path, echoes: dict[str, Echo]) -> Iterator[dict[str, object]]:
    """A model file with pools a (a1, a2) and b (b1), and every proxy applied from it stopped afterwards."""
    model = tmp_path / "model.yaml"
    yield {"model": model, "echoes": echoes}
    if model.exists():
        from ctlplane.apply import down_model
        from ctlplane.model.load import load_file

        down_model(load_file(model))


def write(lab: dict[str, object], engine: str, port: int, pool: str) -> Path:
    echoes = lab["echoes"]
    assert isinstance(echoes, dict)
    model = lab["model"]
    assert isinstance(model, Path)
    model.write_text(model_text(engine, port, {"a": [echoes["a1"], echoes["a2"]], "b": [echoes["b1"]]}, pool))
    return model


def served(url: str, n: int = 12) -> set[str]:
    return {who(url) for _ in range(n)}


def settled(url: str, timeout: float = 5.0) -> set[str]:
    """What the proxy serves once a reload that was already under way when apply died has finished (for a
    moment during any reload both generations answer new connections)."""
    deadline = time.monotonic() + timeout
    while True:
        now = served(url)
        if now in ({"a1", "a2"}, {"b1"}) or time.monotonic() > deadline:
            return now
        time.sleep(0.1)


def apply_paused_at(model: Path, step: str, tmp_path: Path, *, cli_signals: bool = False) -> subprocess.Popen[str]:
    """Run `apply` in a child process and return it once it waits at ``step`` (with ``cli_signals``, the child
    handles SIGTERM as the CLI does)."""
    marker = tmp_path / f"reached-{step}"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(model), str(marker), step,
                              *(["cli-signals"] if cli_signals else [])],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    try:
        while not marker.exists():
            assert child.poll() is None, f"apply ended before {step}: {child.stderr.read() if child.stderr else ''}"
            assert time.monotonic() < deadline, f"apply never reached {step}"
            time.sleep(0.02)
    except BaseException:
        child.kill()
        child.wait(10)
        raise
    return child


def kill_apply_at(model: Path, step: str, tmp_path: Path) -> None:
    """Run `apply` in a child process and SIGKILL it once it reaches ``step``."""
    child = apply_paused_at(model, step, tmp_path)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("engine", ENGINES)
def test_apply_killed_at_each_step_never_lies_and_converges(engine: str, step: str, lab: dict[str, object],
                                                            tmp_path: Path) -> None:
    need_binary(engine)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    model = write(lab, engine, port, "a")
    assert [r.outcome for r in apply_model(model)] == ["started"]
    old = release_id(build(model).outputs["lb"])
    model = write(lab, engine, port, "b")
    new = release_id(build(model).outputs["lb"])
    with Load(url) as load:
        kill_apply_at(model, step, tmp_path)
        now = settled(url)
        assert now in ({"a1", "a2"}, {"b1"}), f"a mix is served after a kill at {step}: {now}"
        assert served(url, 24) == now
        [status] = model_status(build(model))
        assert status.running and status.release == (new if now == {"b1"} else old)
        assert status.state == ("in sync" if now == {"b1"} else "drift"), status.summary()
        results = apply_model(model)
        assert served(url) == {"b1"}
        assert model_status(build(model))[0].state == "in sync"
        assert [r.outcome for r in apply_model(model)] == ["unchanged"]
    assert results[0].outcome in ("reloaded", "unchanged")
    if engine == "haproxy":
        assert load.failed == 0, load.errors[:5]
    else:  # an NGINX reload drops idle keep-alive connections of the old workers (see bench/): nothing else fails
        assert all(keepalive_race(e) for e in load.errors), load.errors[:5]


@pytest.mark.parametrize("engine", ENGINES)
def test_sigterm_during_an_apply_rolls_back_and_tells_the_truth(engine: str, lab: dict[str, object],
                                                                tmp_path: Path) -> None:
    """Defect 1: SIGTERM (systemd, a CI runner's timeout) once the new release is active but not loaded: the
    apply rolls back before it exits, the old release serves and status says so; the next apply converges."""
    need_binary(engine)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    model = write(lab, engine, port, "a")
    apply_model(model)
    old = release_id(build(model).outputs["lb"])
    model = write(lab, engine, port, "b")
    child = apply_paused_at(model, "activated", tmp_path, cli_signals=True)
    child.send_signal(signal.SIGTERM)
    assert child.wait(60) != 0
    assert served(url) == {"a1", "a2"}
    [status] = model_status(build(model))
    assert status.running and status.release == old and status.state == "drift", status.summary()
    assert [r.outcome for r in apply_model(model)] == ["reloaded"]
    assert served(url) == {"b1"} and model_status(build(model))[0].state == "in sync"
