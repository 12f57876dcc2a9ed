"""keepalived beside a pair member's proxy, controlled once for every Host.

It runs in the foreground of its own exec (``--dont-fork``), VRRP only,
logging to ``logs/keepalived.log`` and keeping its pid files and state dumps
(``TMPDIR``) in ``run/``, on the active release's ``config/keepalived.conf``;
it is found by that command line, never by a pid file alone (stale pid files
of an earlier life are removed before a start, since keepalived refuses to
start while its pid file names any live process). :meth:`sync` makes it match
the release after every start, reload or unchanged apply: started when
missing, SIGHUP when the file differs from the one it loaded (its digest is
kept in ``run/keepalived.sha256``), stopped when the proxy left its pair.
:meth:`stop` ends it gracefully first, so it drops its virtual IPs and sends
priority 0 and the peer takes over at once. :meth:`snapshot` returns the raw
``ip -o addr`` output and keepalived's JSON dump (``ctlplane.pairs`` gives
them meaning).
"""

from __future__ import annotations

import hashlib
import signal
import time
from pathlib import Path

from ctlplane.drivers import procfs
from ctlplane.drivers.host import Host
from ctlplane.errors import DriverError, Finding
from ctlplane.state.layout import CONFIG_DIR

CONF = "keepalived.conf"
PID = "run/keepalived.pid"
VRRP_PID = "run/keepalived-vrrp.pid"
DIGEST = "run/keepalived.sha256"
JSON_DUMP = "run/keepalived.json"
LOG = "logs/keepalived.log"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
RELOAD_TIMEOUT = 5.0
VRRP_CAPS = ("NET_ADMIN", "NET_RAW", "NET_BROADCAST")  # VIPs, raw VRRP sockets, gratuitous ARP


def keepalived_command(state_dir: Path) -> list[str]:
    """keepalived in the foreground, VRRP only, every file under the state directory."""
    return ["keepalived", f"--use-file={state_dir}/{CONFIG_DIR}/{CONF}", "--dont-fork", "--log-console",
            "--no-syslog", "--vrrp", f"--pid={state_dir}/{PID}", f"--vrrp_pid={state_dir}/{VRRP_PID}"]


class KeepalivedControl:
    """keepalived of one pair member, on the same Host as its proxy."""

    def __init__(self, host: Host, state_dir: Path) -> None:
        self.host = host
        self.state_dir = state_dir
        self.conf = state_dir / CONFIG_DIR / CONF
        self.log = state_dir / LOG
        self.digest_file = state_dir / DIGEST
        self._mine = f"--use-file={self.conf}"

    def pid(self) -> int | None:
        """keepalived's parent process (it forks a VRRP child), None when it does not run."""
        procs = self.host.processes()
        ours = {p.pid for p in procs.values() if p.argv0 == "keepalived" and self._mine in p.cmdline}
        parents = sorted(pid for pid in ours if procs[pid].ppid not in ours)
        return parents[0] if parents else None

    def sync(self) -> None:
        if not self.conf.is_file():
            self.stop()
            return
        digest = hashlib.sha256(self.conf.read_bytes()).hexdigest()
        if self.pid() is None:
            self._start(digest)
        elif self._loaded_digest() != digest:
            self._reload(digest)

    def _loaded_digest(self) -> str:
        try:
            return self.digest_file.read_text().strip()
        except OSError:
            return ""

    def _start(self, digest: str) -> None:
        if not self.host.vrrp_capable:
            raise DriverError("keepalived needs NET_ADMIN", [Finding(
                f"{self.host.label} cannot run keepalived: a container needs {', '.join(VRRP_CAPS)} — run "
                "'ctlplane down' for this proxy and apply again, so ctlplane creates it as a pair member",
                source="keepalived")])
        for stale in (PID, VRRP_PID, DIGEST):
            (self.state_dir / stale).unlink(missing_ok=True)
        offset = self.host.size(self.log)
        self.host.spawn(keepalived_command(self.state_dir), cwd=self.state_dir, log=self.log,
                        env={"TMPDIR": f"{self.state_dir}/run"})
        if not procfs.wait_for(lambda: self.pid() is not None, START_TIMEOUT, interval=0.1):
            raise DriverError(f"keepalived did not start on {self.host.label}", [Finding(
                self.host.read_since(self.log, offset).strip()[-2000:] or "no output", source="keepalived")])
        self.digest_file.write_text(digest + "\n")

    def _reload(self, digest: str) -> None:
        offset = self.host.size(self.log)
        pid = self.pid()
        sent = pid is not None and self.host.signal(pid, signal.SIGHUP)
        if not sent or not procfs.wait_for(lambda: "Reload complete" in self.host.read_since(self.log, offset),
                                           RELOAD_TIMEOUT, interval=0.1):
            raise DriverError("keepalived did not reload", [Finding(
                self.host.read_since(self.log, offset).strip()[-2000:] or
                f"no 'Reload complete' within {RELOAD_TIMEOUT:g}s", source="keepalived")])
        self.digest_file.write_text(digest + "\n")

    def stop(self) -> None:
        """SIGTERM and wait: keepalived removes its VIPs and sends priority 0, so the peer takes over now."""
        pid = self.pid()
        if pid is None:
            return
        self.host.signal(pid, signal.SIGTERM)
        if not procfs.wait_for(lambda: self.pid() is None, STOP_TIMEOUT, interval=0.1):
            self.host.signal(pid, signal.SIGKILL)

    def snapshot(self) -> str:
        """``== addr`` (ip -o addr show), then ``== pid N`` and ``== json`` (keepalived's state) when it runs."""
        if not self.host.available():
            return ""
        parts = ["== addr", self.host.run(["ip", "-o", "addr", "show"]).stdout.rstrip("\n")]
        pid = self.pid()
        if pid is None:
            return "\n".join(parts) + "\n"
        parts.append(f"== pid {pid}")
        dump = self.state_dir / JSON_DUMP
        dump.unlink(missing_ok=True)
        signum = self.host.run(["keepalived", "--signum=JSON"]).stdout.strip()
        if signum.isdigit() and self.host.signal(pid, int(signum)):
            procfs.wait_for(lambda: dump.is_file() and dump.stat().st_size > 0, 2.0, interval=0.05)
            time.sleep(0.1)  # keepalived may still be writing the last bytes
            parts += ["== json", dump.read_text() if dump.is_file() else ""]
        return "\n".join(parts) + "\n"

    def log_tail(self, lines: int = 20) -> str:
        text = self.host.tail(self.log, lines)
        return "keepalived:\n" + text if text else ""
