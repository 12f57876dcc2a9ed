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
from pathlib import Path

from ctlplane.drivers import haproxy_api, procfs
from ctlplane.drivers.base import STOPPED, Generation
from ctlplane.drivers.docker import ContainerHandle, now
from ctlplane.drivers.docker_keepalived import DockerKeepalived
from ctlplane.errors import DriverError, Finding

START_TIMEOUT = 15.0
RELOAD_TIMEOUT = 10.0
STOP_TIMEOUT = 35.0  # hard-stop-after 30s bounds old workers

class DockerHaproxy:
    """Control of one HAProxy master that is PID 1 of its container."""

    def __init__(self, handle: ContainerHandle, state_dir: Path) -> None:
        self.handle = handle
        self.state_dir = state_dir
        self.keepalived = DockerKeepalived(handle, state_dir)
        self.master_sock = state_dir / "run" / "master.sock"
        self.admin_sock = state_dir / "run" / "admin.sock"

    def _status(self) -> haproxy_api.Status | None:
        return haproxy_api.master_status(self.master_sock)

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
                          haproxy_api.alerts(self.handle.logs(since=since)) or [Finding(why, source="haproxy")])

    def reload(self, before: Generation) -> Generation:
        since = now()
        result = haproxy_api.reload_master(self.master_sock, before.workers, RELOAD_TIMEOUT)
        if isinstance(result, tuple):
            self.keepalived.sync()  # pair members: keepalived runs the active release's keepalived.conf
            return Generation(result[0], result[3] - before.workers)
        raise DriverError("haproxy rejected the reload; the old workers still serve",
                          haproxy_api.alerts(self.handle.logs(since=since)) or
                          [Finding(f"no new worker within {RELOAD_TIMEOUT:g}s", source="haproxy")])

    def runtime(self, commands: list[str]) -> None:
        haproxy_api.run_admin(self.admin_sock, commands)

    def stop(self) -> None:
        with contextlib.suppress(DriverError):
            self.keepalived.stop()  # hand the virtual IPs to the peer before the proxy stops accepting
        self.handle.stop(STOP_TIMEOUT)

    def log_tail(self, lines: int = 40) -> str:
        parts = [self.handle.logs(tail=lines).rstrip("\n"), self.keepalived.log_tail()]
        return "\n".join(p for p in parts if p)
