"""Reading processes from this machine's /proc (zombies count as dead), and
waiting for a condition with a deadline instead of sleeping a fixed time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ctlplane.drivers.host import Proc

T = TypeVar("T")


def read_proc(pid: int) -> Proc | None:
    """One process from /proc/<pid> (None when it is gone)."""
    base = f"/proc/{pid}"
    try:
        with open(f"{base}/stat", "rb") as handle:
            raw = handle.read().decode("utf-8", "replace")
        with open(f"{base}/cmdline", "rb") as handle:
            argv = handle.read()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "
    try:
        cwd: str | None = os.readlink(f"{base}/cwd")
    except OSError:
        cwd = None
    cmdline = argv.replace(b"\0", b" ").decode("utf-8", "replace").strip()
    return Proc(pid, int(fields[1]), fields[0], cmdline, cwd)


def processes() -> dict[int, Proc]:
    """Every live (not zombie) process of this machine."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            proc = read_proc(int(entry))
            if proc is not None and not proc.dead:
                found[proc.pid] = proc
    return found


def torn(procs: dict[int, Proc]) -> bool:
    """Whether a listing caught processes mid-change, so that believing it could mislead: a live process
    with no command line (it was exiting, or /proc was read during its exec), or one whose parent is not in
    the listing (the parent exited after its turn; processes from outside the namespace have parent 0).
    An unreadable working directory is not a sign: a worker that changed its user without being made
    dumpable again (HAProxy's) keeps a root-owned /proc entry nobody in the container may read."""
    return any(not p.cmdline or (p.ppid and p.ppid not in procs) for p in procs.values())


def wait_for(check: Callable[[], T], timeout: float, interval: float = 0.02) -> T:
    """Call ``check`` until it returns something truthy or ``timeout`` seconds pass; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, killed but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        pass
    else:
        return stat.rpartition(")")[2].split()[:1] != ["Z"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
