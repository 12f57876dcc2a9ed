"""HAProxy's runtime ``del server`` for a server that left (a discovered container that died): drained, then
maintenance, then deleted once its connections are gone, with its sessions shut down when they do not end.

A scripted admin socket plays HAProxy: ``del server`` answers "still has connections" while connections are
attached. Seen for real (a member that exits at once on SIGTERM, under load, local HAProxy 2.6): requests sent
to it between its exit and the drain hang in connect to an address that no longer exists; after ``shutdown
sessions server`` its connections are released asynchronously (~0.5 s later), so one immediate ``del server``
failed the apply and rolled it back, leaving the dead member in the config.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ctlplane.drivers.haproxy import HaproxyRuntime
from ctlplane.errors import DriverError

BUSY = "Server still has connections attached to it, cannot remove it.\n"
STAT = "# pxname,svname,scur\nbe_web,gone,{sessions}\n"


class ScriptedSocket:
    """Answers the admin socket: ``sessions`` until shutdown; ``del server`` busy for ``busy_after_shutdown``
    more attempts once the sessions are shut down (or forever with None)."""

    def __init__(self, sessions: int = 1, busy_after_shutdown: int | None = 3) -> None:
        self.sessions = sessions
        self.busy_after_shutdown = busy_after_shutdown
        self.shut = False
        self.log: list[str] = []

    def request(self, socket: Path, command: str, timeout: float = 5.0) -> str:
        self.log.append(command)
        if command.startswith("show stat"):
            return STAT.format(sessions=self.sessions)
        if command.startswith("shutdown sessions server"):
            self.shut, self.sessions = True, 0
            return ""
        if command.startswith("del server"):
            if not self.shut or self.busy_after_shutdown is None or self.busy_after_shutdown > 0:
                if self.shut and self.busy_after_shutdown is not None:
                    self.busy_after_shutdown -= 1
                return BUSY
            return "Server deleted.\n"
        return ""


def runtime(socket: ScriptedSocket) -> HaproxyRuntime:
    return HaproxyRuntime(socket, Path("/run/admin.sock"), drain_wait=0.05, delete_wait=0.6)  # type: ignore[arg-type]


def test_a_server_whose_connections_close_after_its_sessions_are_shut_down_is_deleted() -> None:
    socket = ScriptedSocket(busy_after_shutdown=3)
    runtime(socket).send(["set server be_web/gone state drain", "del server be_web/gone"])
    commands = [c for c in socket.log if not c.startswith("show stat")]
    assert commands[:2] == ["set server be_web/gone state drain", "set server be_web/gone state maint"]
    assert "shutdown sessions server be_web/gone" in commands
    assert commands[-1] == "del server be_web/gone" and commands.count("del server be_web/gone") >= 5


def test_a_server_that_keeps_its_connections_is_an_error_naming_it() -> None:
    socket = ScriptedSocket(busy_after_shutdown=None)
    with pytest.raises(DriverError, match="del server be_web/gone"):
        runtime(socket).send(["del server be_web/gone"])
