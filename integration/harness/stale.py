"""What a killed test run leaves on the host outside Docker, found and removed by the next run.

Directories a run creates for processes on this host (a private dockerd, local
proxies) are named ``<prefix><owner pid>-XXXX`` under the temp dir; the
processes running from them name the directory on their command line.
:func:`sweep` stops those of runs whose owner is gone (SIGTERM, then SIGKILL)
and calls ``destroy`` on each directory (default: delete it).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ctlplane.drivers.procfs import pid_alive as alive


def processes_using(root: Path) -> list[int]:
    """Pids whose command line names ``root``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(root).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def stop_processes(root: Path, grace: float = 5.0) -> None:
    """SIGTERM every process running from ``root``, SIGKILL those still there after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in processes_using(root):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while processes_using(root) and time.monotonic() < deadline:
            time.sleep(0.1)


def owned_dir(prefix: str) -> Path:
    """A new directory ``<tmp>/<prefix><this pid>-XXXX``."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def sweep(prefix: str, destroy: Callable[[Path], None] | None = None) -> list[Path]:
    """Directories of ``prefix`` whose owner pid is gone: their processes stopped, then ``destroy``-ed."""
    swept = []
    for root in Path(tempfile.gettempdir()).glob(prefix + "*"):
        owner = root.name.removeprefix(prefix).split("-", 1)[0]
        if owner.isdigit() and not alive(int(owner)):
            stop_processes(root)
            (destroy or (lambda path: shutil.rmtree(path, ignore_errors=True)))(root)
            swept.append(root)
    return swept
