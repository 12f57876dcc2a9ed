"""HAProxy's UNIX-socket APIs: the master CLI (``show proc``, ``reload``) and
the admin stats socket (``set server ...``). One short connection per command.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from ctlplane.errors import DriverError, Finding


def send(path: Path | str, command: str, timeout: float = 5.0) -> str:
    """Send one command line and return the whole answer."""
    if "\n" in command or ";" in command:
        raise DriverError("refusing a multi-command line", [Finding(repr(command), source="haproxy")])
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            _connect(sock, Path(path))
            sock.sendall(command.encode() + b"\n")
            sock.shutdown(socket.SHUT_WR)  # one command: the CLI answers and closes
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError as exc:
        raise DriverError(f"HAProxy socket {path}: {exc}", [Finding(f"{command}: {exc}", source="haproxy")]) from None
    return b"".join(chunks).decode("utf-8", "replace")


SUN_PATH_MAX = 107  # bytes a UNIX socket path may take (sockaddr_un.sun_path, with its NUL)


def _connect(sock: socket.socket, path: Path) -> None:
    """Connect to a UNIX socket, also when its path is longer than sun_path allows (deep state directories):
    then through ``/proc/self/fd/<directory fd>/<name>``."""
    if len(os.fsencode(path)) <= SUN_PATH_MAX:
        sock.connect(str(path))
        return
    dirfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        sock.connect(f"/proc/self/fd/{dirfd}/{path.name}")
    finally:
        os.close(dirfd)


@dataclass(frozen=True)
class Proc:
    """A line of the master CLI's ``show proc``."""

    pid: int
    kind: str  # master | worker
    reloads: int
    old: bool


def show_proc(master_socket: Path | str) -> list[Proc]:
    """Parse ``show proc``: the master, current workers and (after '# old workers') old ones."""
    procs: list[Proc] = []
    old = False
    for line in send(master_socket, "show proc").splitlines():
        if line.startswith("# old workers"):
            old = True
            continue
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split()
        if len(parts) >= 3 and parts[0].isdigit() and parts[1] in ("master", "worker"):
            procs.append(Proc(int(parts[0]), parts[1], int(parts[2]) if parts[2].isdigit() else 0, old))
    return procs


# ------------------------------------------------------------------ the master CLI protocol, for every driver

_MASTER = re.compile(r"^(\d+)\s+master\s+(\d+)\s+\[failed: (\d+)\]", re.MULTILINE)
_WORKER = re.compile(r"^(\d+)\s+worker\b", re.MULTILINE)
MASTER_WAIT = 5.0  # the master CLI is briefly unreachable while the master re-executes
RUNTIME_OK = ("New server registered.", "Server deleted.")

Status = tuple[int, int, int, frozenset[int]]  # master pid, reloads, failed reloads, current workers


def parse_show_proc(text: str) -> Status | None:
    """(master pid, reloads, failed reloads, current workers) from ``show proc``; None if there is no master."""
    master = _MASTER.search(text)
    if not master:
        return None
    current = text.split("# old workers")[0]
    workers = frozenset(int(m.group(1)) for m in _WORKER.finditer(current))
    return int(master.group(1)), int(master.group(2)), int(master.group(3)), workers


def master_status(master_socket: Path) -> Status | None:
    try:
        return parse_show_proc(send(master_socket, "show proc", timeout=2.0))
    except DriverError:
        return None


def reload_master(master_socket: Path, before: frozenset[int], timeout: float) -> Status | bool:
    """Ask the master to reload and wait for the verdict that 2.6's CLI does not give: the new status when a
    new worker serves, True when the master counted a failed reload, False when nothing came in time.

    Waits (bounded) for a master that is still re-executing after an earlier reload before sending.
    """
    from ctlplane.drivers import procfs

    status = procfs.wait_for(lambda: master_status(master_socket), MASTER_WAIT)
    if status is None:
        raise DriverError("haproxy is not running", [Finding("master CLI not reachable", source="haproxy")])
    _, reloads, failed, _ = status

    def sent() -> bool:
        try:
            send(master_socket, "reload")
        except DriverError:
            return False
        return True

    if not procfs.wait_for(sent, MASTER_WAIT):
        raise DriverError("haproxy master CLI refused the reload", [Finding("reload not sent", source="haproxy")])

    def outcome() -> Status | bool | None:
        now = master_status(master_socket)
        if now is None or now[1] <= reloads:
            return None
        if now[2] > failed:
            return True
        return now if now[3] - before else None

    result = procfs.wait_for(outcome, timeout, interval=0.05)
    return False if result is None else result


def run_admin(admin_socket: Path, commands: list[str]) -> None:
    """Runtime-API commands, in order; the first one HAProxy answers with anything but success raises."""
    for command in commands:
        answer = send(admin_socket, command).strip()
        if answer and answer not in RUNTIME_OK:
            raise DriverError(f"HAProxy refused {command!r}", [Finding(f"{command}: {answer}", source="haproxy")])


def alerts(text: str) -> list[Finding]:
    """The ``[ALERT]`` lines of HAProxy output, without the closing summary lines."""
    return [Finding(line.split(" : ", 1)[-1].strip(), source="haproxy") for line in text.splitlines()
            if line.startswith("[ALERT]") and "Fatal errors" not in line and "Error(s) found" not in line]
