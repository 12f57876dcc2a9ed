"""HAProxy in master-worker mode, controlled once for every Host.

The master (``haproxy -W -S unix@run/master.sock -f <state>/config/haproxy.cfg``,
working directory = the state directory) is found by its command line among
the host's processes; its master CLI must answer, or it is a *problem*
(a master that does not answer is never mistaken for a stopped proxy, so a
second master is never started beside it). Each worker reports the
``description ctlplane release <id>`` of the config it loaded in ``show info``
(asked through the master CLI): the truth of what serves. A reload is the master CLI's
``reload``; 2.6 does not answer with the result, so it is confirmed when the
reload counter moves, the failure counter does not, and the newest worker
reports the new release. A reload waits (bounded) until the serving worker has
finished its own stick-table resync, because only then does it hand its
per-client counters to the next worker over the local peer (HAProxy 2.6 takes
up to 5 s after a cold start, up to 10 s after a reload that did not get them).
Right before a reload the running server states are
saved to ``run/server-state`` (``show servers state``), which the new workers
load, so a server marked down by checks or put in maintenance by an operator
keeps that state. HAProxy writes its log to stderr, appended to
``logs/haproxy.log``; it never reopens it, so rotation copies and truncates.
A runtime ``del server`` (a server that left, already set to drain) first
waits, bounded, for its sessions to end, then puts it in maintenance (which
``del server`` requires) and deletes it once its connections are gone; only a
server still busy after that has its sessions shut down, and is deleted once
HAProxy released their connections (asynchronously, bounded).
"""

from __future__ import annotations

import signal
from pathlib import Path

from ctlplane.drivers import haproxy_api, procfs
from ctlplane.drivers.control import Observation, Step, Vrrp, no_step
from ctlplane.drivers.host import Host, Proc
from ctlplane.errors import DriverError, Finding
from ctlplane.state.fsio import write_atomic
from ctlplane.state.layout import CONFIG_DIR, NO_SERVER_STATE, SERVER_STATE

START_TIMEOUT = 15.0
RELOAD_TIMEOUT = 10.0
STOP_TIMEOUT = 35.0  # hard-stop-after 30s bounds old workers
MASTER_WAIT = 5.0  # the master CLI is briefly unreachable while the master re-executes
LOG = "logs/haproxy.log"
RELEASE_PREFIX = "ctlplane release "
TABLE_SYNC_WAIT = 11.0  # PEER_RESYNC_TIMEOUT (5 s) for the old workers' tables, then 5 s for remote peers
DRAIN_WAIT = 5.0  # seconds a removed server keeps its sessions (drained) before it goes to maintenance
DELETE_WAIT = 3.0  # seconds for its last connections to close once in maintenance
_BUSY = "still has connections"


class HaproxyRuntime:
    """HAProxy's admin socket: the runtime API."""

    def __init__(self, host: Host, socket: Path, drain_wait: float = DRAIN_WAIT,
                 delete_wait: float = DELETE_WAIT) -> None:
        self.host = host
        self.socket = socket
        self.drain_wait, self.delete_wait = drain_wait, delete_wait

    def send(self, commands: list[str]) -> None:
        for command in commands:
            if command.startswith("del server "):
                self._delete(command.removeprefix("del server "))
            else:
                haproxy_api.check_answer(command, self.host.request(self.socket, command))

    def _sessions(self, target: str) -> int | None:
        backend, _, server = target.partition("/")
        try:
            return haproxy_api.server_sessions(self.query(f"show stat {backend} 4 -1"), backend, server)
        except DriverError:
            return None

    def _delete(self, target: str) -> None:
        """Wait for the (drained) server's sessions to end, then maintenance, then ``del server``."""
        procfs.wait_for(lambda: self._sessions(target) in (0, None), self.drain_wait, interval=0.1)
        haproxy_api.check_answer(f"set server {target} state maint",
                                 self.host.request(self.socket, f"set server {target} state maint"))

        def deleted() -> str | None:
            answer = self.host.request(self.socket, f"del server {target}").strip()
            return None if _BUSY in answer else answer

        answer = procfs.wait_for(deleted, self.delete_wait, interval=0.1)
        if answer is None:  # sessions that never end, e.g. connecting to the address of a container that died
            self.host.request(self.socket, f"shutdown sessions server {target}")
            answer = procfs.wait_for(deleted, self.delete_wait, interval=0.1)  # connections close asynchronously
        if answer is None:  # still busy: HAProxy's own answer names it
            answer = self.host.request(self.socket, f"del server {target}")
        haproxy_api.check_answer(f"del server {target}", answer)

    def query(self, command: str) -> str:
        return self.host.request(self.socket, command, timeout=2.0)


