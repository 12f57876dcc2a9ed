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
import re
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
MASTER_WAIT = 5.0  # the master CLI is briefly unreachable while the master re-executes
_MASTER = re.compile(r"^(\d+)\s+master\s+(\d+)\s+\[failed: (\d+)\]", re.M)


class LocalHaproxy:
    """Control of one HAProxy master whose working directory is the proxy's state directory."""

    def __init__(self, state_dir: Path, binary: str | None = None) -> None:
        self.state_dir = state_dir.resolve()
        self.binary = binary or find_binary("haproxy") or "haproxy"
        self.master_sock = self.state_dir / "run" / "master.sock"
        self.admin_sock = self.state_dir / "run" / "admin.sock"
        self.pid_file = self.state_dir / "run" / "haproxy.pid"
        self.log = self.state_dir / "logs" / "haproxy.log"

    def _status(self) -> tuple[int, int, int, frozenset[int]] | None:
        """(master pid, reloads, failed reloads, current workers) from ``show proc``, None if not reachable."""
        try:
            text = haproxy_api.send(self.master_sock, "show proc", timeout=2.0)
        except DriverError:
            return None
        master = _MASTER.search(text)
        if not master:
            return None
        current = text.split("# old workers")[0]
        workers = frozenset(int(m.group(1)) for m in re.finditer(r"^(\d+)\s+worker\b", current, re.M))
        return int(master.group(1)), int(master.group(2)), int(master.group(3)), workers

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
        raise DriverError("haproxy did not start", _alerts(self._log_since(offset)) or
                          [Finding(f"no worker within {START_TIMEOUT:g}s", source="haproxy")])

    def reload(self, before: Generation) -> Generation:
        # While the master re-executes after a reload (ours or someone else's) its CLI refuses connections
        # for a moment: wait for it, bounded, before judging.
        status = procfs.wait_for(self._status, MASTER_WAIT)
        if status is None:
            raise DriverError("haproxy is not running", [Finding("master CLI not reachable", source="haproxy")])
        _, reloads, failed, _ = status
        offset = logfile.size(self.log)
        if not procfs.wait_for(self._send_reload, MASTER_WAIT):
            raise DriverError("haproxy master CLI refused the reload", [Finding("reload not sent", source="haproxy")])

        def outcome() -> Generation | bool | None:
            now = self._status()
            if now is None or now[1] <= reloads:
                return None
            if now[2] > failed:
                return True
            fresh = now[3] - before.workers
            return Generation(now[0], fresh) if fresh else None

        result = procfs.wait_for(outcome, RELOAD_TIMEOUT)
        if isinstance(result, Generation):
            return result
        why = "haproxy rejected the reload; the old workers still serve"
        raise DriverError(why, _alerts(self._log_since(offset)) or
                          [Finding(f"no new worker within {RELOAD_TIMEOUT:g}s", source="haproxy")])

    def _send_reload(self) -> bool:
        try:
            haproxy_api.send(self.master_sock, "reload")
        except DriverError:
            return False
        return True

    def runtime(self, commands: list[str]) -> None:
        for command in commands:
            answer = haproxy_api.send(self.admin_sock, command).strip()
            if answer and answer not in ("New server registered.", "Server deleted."):
                raise DriverError(f"HAProxy refused {command!r}", [Finding(f"{command}: {answer}", source="haproxy")])

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


def _alerts(text: str) -> list[Finding]:
    return [Finding(line.split(" : ", 1)[-1].strip(), source="haproxy") for line in text.splitlines()
            if line.startswith("[ALERT]") and "Fatal errors" not in line and "Error(s) found" not in line]
