"""An HAProxy in a Docker container, driven through its master CLI from the host.

The container's PID 1 is the HAProxy master (``-W``, foreground, working
directory = the mounted state directory), so its master socket
``run/master.sock`` and admin socket ``run/admin.sock`` are reachable from
the host through the mount. Generation, reload and its verification are the
local driver's: ``show proc`` (PIDs as seen inside the container) must show
the reload counter moving, no new failure and a worker that was not serving
before. HAProxy logs to stderr, so its alerts are read from the container log.
For HA pair members keepalived runs beside it (``docker_keepalived``): synced
after every start and reload, stopped first on stop.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from ctlplane.drivers import haproxy_api, procfs
from ctlplane.drivers.base import STOPPED, Generation
from ctlplane.drivers.docker import ContainerHandle, now
from ctlplane.drivers.docker_keepalived import DockerKeepalived
from ctlplane.errors import DriverError, Finding

START_TIMEOUT = 15.0
RELOAD_TIMEOUT = 10.0
STOP_TIMEOUT = 35.0  # hard-stop-after 30s bounds old workers
_MASTER = re.compile(r"^(\d+)\s+master\s+(\d+)\s+\[failed: (\d+)\]", re.MULTILINE)
_WORKER = re.compile(r"^(\d+)\s+worker\b", re.MULTILINE)

Status = tuple[int, int, int, frozenset[int]]


def parse_show_proc(text: str) -> Status | None:
    """(master pid, reloads, failed reloads, current workers) from ``show proc``; None if there is no master."""
    master = _MASTER.search(text)
    if not master:
        return None
    current = text.split("# old workers")[0]
    workers = frozenset(int(m.group(1)) for m in _WORKER.finditer(current))
    return int(master.group(1)), int(master.group(2)), int(master.group(3)), workers


def alerts(text: str) -> list[Finding]:
    """The ``[ALERT]`` lines of HAProxy output (same rule as the local driver)."""
    return [Finding(line.split(" : ", 1)[-1].strip(), source="haproxy") for line in text.splitlines()
            if line.startswith("[ALERT]") and "Fatal errors" not in line and "Error(s) found" not in line]


class DockerHaproxy:
    """Control of one HAProxy master that is PID 1 of its container."""

    def __init__(self, handle: ContainerHandle, state_dir: Path) -> None:
        self.handle = handle
        self.state_dir = state_dir
        self.keepalived = DockerKeepalived(handle, state_dir)
        self.master_sock = state_dir / "run" / "master.sock"
        self.admin_sock = state_dir / "run" / "admin.sock"

    def _status(self) -> Status | None:
        try:
            return parse_show_proc(haproxy_api.send(self.master_sock, "show proc", timeout=2.0))
        except DriverError:
            return None

    def generation(self) -> Generation:
        if self.handle.running() is None:
            return STOPPED
        status = self._status()
        return Generation(status[0], status[3]) if status else STOPPED

    def start(self) -> Generation:
        since = now()
        self.handle.ensure_started()

        def up() -> Generation | str | None:
            status = self._status()
            if status and status[3]:
                return Generation(status[0], status[3])
            return "exited" if self.handle.status() != "running" else None

        result = procfs.wait_for(up, START_TIMEOUT, interval=0.05)
        if isinstance(result, Generation):
            self.keepalived.sync()  # pair members: keepalived runs the active release's keepalived.conf
            return result
        why = "haproxy exited" if result == "exited" else f"no worker within {START_TIMEOUT:g}s"
        raise DriverError(f"haproxy did not start in container {self.handle.spec.name}",
                          alerts(self.handle.logs(since=since)) or [Finding(why, source="haproxy")])

    def reload(self, before: Generation) -> Generation:
        status = self._status()
        if status is None:
            raise DriverError("haproxy is not running", [Finding("master CLI not reachable", source="haproxy")])
        _, reloads, failed, _ = status
        since = now()
        haproxy_api.send(self.master_sock, "reload")

        def outcome() -> Generation | bool | None:
            current = self._status()
            if current is None or current[1] <= reloads:
                return None
            if current[2] > failed:
                return True
            fresh = current[3] - before.workers
            return Generation(current[0], fresh) if fresh else None

        result = procfs.wait_for(outcome, RELOAD_TIMEOUT, interval=0.05)
        if isinstance(result, Generation):
            self.keepalived.sync()  # pair members: keepalived runs the active release's keepalived.conf
            return result
        raise DriverError("haproxy rejected the reload; the old workers still serve",
                          alerts(self.handle.logs(since=since)) or
                          [Finding(f"no new worker within {RELOAD_TIMEOUT:g}s", source="haproxy")])

    def runtime(self, commands: list[str]) -> None:
        for command in commands:
            answer = haproxy_api.send(self.admin_sock, command).strip()
            if answer and answer not in ("New server registered.", "Server deleted."):
                raise DriverError(f"HAProxy refused {command!r}", [Finding(f"{command}: {answer}", source="haproxy")])

    def stop(self) -> None:
        with contextlib.suppress(DriverError):
            self.keepalived.stop()  # hand the virtual IPs to the peer before the proxy stops accepting
        self.handle.stop(STOP_TIMEOUT)

    def log_tail(self, lines: int = 40) -> str:
        parts = [self.handle.logs(tail=lines).rstrip("\n"), self.keepalived.log_tail()]
        return "\n".join(p for p in parts if p)
