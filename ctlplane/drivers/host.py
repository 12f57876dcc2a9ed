"""The Host seam: everything ctlplane does to the place a proxy runs in.

A :class:`Host` runs commands, starts the proxy's main process and helper
daemons, lists and signals processes, reads the proxy's log files, talks to
its UNIX-socket CLIs and sends it an HTTP GET. The engine controls
(``nginx``, ``haproxy``, ``keepalived``) are written once on top of it;
``LocalHost`` (this machine), ``ContainerHost`` (a Docker container through
the SDK) and ``FakeHost`` (simulated engines, for tests) implement it. Process
ids are the host's own: a container's are those of its PID namespace.

Files: a proxy's state directory is always on the machine ctlplane runs on
(a container mounts it at the same path), so :class:`LocalFiles` serves
every host; log tails are read from the end, never whole.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ctlplane.drivers.process import Completed

TAIL_BYTES = 64 * 1024
READ_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class Proc:
    """One process as the host sees it."""

    pid: int
    ppid: int
    state: str  # R, S, D, T (stopped), Z (zombie), ...
    cmdline: str  # arguments joined by spaces, or the title the process gave itself
    cwd: str | None = None  # None when the host cannot tell

    @property
    def argv0(self) -> str:
        return os.path.basename(self.cmdline.split(" ", 1)[0])

    @property
    def dead(self) -> bool:
        return self.state in ("Z", "X")


class Host(Protocol):
    """The place one proxy runs in (this machine, a container, a simulation)."""

    label: str  # for messages: "this host", "container lb"

    @property
    def vrrp_capable(self) -> bool:
        """May run keepalived with virtual IPs (root here; NET_ADMIN etc. in a container)."""

    def launch(self, argv: Sequence[str], *, cwd: Path, log: Path) -> None:
        """Start the proxy's main process detached from ctlplane (a container: create/start it with ``argv``)."""

    def spawn(self, argv: Sequence[str], *, cwd: Path, log: Path, env: Mapping[str, str] | None = None) -> None:
        """Start a helper daemon beside the main process (keepalived), output appended to ``log``."""

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> Completed:
        """Run a short command to completion."""

    def processes(self) -> dict[int, Proc]:
        """Every live process (zombies excluded), by pid."""

    def signal(self, pid: int, signum: int) -> bool:
        """Send a signal; False when the process no longer exists."""

    def available(self) -> bool:
        """Whether the place exists and runs (a container is running; this machine always is)."""

    def retire(self, timeout: float) -> None:
        """After the main process stopped: remove what ctlplane created for it (its container)."""

    def http_get(self, url: str, timeout: float = 2.0) -> tuple[int, str]:
        """GET ``url`` from the host's own network view: (status, body); raise DriverError when unreachable."""

    def request(self, socket: Path, command: str, timeout: float = 5.0) -> str:
        """One command on a UNIX-socket CLI (HAProxy's master and admin sockets); raise DriverError."""

    def size(self, path: Path) -> int: ...

    def read_since(self, path: Path, offset: int, limit: int = READ_LIMIT) -> str: ...

    def tail(self, path: Path, lines: int) -> str: ...

    def rotate(self, path: Path, keep: int, *, copy: bool) -> bool: ...


class LocalFiles:
    """Log files on this machine: sizes, what came after an offset, tails read from the end, rotation."""

    def size(self, path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0

    def read_since(self, path: Path, offset: int, limit: int = READ_LIMIT) -> str:
        """What was written after ``offset`` (at most ``limit`` bytes, the newest; from 0 after a truncation)."""
        try:
            with open(path, "rb") as handle:
                end = handle.seek(0, os.SEEK_END)
                start = offset if offset <= end else 0
                handle.seek(max(start, end - limit))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def tail(self, path: Path, lines: int) -> str:
        """The last ``lines`` lines, reading at most TAIL_BYTES from the end of the file."""
        text = self.read_since(path, 0, TAIL_BYTES)
        return "\n".join(text.splitlines()[-lines:])

    def rotate(self, path: Path, keep: int, *, copy: bool) -> bool:
        """Shift ``path.1`` .. ``path.<keep>`` and move the file to ``path.1``: by rename (the writer reopens
        on a signal) or, with ``copy``, by copying and truncating (a writer that never reopens, O_APPEND)."""
        if not path.is_file():
            return False
        for n in range(keep - 1, 0, -1):
            older = path.with_name(f"{path.name}.{n}")
            if older.exists():
                os.replace(older, path.with_name(f"{path.name}.{n + 1}"))
        first = path.with_name(f"{path.name}.1")
        if copy:
            shutil.copyfile(path, first)
            os.truncate(path, 0)
        else:
            os.replace(path, first)
        return True
