"""Faults met by real local proxies on loopback: a stale pid file naming an unrelated process (as after a
reboot), a master that does not answer (SIGSTOP for 15 s), orphaned NGINX workers of a master killed with
SIGKILL, and server states that only the running HAProxy knows, which must survive a reload."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ctlplane.apply import apply_model, down_model
from ctlplane.drivers import driver_for
from ctlplane.drivers.host import Proc
from ctlplane.drivers.procfs import processes, read_proc, wait_for
from ctlplane.errors import ApplyError
from ctlplane.model.load import load_file
from ctlplane.pipeline import build
from ctlplane.state.paths import proxy_dir
from ctlplane.status import model_status
from tests.apply.local import Echo, Load, free_port, who
from tests.apply.test_local import model_text
from tests.helpers import need_binary

ENGINES = ["nginx", "haproxy"]


@pytest.fixture
def model(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "model.yaml"
    yield path
    if path.exists():
        for pid in [p.pid for p in processes().values() if p.state == "T"]:
            os.kill(pid, signal.SIGCONT)
        down_model(load_file(path))


def write(path: Path, engine: str, port: int, echoes: dict[str, Echo], pool: str = "a", extra: str = "") -> Path:
    path.write_text(model_text(engine, port, {"a": [echoes["a1"], echoes["a2"]], "b": [echoes["b1"]]}, pool,
                               extra_server=extra))
    return path


def answer(url: str) -> str | None:
    """Who answers, or None while a reload hands over (a connection an old worker closes)."""
    try:
        return who(url)
    except httpx.HTTPError:
        return None


def state(path: Path) -> str:
    return model_status(build(path))[0].state


@pytest.mark.parametrize("engine", ENGINES)
def test_a_stale_pid_file_naming_another_process_is_not_trusted(engine: str, model: Path,
                                                                 echoes: dict[str, Echo]) -> None:
    """Defect 2: the master died without cleanup; its pid file now names an unrelated process."""
    need_binary(engine)
    port = free_port()
    write(model, engine, port, echoes)
    apply_model(model)
    seen = driver_for(load_file(model), "lb").control.observe()
    for pid in (seen.master, *seen.workers):
        os.kill(pid, signal.SIGKILL)
    # a process in uninterruptible sleep dies only when its I/O ends: CI saw a loaded machine take over 5 s
    control = driver_for(load_file(model), "lb").control
    assert wait_for(lambda: not control.observe().running, 30), (control.observe(), seen)
    stranger = subprocess.Popen(["sleep", "300"])
    try:
        pid_file = proxy_dir(load_file(model), "lb") / "run" / f"{engine}.pid"
        pid_file.write_text(f"{stranger.pid}\n")
        assert state(model) == "stopped"
        assert [r.outcome for r in apply_model(model)] == ["started"]
        assert who(f"http://127.0.0.1:{port}/") in ("a1", "a2") and state(model) == "in sync"
        down_model(load_file(model))
        assert stranger.poll() is None  # down never signalled the stranger
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_master_that_does_not_answer_blocks_apply_and_never_gets_a_twin(engine: str, model: Path,
                                                                          echoes: dict[str, Echo]) -> None:
    """Defect 4: a master that does not answer (stopped for 15 s) is a problem, not a stopped proxy."""
    need_binary(engine)
    port = free_port()
    write(model, engine, port, echoes)
    apply_model(model)
    master = driver_for(load_file(model), "lb").control.observe().master
    assert master is not None
    os.kill(master, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:  # the stop is delivered asynchronously: a loaded machine showed the master still "S" just after
        assert wait_for(lambda: (read_proc(master) or Proc(0, 0, "", "")).state == "T", 10)
        write(model, engine, port, echoes, pool="b")
        assert state(model) == "problem"
        with pytest.raises(ApplyError, match="nothing changed"):
            apply_model(model)
        masters = [p for p in processes().values() if p.pid == master or
                   (p.ppid == 1 and str(model.parent) in (p.cwd or "") + p.cmdline and "master" in p.cmdline)]
        assert [p.pid for p in masters] == [master]  # no second master was started beside it
        time.sleep(max(0.0, 15 - (time.monotonic() - stopped_at)))
    finally:
        os.kill(master, signal.SIGCONT)
    assert [r.outcome for r in apply_model(model)] == ["reloaded"]
    assert wait_for(lambda: answer(f"http://127.0.0.1:{port}/") == "b1", 5)
    assert state(model) == "in sync"


def test_orphaned_nginx_workers_are_seen_and_replaced(model: Path, echoes: dict[str, Echo]) -> None:
    """Defect 12: SIGKILL to the NGINX master leaves its workers serving; status says so, apply recovers."""
    need_binary("nginx")
    port = free_port()
    write(model, "nginx", port, echoes)
    apply_model(model)
    seen = driver_for(load_file(model), "lb").control.observe()
    os.kill(seen.master, signal.SIGKILL)
    assert wait_for(lambda: seen.master not in processes(), 30)  # SIGKILL is not instant on a loaded machine
    assert who(f"http://127.0.0.1:{port}/") in ("a1", "a2")  # the orphans still serve
    [status] = model_status(build(model))
    assert status.state == "orphaned" and set(status.orphans) == set(seen.workers)
    write(model, "nginx", port, echoes, pool="b")
    assert [r.outcome for r in apply_model(model)] == ["started"]
    assert who(f"http://127.0.0.1:{port}/") == "b1" and state(model) == "in sync"
    assert not set(seen.workers) & set(processes())


def test_haproxy_keeps_server_states_across_a_reload(model: Path, echoes: dict[str, Echo]) -> None:
    """Defect 8: what only the running HAProxy knows survives a reload: a server an operator put in
    maintenance through the admin socket, and a server its health checks marked down."""
    need_binary("haproxy")
    port = free_port()
    dead = free_port()
    checked = "{name: dead, address: 127.0.0.1, port: %d}" % dead
    text = write(model, "haproxy", port, echoes, extra=checked).read_text()
    model.write_text(text.replace("    servers:", "    health: {active: {type: tcp, interval: 1s, rise: 1, fall: 1}}\n"
                                                "    servers:", 1))
    apply_model(model)
    driver = driver_for(load_file(model), "lb")
    api = driver.control.runtime_api
    assert api is not None
    api.send(["set server be_a/a2 state maint"])

    def rows() -> dict[str, str]:
        return {s.server: s.status for s in model_status(build(model))[0].servers if s.pool == "a"}
    assert wait_for(lambda: rows().get("dead") == "DOWN", 10), rows()
    url = f"http://127.0.0.1:{port}/"
    with Load(url) as load:
        model.write_text(model.read_text().replace("workers: 1", "workers: 1, max_connections: 2048"))
        assert [r.outcome for r in apply_model(model)] == ["reloaded"]
        after = rows()
        served = {who(url) for _ in range(20)}
    assert after["a2"] == "MAINT" and after["dead"] == "DOWN", after
    assert served == {"a1"} and load.failed == 0, (served, load.errors[:5])


def test_a_server_whose_port_changed_is_not_given_its_old_one_back_by_the_state_file(
        model: Path, echoes: dict[str, Echo]) -> None:
    """Defect 8's trap: HAProxy restores a server's address and port from the state file over the config's,
    so a reload that moves a server to a new port kept sending to the old one (found by the first-run test)."""
    need_binary("haproxy")
    port, dead = free_port(), free_port()
    moved = "{name: m, address: 127.0.0.1, port: %d}"
    text = write(model, "haproxy", port, echoes, extra=moved % dead).read_text()
    model.write_text(text.replace("    servers:", "    health: {active: {type: tcp, interval: 1s, rise: 1, fall: 1}}\n"
                                                "    servers:", 1))
    apply_model(model)

    def rows() -> dict[str, str]:
        return {s.server: s.status for s in model_status(build(model))[0].servers if s.pool == "a"}
    assert wait_for(lambda: rows().get("m") == "DOWN", 10), rows()
    model.write_text(model.read_text().replace(moved % dead, moved % echoes["b1"].port))
    assert [r.outcome for r in apply_model(model)] == ["reloaded"]
    assert wait_for(lambda: rows().get("m") == "UP", 10), rows()
    served = {who(f"http://127.0.0.1:{port}/") for _ in range(30)}
    assert "b1" in served, served  # m answers from its new port


def test_down_waits_for_an_apply_that_holds_the_proxy(model: Path, echoes: dict[str, Echo]) -> None:
    """Defect 10: `down` takes the proxy's lock, so a rollback in flight cannot restart what it stops."""
    need_binary("nginx")
    port = free_port()
    write(model, "nginx", port, echoes)
    apply_model(model)
    loaded = load_file(model)
    driver = driver_for(loaded, "lb")
    result: list[list[tuple[str, bool]]] = []
    downing = threading.Thread(target=lambda: result.append(down_model(loaded)), daemon=True)
    with driver.store.lock():  # as an apply or rollback holds it
        downing.start()
        downing.join(timeout=1.0)
        assert downing.is_alive() and driver.control.observe().running  # waiting, nothing stopped yet
    downing.join(timeout=30)
    assert result == [[("lb", True)]] and not driver.control.observe().running
