"""An NGINX in a Docker container: started, reloaded, verified and stopped through the Docker API.

The container's PID 1 is the NGINX master (``daemon off;``), so SIGHUP to
the container reloads it and SIGQUIT stops it gracefully. The generation is
read from the container's process table (``top``: host PIDs): the master is
the ``nginx: master process`` entry and its workers are its children. As
with a local NGINX, a reload is confirmed once new workers appear and every
old worker is gone or titled "worker process is shutting down" (it closed
its listeners, so only the new configuration accepts connections), and a
new ``[emerg]`` in ``logs/error.log`` (on the mounted state directory) fails
it at once. For HA pair members keepalived runs beside it (``docker_keepalived``):
synced after every start and reload, stopped first on stop.
"""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Any

from ctlplane.drivers import logfile, procfs
from ctlplane.drivers.base import STOPPED, Generation
from ctlplane.drivers.docker import ContainerHandle, now
from ctlplane.drivers.docker_keepalived import DockerKeepalived
from ctlplane.errors import DriverError, Finding

START_TIMEOUT = 15.0
RELOAD_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0
SETTLE_QUIET = 1.0  # a failing reload retries bind() every 500 ms: done once the log is quiet this long
_PID_PREFIX = re.compile(r"^\d+#\d+: ")


def processes(top: dict[str, Any] | None) -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line / title) from a ``docker top`` answer (``Titles`` + ``Processes``)."""
    titles = list((top or {}).get("Titles") or [])
    try:
        pid_at, ppid_at, cmd_at = titles.index("PID"), titles.index("PPID"), titles.index("CMD")
    except ValueError:
        return {}
    return {int(row[pid_at]): (int(row[ppid_at]), str(row[cmd_at])) for row in (top or {}).get("Processes") or []}


def nginx_generation(top: dict[str, Any] | None) -> Generation:
    """The master and its children from a ``docker top`` answer."""
    procs = processes(top)
    masters = sorted(pid for pid, (_, cmd) in procs.items() if cmd.startswith("nginx: master process"))
    if not masters:
        return STOPPED
    return Generation(masters[0], frozenset(pid for pid, (ppid, _) in procs.items() if ppid == masters[0]))


def old_workers_quiet(top: dict[str, Any] | None, old: frozenset[int]) -> bool:
    """True when every old worker is gone or has taken the QUIT signal (its listeners are closed)."""
    procs = processes(top)
    return all(pid not in procs or "shutting down" in procs[pid][1] for pid in old)


def emerg_findings(text: str) -> list[Finding]:
    """The distinct ``[emerg]``/``[alert]`` messages of an NGINX log, without the ``pid#tid:`` prefix."""
    messages = [_PID_PREFIX.sub("", line.split("] ", 1)[-1]) for line in text.splitlines()
                if "[emerg]" in line or "[alert]" in line]
    return [Finding(message, source="nginx") for message in dict.fromkeys(messages)]


class DockerNginx:
    """Control of one NGINX that is PID 1 of its container."""

    def __init__(self, handle: ContainerHandle, state_dir: Path) -> None:
        self.handle = handle
        self.state_dir = state_dir
        self.keepalived = DockerKeepalived(handle, state_dir)
        self.error_log = state_dir / "logs" / "error.log"

    def generation(self) -> Generation:
        return nginx_generation(self.handle.top())

    def _serving(self) -> Generation | None:
        gen = self.generation()
        return gen if gen.running and gen.workers else None

    def start(self) -> Generation:
        offset, since = self._log_size(), now()
        self.handle.ensure_started()

        def up() -> Generation | str | None:
            gen = self._serving()
            if gen:
                return gen
            return "exited" if self.handle.status() != "running" else None

        result = procfs.wait_for(up, START_TIMEOUT, interval=0.05)
        if isinstance(result, Generation):
            self.keepalived.sync()  # pair members: keepalived runs the active release's keepalived.conf
            return result
        text = self._log_since(offset) + "\n" + self.handle.logs(since=since)
        why = "nginx exited" if result == "exited" else f"no worker within {START_TIMEOUT:g}s"
        raise DriverError(f"nginx did not start in container {self.handle.spec.name}",
                          emerg_findings(text) or [Finding(why, source="nginx")])

    def reload(self, before: Generation) -> Generation:
        if before.master is None:
            raise DriverError("nginx is not running", [Finding("cannot reload a stopped nginx", source="nginx")])
        offset = self._log_size()
        self.handle.kill("SIGHUP")

        def outcome() -> Generation | list[Finding] | None:
            emerg = emerg_findings(self._log_since(offset))
            if emerg:
                return emerg
            top = self.handle.top()
            gen = nginx_generation(top)
            fresh = gen.workers - before.workers
            if not (gen.running and fresh) or not old_workers_quiet(top, before.workers):
                return None
            return Generation(gen.master, fresh)

        started = time.monotonic()
        result = procfs.wait_for(outcome, RELOAD_TIMEOUT, interval=0.05)
        if isinstance(result, Generation):
            self.keepalived.sync()  # pair members: keepalived runs the active release's keepalived.conf
            return result
        findings = [Finding(f"no new worker generation within {RELOAD_TIMEOUT:g}s", source="nginx")]
        if result:  # let the master finish the failed attempt, so that a following reload starts clean
            self._settle(RELOAD_TIMEOUT - (time.monotonic() - started))
            findings = emerg_findings(self._log_since(offset)) or findings
        raise DriverError("nginx rejected the reload; the old workers still serve", findings)

    def runtime(self, commands: list[str]) -> None:
        raise DriverError("nginx has no runtime API", [Finding("runtime changes need a reload", source="nginx")])

    def fetch(self, url: str) -> str:
        """GET ``url`` inside the container (its admin listener is usually on the container's loopback)."""
        code, out = self.handle.exec(["curl", "-fsS", "--noproxy", "*", "--max-time", "2", url])
        if code != 0:
            raise DriverError(f"GET {url} failed", [Finding(out.strip() or f"curl exited {code}", source="nginx")])
        return out

    def stop(self) -> None:
        with contextlib.suppress(DriverError):
            self.keepalived.stop()  # hand the virtual IPs to the peer before the proxy stops accepting
        self.handle.stop(STOP_TIMEOUT)

    def _settle(self, budget: float) -> None:
        """Wait (at most ``budget`` seconds) until the error log has not grown for SETTLE_QUIET seconds."""
        deadline = time.monotonic() + max(budget, SETTLE_QUIET)
        size, quiet_since = self._log_size(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now_size = self._log_size()
            if now_size != size:
                size, quiet_since = now_size, time.monotonic()
            elif time.monotonic() - quiet_since >= SETTLE_QUIET:
                return

    def _log_size(self) -> int:
        return logfile.size(self.error_log)

    def _log_since(self, offset: int) -> str:
        return logfile.since(self.error_log, offset)

    def log_tail(self, lines: int = 40) -> str:
        own = self._log_since(0).splitlines()[-lines:]
        container = self.handle.logs(tail=lines).splitlines()
        parts = ["\n".join(own)] + (["container output:\n" + "\n".join(container)] if container else [])
        parts.append(self.keepalived.log_tail())
        return "\n".join(p for p in parts if p)
