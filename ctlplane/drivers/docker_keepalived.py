"""keepalived beside the proxy in its Docker container, for members of an HA pair.

The proxy stays PID 1; keepalived is a second process started with ``docker
exec`` (detached) once the proxy serves, in the foreground of its exec
(``--dont-fork``), VRRP only, logging to ``logs/keepalived.log`` and keeping
its pid files and state dumps (``TMPDIR``) in ``run/`` of the mounted state
directory, on the active release's ``config/keepalived.conf``. :meth:`sync`
makes it match the release after every start, reload or unchanged apply:
started when missing (stale pid files of an earlier container life removed
first), SIGHUP when the file differs from the one it loaded (its digest is
kept in ``run/keepalived.sha256``), SIGTERM when the proxy left its pair.
:meth:`stop` ends it gracefully before the container stops, so it drops its
virtual IPs and sends priority 0 and the peer takes over at once.
:meth:`snapshot` returns the raw ``ip -o addr`` output and keepalived's JSON
dump (``ctlplane.pairs`` gives them meaning). Every command runs inside the
container as a fixed shell script with the state directory as its argument.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from ctlplane.drivers.docker import VRRP_CAPS, ContainerHandle
from ctlplane.drivers import logfile
from ctlplane.errors import DriverError, Finding
from ctlplane.layout import CONFIG_DIR

CONF = "keepalived.conf"
PID = "run/keepalived.pid"
VRRP_PID = "run/keepalived-vrrp.pid"
DIGEST = "run/keepalived.sha256"
LOG = "logs/keepalived.log"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
RELOAD_TIMEOUT = 5.0

# $1 is the state directory in every script; the pid file counts only while it names a live keepalived.
_PIDOF = ('p=$(cat "$1/run/keepalived.pid" 2>/dev/null) && '
          '[ "$(cat /proc/$p/comm 2>/dev/null)" = keepalived ] && echo "$p"')
_PID_SCRIPT = _PIDOF + " || true"
_SIGNAL_SCRIPT = _PIDOF.replace('echo "$p"', 'kill -s "$2" "$p"')
_CLEAN_SCRIPT = ("(" + _PIDOF + ") >/dev/null || "
                 'rm -f "$1/run/keepalived.pid" "$1/run/keepalived-vrrp.pid" "$1/run/keepalived.sha256"')
_SNAPSHOT_SCRIPT = (
    'echo "== addr"; ip -o addr show; p=$(' + _PIDOF + ') || exit 0; echo "== pid $p"; '
    'f="$1/run/keepalived.json"; rm -f "$f"; kill -"$(keepalived --signum=JSON)" "$p" || exit 0; '
    'i=0; while [ ! -s "$f" ] && [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done; sleep 0.1; '
    'echo "== json"; cat "$f" 2>/dev/null'
)


def keepalived_command(state_dir: Path) -> tuple[str, ...]:
    """keepalived in the foreground of its exec, VRRP only, every file under the state directory."""
    return ("keepalived", f"--use-file={state_dir}/{CONFIG_DIR}/{CONF}", "--dont-fork", "--log-console",
            "--no-syslog", "--vrrp", f"--pid={state_dir}/{PID}", f"--vrrp_pid={state_dir}/{VRRP_PID}")


def launch_argv(state_dir: Path) -> list[str]:
    """The exec that starts keepalived with its console output appended to ``logs/keepalived.log``."""
    return ["sh", "-c", 'exec "$@" >>"$0" 2>&1', f"{state_dir}/{LOG}", *keepalived_command(state_dir)]


def has_vrrp_caps(cap_add: list[str] | None) -> bool:
    """Whether a container's ``HostConfig.CapAdd`` grants what VRRP needs (Docker may prefix ``CAP_``)."""
    granted = {c.upper().removeprefix("CAP_") for c in cap_add or []}
    return "ALL" in granted or set(VRRP_CAPS) <= granted


