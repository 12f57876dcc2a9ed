"""A local HAProxy in master-worker mode, driven through its master CLI.

HAProxy runs with the state directory as working directory:
``haproxy -W -S unix@run/master.sock -f config/haproxy.cfg``, detached from
ctlplane. A reload is the master CLI's ``reload``; 2.6 does not answer with
the result, so it is confirmed with ``show proc``: the master's reload
counter must move, its failure counter must not, and a worker that was not
serving before must appear. Listening sockets pass to the new workers
(``expose-fd listeners``), so a reload drops no connection.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from ctlplane.drivers import haproxy_api, logfile, procfs
from ctlplane.drivers.base import STOPPED, Generation
from ctlplane.drivers.process import find_binary, spawn
from ctlplane.errors import DriverError, Finding
from ctlplane.layout import CONFIG_DIR

START_TIMEOUT = 10.0
RELOAD_TIMEOUT = 10.0
STOP_TIMEOUT = 35.0  # hard-stop-after 30s bounds old workers


class LocalHaproxy:
    """Control of one HAProxy master whose working directory is the proxy's state directory."""

    def __init__(self, state_dir: Path, binary: str | None = None) -> None:
        self.state_dir = state_dir.resolve()
        self.binary = binary or find_binary("haproxy") or "haproxy"
        self.master_sock = self.state_dir / "run" / "master.sock"
        self.admin_sock = self.state_dir / "run" / "admin.sock"
        self.pid_file = self.state_dir / "run" / "haproxy.pid"
        self.log = self.state_dir / "logs" / "haproxy.log"

    def _status(self) -> haproxy_api.Status | None:
        return haproxy_api.master_status(self.master_sock)

    def generation(self) -> Generation:
        status = self._status()
        if status is None or not procfs.alive(status[0]):
            return STOPPED
        return Generation(status[0], status[3])

    def start(self) -> Generation:
        argv = [self.binary, "-W", "-S", "unix@run/master.sock", "-f", f"{CONFIG_DIR}/haproxy.cfg",
                "-p", "run/haproxy.pid"]
        offset = logfile.size(self.log)
        pid = spawn(argv, cwd=self.state_dir, log_path=self.log)

        def up() -> Generation | bool | None:
            if not procfs.alive(pid):
                return True  # exited: failed
            gen = self.generation()
            return gen if gen.running and gen.workers else None

        result = procfs.wait_for(up, START_TIMEOUT)
        if isinstance(result, Generation):
            return result
        if procfs.alive(pid):
            os.kill(pid, signal.SIGTERM)
        raise DriverError("haproxy did not start", haproxy_api.alerts(self._log_since(offset)) or
                          [Finding(f"no worker within {START_TIMEOUT:g}s", source="haproxy")])

    def reload(self, before: Generation) -> Generation:
        offset = logfile.size(self.log)
        result = haproxy_api.reload_master(self.master_sock, before.workers, RELOAD_TIMEOUT)
        if isinstance(result, tuple):
            return Generation(result[0], result[3] - before.workers)
        why = "haproxy rejected the reload; the old workers still serve"
        raise DriverError(why, haproxy_api.alerts(self._log_since(offset)) or
                          [Finding(f"no new worker within {RELOAD_TIMEOUT:g}s", source="haproxy")])

    def runtime(self, commands: list[str]) -> None:
        haproxy_api.run_admin(self.admin_sock, commands)

    def stop(self) -> None:
        status = self._status()
        master = status[0] if status else procfs.read_pid(self.pid_file)
        if not procfs.alive(master):
            return
        assert master is not None
        os.kill(master, signal.SIGUSR1)  # soft stop: workers finish their connections
        if not procfs.wait_for(lambda: not procfs.alive(master), STOP_TIMEOUT):
            os.kill(master, signal.SIGTERM)
            procfs.wait_for(lambda: not procfs.alive(master), 5.0)

    def _log_since(self, offset: int) -> str:
        return logfile.since(self.log, offset)

    def log_tail(self, lines: int = 12) -> str:
        return "\n".join(self._log_since(0).splitlines()[-lines:])

