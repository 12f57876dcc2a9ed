"""A local NGINX: started, reloaded, verified and stopped on this host.

NGINX runs as ``nginx -p <state>/ -c <state>/config/nginx.conf`` and
daemonizes; its master pid is in ``run/nginx.pid``. ``nginx -s reload`` does
not report failures, so a reload is verified by the worker generation: new
workers must appear under the master and every old worker must have closed
its listeners (its title turns to "worker process is shutting down"), so that
when reload returns, only the new configuration accepts connections. A new ``[emerg]`` in the error log
(for example a port already in use) fails it at once.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from ctlplane.drivers import logfile, procfs
from ctlplane.drivers.base import STOPPED, Generation
from ctlplane.drivers.process import find_binary, run
from ctlplane.errors import DriverError, Finding
from ctlplane.layout import CONFIG_DIR

START_TIMEOUT = 10.0
RELOAD_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0


class LocalNginx:
    """Control of one NGINX master whose prefix is the proxy's state directory."""

    def __init__(self, state_dir: Path, binary: str | None = None) -> None:
        self.state_dir = state_dir.resolve()
        self.binary = binary or find_binary("nginx") or "nginx"
        self.pid_file = self.state_dir / "run" / "nginx.pid"
        self.error_log = self.state_dir / "logs" / "error.log"

    def _argv(self, *extra: str) -> list[str]:
        prefix = f"{self.state_dir}/"
        conf = f"{self.state_dir}/{CONFIG_DIR}/nginx.conf"
        return [self.binary, "-p", prefix, "-c", conf, "-e", "logs/error.log", *extra]

    def generation(self) -> Generation:
        master = procfs.read_pid(self.pid_file)
        if not procfs.alive(master):
            return STOPPED
        assert master is not None
        return Generation(master, procfs.children(master))

    def start(self) -> Generation:
        done = run(self._argv(), cwd=self.state_dir, timeout=START_TIMEOUT)
        if done.returncode != 0:
            raise DriverError("nginx did not start", _emerg_findings(done.stderr or self.log_tail()))
        gen = procfs.wait_for(lambda: self._serving(), START_TIMEOUT)
        if not gen:
            raise DriverError("nginx started but no worker came up", _emerg_findings(self.log_tail()))
        return gen

    def _serving(self) -> Generation | None:
        gen = self.generation()
        return gen if gen.running and gen.workers else None

    def reload(self, before: Generation) -> Generation:
        offset = logfile.size(self.error_log)
        if before.master is None:
            raise DriverError("nginx is not running", [Finding("cannot reload a stopped nginx", source="nginx")])
        os.kill(before.master, signal.SIGHUP)

        def outcome() -> Generation | list[Finding] | None:
            emerg = _emerg_findings(self._log_since(offset))
            if emerg:
                return emerg
            now = self.generation()
            fresh = now.workers - before.workers
            if not (now.running and fresh) or not all(procfs.shutting_down(pid) for pid in before.workers):
                return None
            return Generation(now.master, fresh)

        result = procfs.wait_for(outcome, RELOAD_TIMEOUT)
        if isinstance(result, Generation):
            return result
        self._settle()
        raise DriverError("nginx rejected the reload; the old workers still serve",
                          result or [Finding(f"no new worker generation within {RELOAD_TIMEOUT:g}s", source="nginx")])

    def _settle(self, quiet: float = 1.0, limit: float = 10.0) -> None:
        """Wait until the master stops logging: a failed reload retries bind() 5 times, 500 ms apart, and a
        second SIGHUP sent meanwhile would be judged by the first one's errors."""
        sizes: list[int] = []

        def quiet_enough() -> bool:
            sizes.append(logfile.size(self.error_log))
            window = int(quiet / 0.1)
            return len(sizes) > window and len(set(sizes[-window:])) == 1

        procfs.wait_for(quiet_enough, limit, interval=0.1)

    def runtime(self, commands: list[str]) -> None:
        raise DriverError("nginx has no runtime API", [Finding("runtime changes need a reload", source="nginx")])

    def stop(self) -> None:
        gen = self.generation()
        if not gen.running:
            return
        assert gen.master is not None
        os.kill(gen.master, signal.SIGQUIT)  # graceful: finish in-flight requests
        if not procfs.wait_for(lambda: not procfs.alive(gen.master), STOP_TIMEOUT):
            os.kill(gen.master, signal.SIGTERM)
            procfs.wait_for(lambda: not procfs.alive(gen.master), 5.0)

    def _log_since(self, offset: int) -> str:
        return logfile.since(self.error_log, offset)

    def log_tail(self, lines: int = 12) -> str:
        return "\n".join(self._log_since(0).splitlines()[-lines:])


def _emerg_findings(text: str) -> list[Finding]:
    return [Finding(line.split("] ", 1)[-1], source="nginx") for line in text.splitlines()
            if "[emerg]" in line or "[alert]" in line]
