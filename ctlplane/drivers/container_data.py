"""What ctlplane asks of a proxy's container, as plain data: how it is created (:class:`ContainerSpec`, the
keyword arguments of the Docker SDK's ``containers.create``), its PID 1 command (the engine with its output
appended to the engine's log), and the shell scripts that list the processes inside it, with their parsing.
Pure: :mod:`ctlplane.drivers.container` runs all of it through the Docker engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctlplane.drivers.host import Proc

LOG_OPTIONS = {"max-size": "10m", "max-file": "3"}  # the engine logs to the state dir; keep Docker's own log small
RESTART_POLICY = "unless-stopped"  # a crashed master comes back on the active release (see ``container``)
APPEND = 'exec "$@" >>"$0" 2>&1'  # sh -c: run argv with its output appended to $0
# Every process: pid, owner, working directory (empty when another user's cannot be read), /proc/<pid>/stat
# and the command line, tab-separated, one line each.
PS_SCRIPT = ('cd /proc && for p in [0-9]*; do s=$(cat "$p/stat" 2>/dev/null) || continue; '
             'u=$(stat -c %u "$p" 2>/dev/null); '
             'printf "%s\\t%s\\t%s\\t%s\\t" "$p" "$u" "$(readlink "$p/cwd" 2>/dev/null)" "$s"; '
             'tr "\\0" " " < "$p/cmdline" 2>/dev/null; echo; done')
# The working directory of each pid given, run as the processes' owner: pid<TAB>cwd lines.
CWD_SCRIPT = 'for p in "$@"; do printf "%s\\t%s\\n" "$p" "$(readlink "/proc/$p/cwd" 2>/dev/null)"; done'


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to create a proxy's container (plain data, no Docker objects)."""

    name: str
    image: str
    mount: str  # host directory, mounted read-write at the same path (also the working directory)
    network: str | None
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str = "SIGTERM"
    read_only: tuple[str, ...] = ()  # host directories mounted read-only at the same path
    cap_add: tuple[str, ...] = ()  # VRRP_CAPS for members of an HA pair
    address: str | None = None  # fixed IPv4 address on ``network`` (a pair node's own address)
    command: tuple[str, ...] = ()
    restart: str = RESTART_POLICY

    def create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``client.containers.create``."""
        kwargs: dict[str, Any] = {
            "image": self.image, "command": list(self.command), "name": self.name, "detach": True,
            "working_dir": self.mount, "labels": dict(self.labels), "stop_signal": self.stop_signal,
            "volumes": {self.mount: {"bind": self.mount, "mode": "rw"},
                        **{path: {"bind": path, "mode": "ro"} for path in self.read_only}},
            "log_config": {"type": "json-file", "config": dict(LOG_OPTIONS)},
            "restart_policy": {"Name": self.restart},
        }
        if self.network:
            kwargs["network"] = self.network
            if self.address:
                kwargs["networking_config"] = {self.network: {"IPAMConfig": {"IPv4Address": self.address}}}
        if self.cap_add:
            kwargs["cap_add"] = list(self.cap_add)
        return kwargs


def launch_command(argv: Sequence[str], log: Path) -> tuple[str, ...]:
    """``argv`` run by ``sh`` (after ``exec``) with its output appended to ``log``: PID 1 of the container, and
    any helper started beside it."""
    return ("sh", "-c", APPEND, str(log), *argv)


def parse_processes(text: str) -> tuple[dict[int, Proc], dict[int, int]]:
    """The in-container process listing (``PS_SCRIPT``'s lines): the processes, and the owner of each one whose
    working directory could not be read (another user's, without ptrace)."""
    found: dict[int, Proc] = {}
    unread: dict[int, int] = {}
    for line in text.splitlines():
        parts = line.split("\t", 4)
        if len(parts) != 5 or not parts[0].isdigit() or ")" not in parts[3]:
            continue
        fields = parts[3][parts[3].rindex(")") + 2:].split()
        if len(fields) < 2 or fields[0] in ("Z", "X"):
            continue
        pid = int(parts[0])
        found[pid] = Proc(pid, int(fields[1]), fields[0], parts[4].strip(), parts[2] or None)
        if not parts[2] and parts[1].isdigit() and parts[1] != "0":
            unread[pid] = int(parts[1])
    return found, unread
