"""Reading a proxy's own log file: its size now, and what was written after an offset.

Drivers note the size before an operation and read what came after it, so an
error is judged by this operation's lines only. A missing file reads as empty.
"""

from __future__ import annotations

from pathlib import Path


def size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def since(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
