"""This machine as a Host: detached daemons that outlive ctlplane and leave no zombies behind in a
long-running watcher (defect 11: reap() was never called), processes read from /proc with their working
directory, signals to processes that are gone."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from ctlplane.drivers.host import Proc
from ctlplane.drivers.local import LocalHost
from ctlplane.drivers.procfs import read_proc, wait_for


def test_a_daemon_that_dies_is_reaped_not_left_a_zombie(tmp_path: Path) -> None:
    host = LocalHost()
    host.launch(["sh", "-c", "exec sleep 1"], cwd=tmp_path, log=tmp_path / "out.log")

    def mine() -> list[Proc]:  # once sh has exec'd sleep (a loaded machine may take a while to get there)
        return [p for p in host.processes().values() if p.cmdline == "sleep 1"]
    assert wait_for(lambda: len(mine()) == 1, 10)
    [proc] = mine()
    assert proc.cwd == str(tmp_path) and proc.ppid == os.getpid()
    pid = proc.pid
    # processes() reaps before it lists: the exit may fall between the two, so the zombie goes at the next call
    assert wait_for(lambda: pid not in host.processes() and read_proc(pid) is None, 15), \
        f"left as a zombie: {read_proc(pid)}"


def test_daemons_run_in_their_own_session(tmp_path: Path) -> None:
    host = LocalHost()
    host.launch(["sleep", "5"], cwd=tmp_path, log=tmp_path / "out.log")
    mine = wait_for(lambda: [p.pid for p in host.processes().values()  # listed once /proc shows it (CI, -n 2:
                             if p.cmdline == "sleep 5" and p.cwd == str(tmp_path)], 5)  # once it was not yet)
    [pid] = mine
    try:
        assert os.getsid(pid) == pid != os.getsid(0)  # a new session: a kill of our process group spares it
    finally:
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: pid not in host.processes(), 5)
    assert not host.signal(pid, signal.SIGTERM)  # gone: False, not an exception