class HaproxyControl:
    """One HAProxy master whose working directory is the proxy's state directory, on any Host."""

    engine = "haproxy"

    def __init__(self, host: Host, state_dir: Path, binary: str = "haproxy", vrrp: Vrrp | None = None) -> None:
        self.host = host
        self.state_dir = state_dir
        self.binary = binary
        self.vrrp = vrrp
        self.master_sock = state_dir / "run" / "master.sock"
        self.log = state_dir / LOG
        self.runtime_api = HaproxyRuntime(host, state_dir / "run" / "admin.sock")
        self._config = f"{state_dir}/{CONFIG_DIR}/haproxy.cfg"

    def argv(self) -> list[str]:
        return [self.binary, "-W", "-S", "unix@run/master.sock", "-f", self._config, "-p", "run/haproxy.pid"]

    # ------------------------------------------------------------------ observing

    def _ours(self, proc: Proc) -> bool:
        if proc.argv0 != "haproxy" or " -W " not in f" {proc.cmdline} ":
            return False
        return f" -f {self._config} " in f"{proc.cmdline} " or (
            " -f config/haproxy.cfg " in f"{proc.cmdline} " and proc.cwd == str(self.state_dir))

    def _master_proc(self) -> tuple[Proc | None, frozenset[int], str | None]:
        procs = self.host.processes()
        ours = {p.pid: p for p in procs.values() if self._ours(p)}
        masters = [p for p in ours.values() if p.ppid not in ours]
        if not masters:
            return None, frozenset(), None
        master = masters[0]
        workers = frozenset(p.pid for p in procs.values() if p.ppid == master.pid)
        problem = None
        if len(masters) > 1:
            problem = f"two HAProxy masters run on this state directory ({', '.join(str(m.pid) for m in masters)})"
        elif master.state == "T":
            problem = f"the HAProxy master {master.pid} is stopped (SIGSTOP): it answers nothing until continued"
        return master, workers, problem

    def status(self, patience: float = MASTER_WAIT) -> haproxy_api.Status | None:
        """The master CLI's ``show proc``, waiting up to ``patience`` seconds for it to answer."""
        def ask() -> haproxy_api.Status | None:
            try:
                return haproxy_api.parse_show_proc(self.host.request(self.master_sock, "show proc", timeout=2.0))
            except DriverError:
                return None
        return procfs.wait_for(ask, patience, interval=0.1)

    def worker_release(self, worker: int, patience: float = 3.0) -> str | None:
        """The release worker ``worker`` loaded (its ``show info`` description), asked for up to ``patience``
        seconds (a busy worker may not answer the master at once; None still means "unknown", never a guess)."""
        def ask() -> str | None:
            try:
                answer = self.host.request(self.master_sock, f"@!{worker} show info", timeout=2.0)
            except DriverError:
                return None
            description = haproxy_api.parse_info(answer).get("description", "")
            return description[len(RELEASE_PREFIX):] if description.startswith(RELEASE_PREFIX) else None
        return procfs.wait_for(ask, patience, interval=0.1)

    def observe(self, patience: float = MASTER_WAIT) -> Observation:
        master, workers, problem = self._master_proc()
        if master is None:
            return Observation()
        status = None if problem else self.status(patience)
        if status is None and problem is None:
            problem = (f"the HAProxy master {master.pid} does not answer on run/master.sock: it may be busy, hung "
                       "or its socket deleted; ctlplane will not start a second master beside it")
        release = self.worker_release(status[3][0]) if status and status[3] else None
        return Observation(master.pid, workers, release, problem)

    # ------------------------------------------------------------------ acting

    def start(self, release: str) -> Observation:
        before = self.observe(patience=1.0)
        if before.running:
            raise DriverError("haproxy already runs", [Finding(before.problem or
                              f"master {before.master} already serves this state directory", source="haproxy")])
        write_atomic(self.state_dir / SERVER_STATE, NO_SERVER_STATE, 0o640)  # a fresh start inherits no states
        offset = self.host.size(self.log)
        self.host.launch(self.argv(), cwd=self.state_dir, log=self.log)

        def up() -> Observation | list[Finding] | None:
            now = self.observe(patience=0.0)
            if now.running and now.release == release:
                return now
            failed = haproxy_api.alerts(self.host.read_since(self.log, offset))
            return failed if failed and not now.running else None

        result = procfs.wait_for(up, START_TIMEOUT, interval=0.05)
        if isinstance(result, Observation):
            return result
        now = self.observe(patience=0.0)
        if now.master is not None:
            self._stop_master(now.master)
        raise DriverError(f"haproxy did not start on {self.host.label}", result or [
            Finding(f"no worker of release {release} within {START_TIMEOUT:g}s", source="haproxy")])

    def reload(self, before: Observation, release: str, step: Step = no_step) -> Observation:
        status = self.status()
        if status is None:
            raise DriverError("haproxy is not running", [Finding("master CLI not reachable", source="haproxy")])
        _, reloads, failed, old_workers = status
        if old_workers:
            self._await_table_sync(old_workers[0])
        self._save_server_state()
        offset = self.host.size(self.log)
        if not procfs.wait_for(self._send_reload, MASTER_WAIT):
            raise DriverError("haproxy master CLI refused the reload", [Finding("reload not sent", source="haproxy")])
        step("reloading")

        def outcome() -> Observation | bool | None:
            now = self.status(patience=0.0)
            if now is None or now[1] <= reloads:
                return None
            if now[2] > failed:
                return True
            fresh = [w for w in now[3] if w not in old_workers]
            if not fresh or self.worker_release(fresh[0], patience=0.0) != release:
                return None
            return self.observe()

        result = procfs.wait_for(outcome, RELOAD_TIMEOUT, interval=0.01)  # a local ask takes about 1 ms
        if isinstance(result, Observation):
            return result
        raise DriverError("haproxy rejected the reload; the old workers still serve",
                          haproxy_api.alerts(self.host.read_since(self.log, offset)) or
                          [Finding(f"no worker of release {release} within {RELOAD_TIMEOUT:g}s", source="haproxy")])

    def _await_table_sync(self, worker: int) -> None:
        """Hold the reload, at most TABLE_SYNC_WAIT seconds, until ``worker`` can hand its stick tables over."""
        def synced() -> bool:
            try:
                return haproxy_api.peers_synced(self.host.request(self.master_sock, f"@!{worker} show peers",
                                                                  timeout=2.0))
            except DriverError:
                return True  # it does not answer: nothing to wait for that a wait would bring
        procfs.wait_for(synced, TABLE_SYNC_WAIT, interval=0.1)

    def _send_reload(self) -> bool:
        try:
            self.host.request(self.master_sock, "reload")
        except DriverError:
            return False
        return True

    def _save_server_state(self) -> None:
        """What the running workers know of their servers (checks, maintenance, weights), for the next ones;
        not for a server whose address or port the new release changed (HAProxy would keep the old ones)."""
        try:
            state = self.runtime_api.query("show servers state")
        except DriverError:
            return  # nothing to keep: the new workers start from the config
        if state.startswith("1"):  # the format version line: a real dump, not an error message
            try:
                state = haproxy_api.state_for(Path(self._config).read_text(errors="replace"), state)
            except OSError:
                pass  # no release to compare with: nothing it could have changed
            write_atomic(self.state_dir / SERVER_STATE, state.encode(), 0o640)

    def stop(self) -> None:
        if self.vrrp is not None:
            try:
                self.vrrp.stop()  # hand the virtual IPs to the peer before the proxy stops accepting
            except DriverError:
                pass
        master, _, _ = self._master_proc()
        if master is not None:
            self._stop_master(master.pid)
        self.host.retire(STOP_TIMEOUT)

    def _stop_master(self, master: int) -> None:
        """SIGUSR1 (soft stop: workers finish their connections), then SIGTERM, then SIGKILL, each bounded."""
        for signum, wait in ((signal.SIGUSR1, STOP_TIMEOUT), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if not self.host.signal(master, signum):
                return
            if procfs.wait_for(lambda: master not in self.host.processes(), wait, 0.05):
                return

    def log_tail(self, lines: int = 40) -> str:
        parts = [self.host.tail(self.log, lines), self.vrrp.log_tail() if self.vrrp else ""]
        return "\n".join(p for p in parts if p)

    def rotate_logs(self, max_bytes: int, keep: int) -> list[str]:
        if self.host.size(self.log) > max_bytes and self.host.rotate(self.log, keep, copy=True):
            return [LOG]
        return []

