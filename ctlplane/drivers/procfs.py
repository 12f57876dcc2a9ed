"""Reading process facts from /proc: is a pid alive (zombies count as dead),
which processes are a master's children, and waiting for a condition with a
deadline instead of sleeping a fixed time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def children(pid: int) -> frozenset[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and fields[1] == str(pid) and fields[0] not in ("Z", "X"):
                found.add(int(entry))
    return frozenset(found)


def shutting_down(pid: int) -> bool:
    """True when an NGINX worker is gone or has taken the QUIT signal (it closes its listeners then)."""
    if not alive(pid):
        return True
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"shutting down" in title


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def wait_for(check: Callable[[], T | None], timeout: float, interval: float = 0.02) -> T | None:
    """Call ``check`` until it returns something truthy or ``timeout`` seconds pass; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)
