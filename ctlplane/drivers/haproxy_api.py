"""HAProxy's UNIX-socket CLIs: the socket client, and the pure parsing of what the
master CLI (``show proc``, ``show info``) and the admin socket answer. One short
connection per command; the engine logic built on them is ``haproxy.py``.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from ctlplane.errors import DriverError, Finding

SUN_PATH_MAX = 107  # bytes a UNIX socket path may take (sockaddr_un.sun_path, with its NUL)
RUNTIME_OK = ("New server registered.", "Server deleted.", "OCSP Response updated!")
RUNTIME_OK_PREFIXES = ("IP changed from ", "no need to change the addr", "port changed from ")
_MASTER = re.compile(r"^(\d+)\s+master\s+(\d+)\s+\[failed: (\d+)\]", re.MULTILINE)
_WORKER = re.compile(r"^(\d+)\s+worker\b", re.MULTILINE)

Status = tuple[int, int, int, tuple[int, ...]]  # master pid, reloads, failed reloads, current workers (newest first)


def send(path: Path | str, command: str, timeout: float = 5.0) -> str:
    """Send one command line and return the whole answer; raise DriverError when the socket fails."""
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
        raise DriverError(f"HAProxy socket {path}: {exc}", [Finding(f"{command}: {exc}", source="haproxy")]) from exc
    return b"".join(chunks).decode("utf-8", "replace")


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


def parse_show_proc(text: str) -> Status | None:
    """(master pid, reloads, failed reloads, current workers) from ``show proc``; None if there is no master."""
    master = _MASTER.search(text)
    if not master:
        return None
    current = text.split("# old workers")[0]
    workers = tuple(int(m.group(1)) for m in _WORKER.finditer(current))
    return int(master.group(1)), int(master.group(2)), int(master.group(3)), workers


_PEERS_SECTION = re.compile(r"^0x[0-9a-f]+: \[[^]]*\] id=\S+ .*?\bflags=0x([0-9a-f]+)", re.M)
_RESYNC_FINISHED = 0x3  # PEERS_F_RESYNC_LOCAL | PEERS_F_RESYNC_REMOTE (src/peers.c)


def peers_synced(text: str) -> bool:
    """Whether every ``peers`` section in ``show peers`` has finished its own resync: only then does a worker,
    told to stop, hand its stick tables to the next one (true when there is no section at all)."""
    return all(int(flags, 16) & _RESYNC_FINISHED == _RESYNC_FINISHED for flags in _PEERS_SECTION.findall(text))


def parse_info(text: str) -> dict[str, str]:
    """``show info`` as a mapping (``Name: value`` lines)."""
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            found[key.strip()] = value.strip()
    return found


def check_answer(command: str, answer: str) -> None:
    """Raise when the admin socket answered a change command with anything but success."""
    answer = answer.strip()
    if answer and answer not in RUNTIME_OK and not answer.startswith(RUNTIME_OK_PREFIXES):
        raise DriverError(f"HAProxy refused {command!r}", [Finding(f"{command}: {answer}", source="haproxy")])


def server_sessions(stat: str, backend: str, server: str) -> int | None:
    """The current sessions (``scur``) of one server in a ``show stat`` answer; None when it is not listed."""
    lines = stat.splitlines()
    if not lines or not lines[0].startswith("# "):
        return None
    header = lines[0][2:].split(",")
    if "scur" not in header:
        return None
    column = header.index("scur")
    for line in lines[1:]:
        fields = line.split(",")
        if len(fields) > column and fields[0] == backend and fields[1] == server:
            return int(fields[column]) if fields[column].isdigit() else 0
    return None


def alerts(text: str) -> list[Finding]:
    """The distinct ``[ALERT]`` lines of HAProxy output, without the closing summary lines."""
    found = [line.split(" : ", 1)[-1].strip() for line in text.splitlines()
             if line.startswith("[ALERT]") and "Fatal errors" not in line and "Error(s) found" not in line]
    return [Finding(message, source="haproxy") for message in dict.fromkeys(found)]


# One pass over the config: each section header (a line starting at column 0 with a keyword; comments start
# with "#") and each server line; a backend's or listen's header names the proxy its server lines belong to.
_SECTION_OR_SERVER = re.compile(
    r"^(?:(?:(?:backend|listen) '([^']*)'|[a-z])[^\n]*"
    r"|[ \t]+server '([^']*)' '(\[[^\]]*\]|[^':]*):(\d+)')", re.MULTILINE)


def configured_servers(config: str) -> dict[tuple[str, str], tuple[str, str]]:
    """``(backend, server) -> (address, port)`` of a config ctlplane rendered (names and addresses quoted), a
    ``listen`` section counting as a backend (as in HAProxy's state dump)."""
    servers = {}
    backend = None
    for section_backend, name, address, port in _SECTION_OR_SERVER.findall(config):
        if not name:  # a section header: a backend's (or listen's) name, or "" for any other section
            backend = section_backend or None
        elif backend is not None:
            servers[(backend, name)] = (address.strip("[]"), port)
    return servers


def state_for(config: str, state: str) -> str:
    """The ``show servers state`` dump without the servers whose address or port the new config changed.

    HAProxy restores a server's address and port from the state file over the config's (a known trap: a
    changed port silently keeps the old one), so a changed server must start from its config instead."""
    lines = state.splitlines()
    header = next((ln for ln in lines if ln.startswith("# be_id")), None)
    if header is None:
        return state
    columns = header[2:].split()
    at = {name: columns.index(name) for name in ("be_name", "srv_name", "srv_addr", "srv_port") if name in columns}
    if len(at) < 4:
        return state
    servers = configured_servers(config)
    kept = []
    for line in lines:
        fields = line.split()
        if line.startswith("#") or len(fields) <= max(at.values()):
            kept.append(line)
            continue
        key = (fields[at["be_name"]], fields[at["srv_name"]])
        if servers.get(key) == (fields[at["srv_addr"]], fields[at["srv_port"]]):
            kept.append(line)
    return "\n".join(kept) + "\n"
