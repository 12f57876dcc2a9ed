"""NGINX, controlled once for every Host.

The master runs in the foreground of its place (``-g 'daemon off;'``) with
the state directory as prefix; it is found by its title (``nginx: master
process ... -p <state>/``), never trusted from a pid file. Every worker runs
in its release's directory (``working_directory releases/<id>``), so the
workers themselves say which release they loaded, and a worker of ours whose
master died (SIGKILL, OOM) is still recognised by that directory: an
*orphan*, reported and stopped before a new master starts. A reload is
SIGHUP to the master, judged by the new generation's own evidence: it
succeeded once fresh workers report the new release and no current worker
reports another; it failed when the master itself logs ``[emerg]`` or
``[alert]`` (lines of other processes, such as old workers complaining under
overload, do not count) or nothing happens in time. Logs are rotated by
renaming them and asking the master to reopen (SIGUSR1).
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

from ctlplane.drivers import procfs
from ctlplane.drivers.control import Observation, Step, Vrrp, no_step
from ctlplane.drivers.host import Host, Proc
from ctlplane.errors import DriverError, Finding
from ctlplane.state.layout import CONFIG_DIR, RELEASES_DIR

START_TIMEOUT = 15.0
RELOAD_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0
ORPHAN_TIMEOUT = 12.0  # worker_shutdown_timeout is 10s
SETTLE_WAIT = 1.0  # a reload's workers change over within this (else observe says "unknown")
SETTLE_QUIET = 1.0  # a failing reload retries bind() every 500 ms: done once the log is quiet this long
MASTER_TITLE = "nginx: master process"
WORKER_TITLE = "nginx: worker process"
HELPER_TITLES = (WORKER_TITLE, "nginx: cache manager process", "nginx: cache loader process")
LOGS = ("logs/error.log", "logs/access.log", "logs/stream.log")
_LINE = re.compile(r"\[(emerg|alert)\] (\d+)#\d+: (.*)$")


def problems_of(text: str, pid: int | None = None) -> list[Finding]:
    """The distinct ``[emerg]``/``[alert]`` messages of an NGINX log (only process ``pid``'s when given),
    without the ``pid#tid:`` prefix; ``nginx: [emerg] ...`` lines printed before the log opened count too."""
    messages = []
    for line in text.splitlines():
        found = _LINE.search(line)
        if found and (pid is None or int(found.group(2)) == pid):
            messages.append(found.group(3))
        elif pid is None and line.startswith(("nginx: [emerg] ", "nginx: [alert] ")):
            messages.append(line.split("] ", 1)[1])
    return [Finding(m, source="nginx") for m in dict.fromkeys(messages)]


class NginxControl:
    """One NGINX whose prefix is the proxy's state directory, on any Host."""

    engine = "nginx"
    runtime_api = None

    def __init__(self, host: Host, state_dir: Path, binary: str = "nginx", vrrp: Vrrp | None = None) -> None:
        self.host = host
        self.state_dir = state_dir
        self.binary = binary
        self.vrrp = vrrp
        self.error_log = state_dir / "logs" / "error.log"
        self._mine = f" -p {state_dir}/ "
        self._releases = f"{state_dir}/{RELEASES_DIR}/"

    def argv(self) -> list[str]:
        state = self.state_dir
        return [self.binary, "-p", f"{state}/", "-c", f"{state}/{CONFIG_DIR}/nginx.conf", "-e", "logs/error.log",
                "-g", "daemon off;"]

    # ------------------------------------------------------------------ observing

    def _scan(self) -> tuple[dict[int, Proc], Observation]:
        procs = self.host.processes()
        masters = [p for p in procs.values() if p.cmdline.startswith(MASTER_TITLE) and self._mine in p.cmdline + " "]
        master = masters[0] if masters else None
        orphans = frozenset(p.pid for p in procs.values() if self._orphan(p, procs))
        if master is None:
            return procs, Observation(orphans=orphans)
        children = frozenset(p.pid for p in procs.values() if p.ppid == master.pid)
        loaded = {self._release_of(procs[pid]) for pid in children if procs[pid].cmdline == WORKER_TITLE}
        problem = None
        if len(masters) > 1:
            problem = f"two NGINX masters run on this state directory ({', '.join(str(m.pid) for m in masters)})"
        elif master.state == "T":
            problem = f"the NGINX master {master.pid} is stopped (SIGSTOP): it takes no signal until it is continued"
        release = loaded.pop() if len(loaded) == 1 else None
        return procs, Observation(master.pid, children, release, problem, orphans)

    def observe(self) -> Observation:
        """What serves. A master whose workers are changing over (a reload under way: new workers not yet in
        their release directory, or old ones not yet told to stop) is looked at again, for up to SETTLE_WAIT
        seconds, so that a reload in progress is never read as "serving nothing"; after that, None is
        still "unknown", never a guess."""
        def settled() -> Observation | None:
            seen = self._scan()[1]
            return seen if seen.master is None or seen.release is not None or not seen.workers else None
        return procfs.wait_for(settled, SETTLE_WAIT, interval=0.02) or self._scan()[1]

    def _release_of(self, proc: Proc) -> str | None:
        if proc.cwd and proc.cwd.startswith(self._releases):
            return proc.cwd[len(self._releases):].split("/", 1)[0] or None
        return None

    def _orphan(self, proc: Proc, procs: dict[int, Proc]) -> bool:
        """A worker of this proxy (it runs in our state directory) whose parent is not an NGINX master."""
        if not proc.cmdline.startswith(HELPER_TITLES) or not proc.cwd:
            return False
        if not (proc.cwd == str(self.state_dir) or proc.cwd.startswith(f"{self.state_dir}/")):
            return False
        parent = procs.get(proc.ppid)
        return parent is None or not parent.cmdline.startswith(MASTER_TITLE)

    # ------------------------------------------------------------------ acting

    def start(self, release: str) -> Observation:
        before = self.observe()
        if before.problem or before.running:
            raise DriverError("nginx already runs", [Finding(before.problem or
                              f"master {before.master} already serves this state directory", source="nginx")])
        if before.orphans:
            self._stop_pids(before.orphans, ORPHAN_TIMEOUT)
        offset = self.host.size(self.error_log)
        self.host.launch(self.argv(), cwd=self.state_dir, log=self.error_log)

        def up() -> Observation | list[Finding] | None:
            failed = problems_of(self.host.read_since(self.error_log, offset))
            if failed:
                return failed
            now = self.observe()
            return now if now.running and now.release == release else None

        result = procfs.wait_for(up, START_TIMEOUT, interval=0.05)
        if isinstance(result, Observation):
            return result
        self._stop_started()
        raise DriverError(f"nginx did not start on {self.host.label}", result or [
            Finding(f"no worker of release {release} within {START_TIMEOUT:g}s", source="nginx")])

    def _stop_started(self) -> None:
        """A start that failed verification: take down whatever it left, so nothing half-started serves."""
        master = self.observe().master
        if master is not None:
            self._stop_master(master)

    def reload(self, before: Observation, release: str, step: Step = no_step) -> Observation:
        if before.master is None:
            raise DriverError("nginx is not running", [Finding("cannot reload a stopped nginx", source="nginx")])
        offset = self.host.size(self.error_log)
        started = time.monotonic()
        if not self.host.signal(before.master, signal.SIGHUP):
            raise DriverError("nginx master is gone", [Finding(f"master {before.master} exited", source="nginx")])
        step("reloading")

        def outcome() -> Observation | list[Finding] | None:
            failed = problems_of(self.host.read_since(self.error_log, offset), before.master)
            if failed:
                return failed
            now = self.observe()
            return now if now.running and now.release == release and now.workers - before.workers else None

        result = procfs.wait_for(outcome, RELOAD_TIMEOUT, interval=0.05)
        if isinstance(result, Observation):
            return result
        self._settle(RELOAD_TIMEOUT - (time.monotonic() - started))
        findings = problems_of(self.host.read_since(self.error_log, offset), before.master)
        raise DriverError("nginx rejected the reload; the old workers still serve", findings or [
            Finding(f"no worker of release {release} within {RELOAD_TIMEOUT:g}s", source="nginx")])

    def _settle(self, budget: float) -> None:
        """Wait (bounded) until the error log has not grown for SETTLE_QUIET seconds: a failed reload retries
        bind() 5 times, 500 ms apart, and a second SIGHUP meanwhile would be judged by the first one's errors."""
        deadline = time.monotonic() + max(budget, SETTLE_QUIET)
        size, quiet_since = self.host.size(self.error_log), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.host.size(self.error_log)
            if now != size:
                size, quiet_since = now, time.monotonic()
            elif time.monotonic() - quiet_since >= SETTLE_QUIET:
                return

    def stop(self) -> None:
        if self.vrrp is not None:
            try:
                self.vrrp.stop()  # hand the virtual IPs to the peer before the proxy stops accepting
            except DriverError:
                pass
        now = self.observe()
        if now.master is not None:
            self._stop_master(now.master)
        orphans = self.observe().orphans
        if orphans:
            self._stop_pids(orphans, ORPHAN_TIMEOUT)
        self.host.retire(STOP_TIMEOUT)

    def _stop_master(self, master: int) -> None:
        self._stop_pids(frozenset({master}), STOP_TIMEOUT)

    def _stop_pids(self, pids: frozenset[int], graceful: float) -> None:
        """SIGQUIT (finish in-flight requests), then SIGTERM, then SIGKILL, each bounded."""
        def gone(left: set[int]) -> Callable[[], bool]:
            return lambda: not left & set(self.host.processes())

        for signum, wait in ((signal.SIGQUIT, graceful), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            alive = {pid for pid in pids if self.host.signal(pid, signum)}
            if not alive or procfs.wait_for(gone(alive), wait, 0.05):
                return

    def log_tail(self, lines: int = 40) -> str:
        parts = [self.host.tail(self.error_log, lines), self.vrrp.log_tail() if self.vrrp else ""]
        return "\n".join(p for p in parts if p)

    def rotate_logs(self, max_bytes: int, keep: int) -> list[str]:
        rotated = [rel for rel in LOGS if self.host.size(self.state_dir / rel) > max_bytes
                   and self.host.rotate(self.state_dir / rel, keep, copy=False)]
        master = self.observe().master
        if rotated and master is not None:
            self.host.signal(master, signal.SIGUSR1)  # reopen the log files
        return rotated

