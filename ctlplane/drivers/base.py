"""The driver interface: the only way apply touches a proxy.

A :class:`Driver` pairs a *store* (the releases on disk: stage, activate,
read back, prune, lock — see ``releases.py``) with a *control* (the serving
processes: generation, start, reload, runtime commands, stop). Local and
Docker proxies share the store, since a container's config directory is a
host directory mounted into it; they differ only in control. The fake
driver in ``fake.py`` implements both from memory with scripted failures.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Protocol

from ctlplane.render import Output


@dataclass(frozen=True)
class Generation:
    """Which processes serve right now: the master and its current workers."""

    master: int | None
    workers: frozenset[int] = field(default_factory=frozenset)

    @property
    def running(self) -> bool:
        return self.master is not None


STOPPED = Generation(None)


class Store(Protocol):
    """Releases of one proxy's files."""

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Serialize applies to this proxy (across processes)."""

    def deployed(self) -> dict[str, bytes]:
        """The files of the active release ({} when nothing was deployed)."""

    def active_release(self) -> str | None:
        """The id of the active release."""

    def stage(self, files: Output) -> str:
        """Write a complete, inactive release; return its id."""

    def activate(self, release: str) -> None:
        """Atomically make ``release`` the active one."""

    def prune(self, keep: set[str]) -> None:
        """Remove releases other than ``keep``."""


class Control(Protocol):
    """The serving processes of one proxy."""

    def generation(self) -> Generation:
        """The serving processes (STOPPED when the proxy is not running)."""

    def start(self) -> Generation:
        """Start on the active release and wait until it serves; raise DriverError otherwise."""

    def reload(self, before: Generation) -> Generation:
        """Reload onto the active release and wait for a new generation; raise DriverError if none comes."""

    def runtime(self, commands: list[str]) -> None:
        """Send runtime-API commands (HAProxy); raise DriverError on the first refusal."""

    def stop(self) -> None:
        """Stop the proxy."""

    def log_tail(self, lines: int = 40) -> str:
        """The end of the proxy's own log, for error reports."""


@dataclass
class Driver:
    """Everything apply needs for one proxy."""

    proxy: str
    engine: str
    store: Store
    control: Control