class DockerKeepalived:
    """keepalived of one pair member, running beside its proxy in the same container."""

    def __init__(self, handle: ContainerHandle, state_dir: Path) -> None:
        self.handle = handle
        self.state_dir = state_dir
        self.conf = state_dir / CONFIG_DIR / CONF
        self.log = state_dir / LOG
        self.digest_file = state_dir / DIGEST

    def _sh(self, script: str, *args: str) -> tuple[int, str]:
        return self.handle.exec(["sh", "-c", script, "keepalived-ctl", str(self.state_dir), *args])

    def pid(self) -> int | None:
        """keepalived's parent pid inside the container, None when it does not run."""
        if not (self.state_dir / PID).exists() or self.handle.running() is None:
            return None
        _, out = self._sh(_PID_SCRIPT)
        return int(out.strip()) if out.strip().isdigit() else None

    def wanted(self) -> bool:
        return self.conf.is_file()

    def sync(self) -> None:
        """Make keepalived run the active release's keepalived.conf (or not run, without one)."""
        if not self.wanted():
            self.stop()
            return
        pid = self.pid()
        digest = hashlib.sha256(self.conf.read_bytes()).hexdigest()
        if pid is None:
            self._start(digest)
        elif self._loaded_digest() != digest:
            self._reload(digest)

    def _loaded_digest(self) -> str:
        try:
            return self.digest_file.read_text().strip()
        except OSError:
            return ""

    def _start(self, digest: str) -> None:
        if not has_vrrp_caps(self.handle.cap_add()):
            raise DriverError("keepalived needs NET_ADMIN in the container", [Finding(
                f"container {self.handle.spec.name} was created without {', '.join(VRRP_CAPS)}: run "
                "'ctlplane down' for this proxy and apply again, so ctlplane creates it as a pair member",
                source="keepalived")])
        self._sh(_CLEAN_SCRIPT)
        offset = self._log_size()
        self.handle.exec_detached(launch_argv(self.state_dir), environment={"TMPDIR": f"{self.state_dir}/run"})
        if not _wait(lambda: self.pid() is not None, START_TIMEOUT):
            raise DriverError(f"keepalived did not start in container {self.handle.spec.name}",
                              [Finding(self._log_since(offset).strip()[-2000:] or "no output", source="keepalived")])
        self.digest_file.write_text(digest + "\n")

    def _reload(self, digest: str) -> None:
        offset = self._log_size()
        code, _ = self._sh(_SIGNAL_SCRIPT, "HUP")
        if code != 0 or not _wait(lambda: "Reload complete" in self._log_since(offset), RELOAD_TIMEOUT):
            raise DriverError("keepalived did not reload", [Finding(
                self._log_since(offset).strip()[-2000:] or f"no 'Reload finished' within {RELOAD_TIMEOUT:g}s",
                source="keepalived")])
        self.digest_file.write_text(digest + "\n")

    def stop(self) -> None:
        """SIGTERM and wait: keepalived removes its VIPs and sends priority 0, so the peer takes over now."""
        if self.pid() is None:
            return
        self._sh(_SIGNAL_SCRIPT, "TERM")
        if not _wait(lambda: self.pid() is None, STOP_TIMEOUT):
            self._sh(_SIGNAL_SCRIPT, "KILL")

    def snapshot(self) -> str:
        """``== addr`` (ip -o addr show), then ``== pid N`` and ``== json`` (keepalived's state) when it runs."""
        if self.handle.running() is None:
            return ""
        return self._sh(_SNAPSHOT_SCRIPT)[1]

    def probe(self, url: str, timeout: int = 2) -> bool:
        """GET ``url`` from inside the container (the admin listener is usually on its loopback)."""
        if self.handle.running() is None:
            return False
        code, _ = self.handle.exec(["curl", "-fsS", "-o", "/dev/null", "--noproxy", "*", "--max-time",
                                    str(timeout), url])
        return code == 0

    def _log_size(self) -> int:
        return logfile.size(self.log)

    def _log_since(self, offset: int) -> str:
        return logfile.since(self.log, offset)

    def log_tail(self, lines: int = 20) -> str:
        text = self._log_since(0).splitlines()[-lines:]
        return "keepalived:\n" + "\n".join(text) if text else ""


def _wait(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
