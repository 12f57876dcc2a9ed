"""The watcher under faults: an error anywhere in a cycle never ends it, it checks the proxies again on its
own (a proxy stopped by hand comes back), and killing the watcher's whole process group, as a crash or
`systemctl restart` with the shipped unit does, leaves the proxies serving; the next watcher adopts them."""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


from ctlplane.apply import down_model
from ctlplane.drivers import driver_for
from ctlplane.model.load import load_file
from tests.apply.local import Echo, free_port, who
from tests.apply.test_local import model_text
from tests.helpers import ROOT, need_binary
from tests.test_watch import FakeApply, start, wait_until

UNIT = ROOT / "examples" / "systemd" / "ctlplane-watch.service"


def test_an_error_while_refreshing_the_watched_files_is_reported_not_fatal(tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    model.write_text("a: 1\n")
    fake = FakeApply()
    calls = []

    def broken(path: str) -> list[str]:
        calls.append(path)
        if len(calls) == 1:
            raise PermissionError(13, "Permission denied", path)  # not a CtlplaneError
        return []

    with start(model, fake, referenced=broken) as run:
        first = run.wait_cycles(1)[0]
        assert first.error is None and fake.texts() == ["a: 1\n"]  # the apply still ran, the model is watched
        model.write_text("a: 2\n")
        second = run.wait_cycles(2)[1]
        assert second.error is None and fake.texts() == ["a: 1\n", "a: 2\n"]


def test_the_watcher_reconciles_without_a_change(tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    model.write_text("a: 1\n")
    fake = FakeApply()
    with start(model, fake, referenced=lambda p: [], reconcile=0.3) as run:
        cycles = run.wait_cycles(3, timeout=5)
    assert [c.trigger for c in cycles[:3]] == ["start", "reconcile", "reconcile"]


def watcher(model: Path, *args: str) -> subprocess.Popen[str]:
    """`ctlplane watch` in a process group of its own (as a service unit would run it)."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "ctlplane", "watch", str(model), *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def first_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 30) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line.strip()
        assert line or proc.poll() is None, "watch ended"
    raise AssertionError(f"no line starting with {prefix!r}")


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_proxies_outlive_their_watcher_and_a_proxy_stopped_by_hand_comes_back(engine: str, tmp_path: Path,
                                                                            echo: Echo) -> None:
    """Killed with SIGKILL by hand, an NGINX master leaves its workers serving: the reconcile stops those
    orphans and starts a fresh master; an HAProxy master takes its workers with it."""
    need_binary(engine)
    port = free_port()
    model = tmp_path / "model.yaml"
    model.write_text(model_text(engine, port, {"a": [echo]}, "a"))
    url = f"http://127.0.0.1:{port}/"
    first = watcher(model, "--reconcile", "1")
    try:
        assert first_line(first, "lb:").startswith("lb: started")
        master = driver_for(load_file(model), "lb").control.observe().master
        os.killpg(first.pid, signal.SIGKILL)  # the whole process group: a crash, or systemd's control-group kill
        first.wait(10)
        assert who(url) == "a1" and driver_for(load_file(model), "lb").control.observe().master == master
        second = watcher(model, "--reconcile", "1")
        try:
            assert first_line(second, "lb:").startswith("lb: unchanged")  # adopted, not restarted
            assert driver_for(load_file(model), "lb").control.observe().master == master
            os.kill(master, signal.SIGKILL)  # an operator stops the proxy by hand
            assert first_line(second, "lb:").startswith("lb: started")  # the next reconcile brings it back
            wait_until(lambda: who(url) == "a1", 5, "the proxy to serve again")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(20)
        assert who(url) == "a1"  # a stopped watcher leaves its proxies serving
    finally:
        if first.poll() is None:
            first.kill()
        down_model(load_file(model))


def test_the_shipped_systemd_unit_never_stops_the_proxies() -> None:
    unit = configparser.ConfigParser(strict=True, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    unit.read(UNIT)
    service = unit["Service"]
    assert service["KillMode"] == "process"  # control-group (the default) would kill the proxies with it
    assert service["ExecStart"].split()[1:3] == ["watch", "/etc/ctlplane/lb.yaml"]
    assert "ExecStop" not in service and service["Restart"] == "on-failure"
    assert "KillMode=process" in (ROOT / "docs" / "recipes" / "watch.md").read_text()
