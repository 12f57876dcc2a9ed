"""The driver interface: the only way apply touches a proxy.

A driver owns one proxy's state directory and process (local or in a
container). Its release operations make multi-file changes atomic: files are
staged into ``releases/<id>/`` and ``config`` — a relative symlink — is
swapped to point at it, so a crash leaves either the old or the new release
active, never a mix; the previous release *is* the last-known-good.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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


class Driver(Protocol):
    """What apply needs from a place where a proxy runs."""

    proxy: str
    engine: str

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Serialize applies to this proxy (across processes)."""

    def deployed(self) -> dict[str, bytes]:
        """The files of the active release ({} when nothing was deployed)."""

    def active_release(self) -> str | None:
        """The id of the active release."""

    def stage(self, files: Output) -> str:
        """Write a new, inactive release; return its id."""

    def activate(self, release: str) -> None:
        """Atomically make ``release`` the active one."""

    def generation(self) -> Generation:
        """The serving processes (master None when the proxy is not running)."""

    def start(self) -> Generation:
        """Start the proxy on the active release and wait until it serves."""

    def reload(self, before: Generation) -> Generation:
        """Reload onto the active release and wait for a new worker generation; raise DriverError if none."""

    def runtime(self, commands: list[str]) -> None:
        """Send runtime-API commands (HAProxy); raise DriverError on the first refusal."""

    def stop(self) -> None:
        """Stop the proxy (what apply started)."""

    def prune(self, keep: set[str]) -> None:
        """Remove releases other than ``keep``."""


@contextlib.contextmanager
def nothing() -> Iterator[None]:
    yield
