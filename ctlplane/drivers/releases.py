"""Releases on disk: the atomic, multi-file switch between configurations.

A proxy's state directory holds ``releases/<id>/`` (exactly the rendered
files) and ``config``, a relative symlink to the active one. Staging writes
and fsyncs a whole release first; activating replaces the symlink with one
``rename``; so after a crash at any point the active configuration is either
the old release or the new one, never a mix. The previous release is the
last-known-good that a failed apply goes back to. ``lock`` serializes
applies across processes with ``flock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from ctlplane.errors import DriverError, Finding
from ctlplane.fsio import write_atomic
from ctlplane.layout import CONFIG_DIR, RELEASES_DIR, RUNTIME_DIRS
from ctlplane.render import Output
from ctlplane.statedir import read_deployed

WORKER_DIRS = ("tmp", "cache")


def release_id(files: Output) -> str:
    """A content digest: the same files always give the same release id."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + oct(files[rel].mode).encode() + b"\0" + files[rel].content + b"\0")
    return digest.hexdigest()[:16]


class ReleaseStore:
    """The files side of a driver, for any proxy whose state directory is on this host."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.config = state_dir / CONFIG_DIR
        self.releases = state_dir / RELEASES_DIR

    def prepare(self) -> None:
        """Create the layout. NGINX workers run unprivileged (nobody) and must reach tmp/ and cache/ (buffered
        responses, cache files), so those two are 0711; the rest stays 0750."""
        for sub in (RELEASES_DIR, *RUNTIME_DIRS):
            path = self.state_dir / sub
            path.mkdir(parents=True, exist_ok=True, mode=0o750)
            if sub in WORKER_DIRS:
                os.chmod(path, 0o711)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.prepare()
        with open(self.state_dir / "run" / "apply.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def active_release(self) -> str | None:
        try:
            target = os.readlink(self.config)
        except OSError:
            return None
        return Path(target).name

    def deployed(self) -> dict[str, bytes]:
        return read_deployed(self.config) if self.active_release() else {}

    def stage(self, files: Output) -> str:
        """Write a complete release (each file fsynced, then the directory); return its id."""
        self.prepare()
        rid = release_id(files)
        final = self.releases / rid
        if final.is_dir():
            return rid
        temp = self.releases / f".{rid}.partial"
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(mode=0o750)
        for rel, rendered in files.items():
            if rel.startswith("/") or ".." in rel.split("/"):
                raise DriverError("bad release path", [Finding(f"refusing to write {rel!r}", source="driver")])
            write_atomic(temp / rel, rendered.content, rendered.mode)
        _fsync_dir(temp)
        os.rename(temp, final)
        _fsync_dir(self.releases)
        return rid

    def activate(self, rid: str) -> None:
        """Point ``config`` at ``releases/<rid>`` with one atomic rename."""
        if not (self.releases / rid).is_dir():
            raise DriverError("no such release", [Finding(f"release {rid} does not exist", source="driver")])
        link = self.state_dir / f".{CONFIG_DIR}.next"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        os.symlink(f"{RELEASES_DIR}/{rid}", link)
        os.replace(link, self.config)
        _fsync_dir(self.state_dir)

    def prune(self, keep: set[str]) -> None:
        for entry in self.releases.iterdir() if self.releases.is_dir() else []:
            if entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
