"""A simulated Host for tests: NGINX, HAProxy and keepalived processes that react to
the same argv, signals and CLI commands as the real ones, without running anything.

The engine controls, apply, status and pairs run unchanged on it; only the
processes, signals, sockets and HTTP answers are simulated (files are real:
tests give it a temporary state directory). A simulated master loads the
release ``config`` names, its workers run in that release's directory (NGINX)
or report it in ``show info`` (HAProxy), so the release the workers report
is as true as on a real host. ``faults`` scripts what goes wrong: ``start``
(the engine exits at once with an ``[emerg]``/``[ALERT]``), ``reload`` (the
master refuses: a bind error), ``runtime`` (the admin socket refuses), ``hang``
(the master CLI does not answer), ``health:<url>`` (a GET fails). ``kill(pid)``
is SIGKILL: an NGINX master's workers then become orphans, as on Linux.
``events`` records every launch, signal and command.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ctlplane.drivers.host import LocalFiles, Proc
from ctlplane.drivers.process import Completed
from ctlplane.errors import DriverError, Finding

STOPPING = {signal.SIGTERM, signal.SIGINT, signal.SIGKILL}
GRACEFUL = {"nginx": signal.SIGQUIT, "haproxy": signal.SIGUSR1}  # NGINX takes SIGUSR1 as "reopen the logs"


@dataclass
class Sim:
    """One simulated engine instance (its master, workers and counters)."""

    engine: str
    argv: tuple[str, ...]
    cwd: str
    log: Path
    master: int
    workers: list[int] = field(default_factory=list)
    reloads: int = 0
    failed: int = 0
    env: dict[int, str] = field(default_factory=dict)  # HAProxy worker -> release it loaded


class FakeHost(LocalFiles):
    """Processes, signals, sockets and HTTP in memory; files on the real file system."""

    label = "fake host"
    vrrp_capable = True

    def __init__(self) -> None:
        self.procs: dict[int, Proc] = {}
        self.sims: dict[int, Sim] = {}
        self.next_pid = 100
        self.faults: set[str] = set()
        self.events: list[str] = []
        self.runtime_log: list[str] = []
        self.http: dict[str, tuple[int, str]] = {}
        self.noise: list[str] = []  # lines other processes append to an engine's log at every reload

    # ------------------------------------------------------------------ helpers

    def _pid(self) -> int:
        self.next_pid += 1
        return self.next_pid

    def _add(self, ppid: int, cmdline: str, cwd: str) -> int:
        pid = self._pid()
        self.procs[pid] = Proc(pid, ppid, "S", cmdline, cwd)
        return pid

    def _release_dir(self, sim: Sim) -> str:
        config = Path(sim.cwd) / "config"
        return str(Path(sim.cwd) / os.readlink(config)) if config.is_symlink() else sim.cwd

    def _spawn_workers(self, sim: Sim) -> None:
        release = self._release_dir(sim)
        for _ in range(2 if sim.engine == "nginx" else 1):
            if sim.engine == "nginx":
                sim.workers.append(self._add(sim.master, "nginx: worker process", release))
            else:
                pid = self._add(sim.master, " ".join(sim.argv), sim.cwd)
                sim.env[pid] = os.path.basename(release)
                sim.workers.append(pid)

    def _retire_workers(self, sim: Sim, keep: int = 0) -> None:
        for pid in sim.workers[:len(sim.workers) - keep]:
            self.procs.pop(pid, None)
        sim.workers = sim.workers[len(sim.workers) - keep:]

    def _write(self, path: Path, line: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            handle.write(line + "\n")

    # ------------------------------------------------------------------ Host

    def launch(self, argv: Sequence[str], *, cwd: Path, log: Path) -> None:
        engine = os.path.basename(argv[0])
        self.events.append(f"launch {engine}")
        if "start" in self.faults:
            self.faults.discard("start")
            self._write(log, "2026/01/01 00:00:00 [emerg] 1#1: bind() failed (98: Address already in use)"
                        if engine == "nginx" else "[ALERT]    (1) : Starting frontend fe: cannot bind socket")
            return
        title = f"nginx: master process {' '.join(argv)}" if engine == "nginx" else " ".join(argv)
        sim = Sim(engine, tuple(argv), str(cwd), log, 0)
        sim.master = self._add(1, title, str(cwd))
        self.sims[sim.master] = sim
        self._spawn_workers(sim)

    def spawn(self, argv: Sequence[str], *, cwd: Path, log: Path, env: Mapping[str, str] | None = None) -> None:
        self.events.append(f"spawn {os.path.basename(argv[0])}")
        self._add(1, " ".join(argv), str(cwd))

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> Completed:
        self.events.append("run " + " ".join(argv))
        return Completed(tuple(argv), 0, "", "", 0.0)

    def processes(self) -> dict[int, Proc]:
        return dict(self.procs)

    def signal(self, pid: int, signum: int) -> bool:
        if pid not in self.procs:
            return False
        self.events.append(f"signal {signal.Signals(signum).name} {pid}")
        sim = self.sims.get(pid)
        if sim is not None and signum == signal.SIGHUP:
            self._nginx_reload(sim)
        elif signum in STOPPING or (sim is not None and signum == GRACEFUL[sim.engine]) or (
                sim is None and signum == signal.SIGQUIT):
            self.kill(pid, orphan=signum == signal.SIGKILL)
        return True

    def kill(self, pid: int, orphan: bool = True) -> None:
        """The process dies; an NGINX master killed this way leaves its workers running (orphans)."""
        sim = self.sims.pop(pid, None)
        self.procs.pop(pid, None)
        if sim is None:
            return
        for worker in sim.workers:
            if orphan and sim.engine == "nginx" and worker in self.procs:
                self.procs[worker] = Proc(worker, 1, "S", self.procs[worker].cmdline, self.procs[worker].cwd)
            else:
                self.procs.pop(worker, None)

    def _nginx_reload(self, sim: Sim) -> None:
        for line in self.noise:
            self._write(sim.log, line)
        if "reload" in self.faults:
            self.faults.discard("reload")
            self._write(sim.log, f"2026/01/01 00:00:00 [emerg] {sim.master}#{sim.master}: bind() to 127.0.0.1:1 "
                                 "failed (98: Address already in use)")
            return
        old = len(sim.workers)
        self._spawn_workers(sim)
        self._retire_workers(sim, keep=len(sim.workers) - old)

    def available(self) -> bool:
        return True

    def retire(self, timeout: float) -> None:
        self.events.append("retire")

    def http_get(self, url: str, timeout: float = 2.0) -> tuple[int, str]:
        if f"health:{url}" in self.faults:
            raise DriverError(f"GET {url} failed", [Finding(f"GET {url}: connection refused", source="driver")])
        return self.http.get(url, (200, "ok"))

    def request(self, socket: Path, command: str, timeout: float = 5.0) -> str:
        sim = next((s for s in self.sims.values() if str(socket).startswith(s.cwd + "/")), None)
        if sim is None or "hang" in self.faults:
            raise DriverError(f"HAProxy socket {socket}: connection refused", [Finding(command, source="haproxy")])
        self.events.append(f"{socket.name} {command}")
        if socket.name == "admin.sock":
            return self._admin(command)
        if command == "show proc":
            lines = [f"{sim.master} master {sim.reloads} [failed: {sim.failed}] 0d00h00m01s 2.6"]
            return "\n".join(["#<PID> <type> <reloads>", *lines, "# workers",
                              *[f"{w} worker 0 0d00h00m01s 2.6" for w in reversed(sim.workers)]]) + "\n"
        if command == "reload":
            sim.reloads += 1
            if "reload" in self.faults:
                self.faults.discard("reload")
                sim.failed += 1
                self._write(sim.log, "[ALERT]    (1) : Starting frontend fe: cannot bind socket")
            else:
                self._spawn_workers(sim)
                self._retire_workers(sim, keep=1)
            return ""
        if command.startswith("@!") and command.endswith(" show info"):
            worker = int(command[2:].split()[0])
            return f"Name: HAProxy\ndescription: ctlplane release {sim.env[worker]}\n" if worker in sim.env else ""
        return "Unknown command.\n"

    def _admin(self, command: str) -> str:
        if command.startswith("show"):
            return "1\n# be_id be_name srv_id srv_name\n" if command == "show servers state" else ""
        if "runtime" in self.faults:
            self.faults.discard("runtime")
            return "No such server.\n"
        self.runtime_log.append(command)
        if command.startswith(("add server ", "del server ")):
            return "New server registered.\n" if command.startswith("add") else "Server deleted.\n"
        return ""
