"""Releases on disk: the atomic, multi-file switch between configurations.

A proxy's state directory holds ``releases/<id>/`` (exactly the rendered
files; the id is their content digest, see ``render.release``) and
``config``, a relative symlink naming the release the proxy loads at its next
start or reload. Staging writes and fsyncs a whole release under a temporary
name and renames it into place; an existing release directory is reused only
when its files digest to its name (a half-written or damaged one is moved
aside and written again). A file of mode 0640 (an htpasswd file the NGINX workers read on every request)
is given to the workers' group when ctlplane runs as root. Activating replaces the symlink with one
``rename``. Pruning first renames a release out of ``releases/`` and only
then deletes it, so a half-deleted release can never be activated.

The symlink says what the proxy *should* load; what it actually serves is
read back from the running processes (the drivers). The one record kept here
is the runtime record: HAProxy changes applied through its runtime API
(weights, states) that no reload has loaded yet, tied to the worker that took
them, so that a later observer knows that worker serves the newer release.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ctlplane.errors import DriverError, Finding
from ctlplane.render import Output
from ctlplane.render.release import release_id
from ctlplane.state.fsio import fsync_dir, read_tree, write_atomic
from ctlplane.state.layout import APPLY_LOCK, CONFIG_DIR, RELEASES_DIR, RUNTIME_DIRS, RUNTIME_RECORD, WORKER_DIRS
from ctlplane.state.locks import file_lock

TRASH_PREFIX = ".trash-"
PARTIAL_SUFFIX = ".partial"


@dataclass(frozen=True)
class RuntimeRecord:
    """Runtime-API changes a running HAProxy took without a reload: the worker ``worker`` loaded release
    ``base`` and now serves what release ``now`` describes."""

    base: str
    now: str
    worker: int


class ReleaseStore:
    """The releases of one proxy whose state directory is on this host."""

    def __init__(self, state_dir: Path, workers_gid: int | None = None) -> None:
        self.state_dir = state_dir
        self.workers_gid = workers_gid  # group of a file only the workers may read besides its owner (mode 0640)
        self.config = state_dir / CONFIG_DIR
        self.releases = state_dir / RELEASES_DIR

    def prepare(self) -> None:
        """Create the layout. Unprivileged workers must reach their release directory (they chdir into it),
        ``tmp/`` and ``cache/``: those are traversable by everyone; logs and run stay private."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for sub in (RELEASES_DIR, *RUNTIME_DIRS):
            path = self.state_dir / sub
            path.mkdir(exist_ok=True, mode=0o750)
            os.chmod(path, 0o711 if sub in (*WORKER_DIRS, RELEASES_DIR) else 0o750)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialize applies, ``down`` and rollbacks of this proxy across processes."""
        self.prepare()
        with file_lock(self.state_dir / APPLY_LOCK):
            yield

    def active_release(self) -> str | None:
        """The release ``config`` names (what the next start or reload loads)."""
        try:
            target = os.readlink(self.config)
        except OSError:
            return None
        return Path(target).name

    def read(self, rid: str | None) -> Output | None:
        """The files of release ``rid`` with their modes, or None when it is missing or damaged."""
        if rid is None or not rid or "/" in rid or rid.startswith("."):
            return None
        files = read_tree(self.releases / rid)
        return files if files and release_id(files) == rid else None

    def deployed(self) -> dict[str, bytes]:
        """The bytes of the active release ({} when there is none)."""
        files = self.read(self.active_release())
        return {rel: f.content for rel, f in (files or {}).items()}

    def stage(self, files: Output) -> str:
        """Write a complete release (each file fsynced, then the directory); return its id."""
        self.prepare()
        rid = release_id(files)
        final = self.releases / rid
        if final.is_dir():
            if self.read(rid) == dict(files):
                self._give_workers(final, files)
                return rid
            self._discard(final)  # incomplete or damaged: never reuse it
        temp = self.releases / f".{rid}{PARTIAL_SUFFIX}"
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(mode=0o755)
        os.chmod(temp, 0o755)  # noqa: S103 - workers chdir into it; keys inside stay 0600
        for rel, rendered in files.items():
            if rel.startswith("/") or ".." in rel.split("/"):
                raise DriverError("bad release path", [Finding(f"refusing to write {rel!r}", source="driver")])
            write_atomic(temp / rel, rendered.content, rendered.mode, dir_mode=0o755)
        self._give_workers(temp, files)
        fsync_dir(temp)
        os.rename(temp, final)
        fsync_dir(self.releases)
        return rid

    def _give_workers(self, directory: Path, files: Output) -> None:
        """Files of mode 0640 (an htpasswd file NGINX workers read on every request) to the workers' group."""
        if self.workers_gid is None:
            return
        for rel, rendered in files.items():
            if rendered.mode & 0o077 == 0o040:
                os.chown(directory / rel, -1, self.workers_gid)

    def activate(self, rid: str) -> None:
        """Point ``config`` at ``releases/<rid>`` with one atomic rename."""
        if not (self.releases / rid).is_dir():
            raise DriverError("no such release", [Finding(f"release {rid} does not exist", source="driver")])
        link = self.state_dir / f".{CONFIG_DIR}.next"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        os.symlink(f"{RELEASES_DIR}/{rid}", link)
        os.replace(link, self.config)
        fsync_dir(self.state_dir)

    def prune(self, keep: set[str]) -> None:
        """Remove every release but ``keep`` (and leftovers of interrupted stages and prunes)."""
        if not self.releases.is_dir():
            return
        for entry in self.releases.iterdir():
            if entry.name not in keep:
                self._discard(entry)

    def _discard(self, path: Path) -> None:
        """Move ``path`` out of the release namespace first (one rename), then delete it."""
        if path.name.startswith(TRASH_PREFIX):
            shutil.rmtree(path, ignore_errors=True)
            return
        trash = self.releases / f"{TRASH_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}"
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    # ------------------------------------------------------------------ the runtime record

    def runtime_record(self) -> RuntimeRecord | None:
        try:
            data = json.loads((self.state_dir / RUNTIME_RECORD).read_text())
            return RuntimeRecord(str(data["base"]), str(data["now"]), int(data["worker"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def record_runtime(self, record: RuntimeRecord | None) -> None:
        path = self.state_dir / RUNTIME_RECORD
        if record is None:
            path.unlink(missing_ok=True)
            return
        body = {"base": record.base, "now": record.now, "worker": record.worker}
        write_atomic(path, json.dumps(body).encode(), 0o640)
