"""HAProxy's UNIX-socket APIs: the master CLI (``show proc``, ``reload``) and
the admin stats socket (``set server ...``). One short connection per command.
"""

from __future__ import annotations

import os
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
