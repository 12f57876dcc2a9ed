"""What apply, plan, status and pairs may ask of a proxy: the engine control protocol.

A :class:`Control` (``NginxControl``, ``HaproxyControl``) observes the proxy's
processes and the release its workers report, starts it, reloads it and
verifies the new generation, and stops it, through a ``Host``. Optional
capabilities are attributes declared here and ``None`` where the engine or
place lacks them, never probed: ``runtime_api`` (HAProxy's admin socket) and
``vrrp`` (keepalived beside a pair member). :class:`Observation` is plain
data: who runs, which release the current workers loaded, what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ctlplane.drivers.host import Host

Step = Callable[[str], None]  # told "reloading" once the reload was requested, before it is verified


def no_step(_: str) -> None:
    """The default step observer: nothing."""


@dataclass(frozen=True)
class Observation:
    """A proxy's processes right now, read from the host (never from a pid file)."""

    master: int | None = None
    workers: frozenset[int] = field(default_factory=frozenset)  # children of the master (old ones included)
    release: str | None = None  # the release the current workers report having loaded (None: unknown)
    problem: str | None = None  # a master that cannot be driven safely (does not answer, is stopped, two masters)
    orphans: frozenset[int] = field(default_factory=frozenset)  # our workers left without a master

    @property
    def running(self) -> bool:
        return self.master is not None


STOPPED = Observation()


class RuntimeApi(Protocol):
    """Changes a running proxy takes without a reload (HAProxy's admin socket)."""

    def send(self, commands: list[str]) -> None:
        """Run the commands in order; raise DriverError on the first refusal."""

    def query(self, command: str) -> str:
        """One read-only command's answer (``show stat``, ``show servers state``)."""


class Vrrp(Protocol):
    """keepalived beside a pair member."""

    def sync(self) -> None:
        """Run keepalived on the active release's keepalived.conf (start, reload or stop it)."""

    def stop(self) -> None:
        """Stop keepalived so the peer takes the virtual IPs over now."""

    def snapshot(self) -> str:
        """``== addr`` (``ip -o addr``), ``== pid N`` and ``== json`` (keepalived's state dump) sections."""

    def log_tail(self, lines: int = 20) -> str: ...


class Control(Protocol):
    """One proxy's serving processes."""

    @property
    def engine(self) -> str: ...

    @property
    def host(self) -> Host: ...

    @property
    def state_dir(self) -> Path: ...

    @property
    def runtime_api(self) -> RuntimeApi | None:
        """HAProxy's admin socket; None for engines without a runtime API."""

    @property
    def vrrp(self) -> Vrrp | None:
        """keepalived beside a pair member; None otherwise."""

    def observe(self) -> Observation:
        """The processes now, the release the current workers loaded, problems and orphans."""

    def start(self, release: str) -> Observation:
        """Start on the active release (stopping orphaned workers first) and wait until workers of
        ``release`` serve; raise DriverError otherwise."""

    def reload(self, before: Observation, release: str, step: Step = no_step) -> Observation:
        """Reload onto the active release and wait until workers of ``release`` serve; raise DriverError
        (the old workers still serving) otherwise."""

    def stop(self) -> None:
        """Stop the proxy gracefully (and its orphans, and keepalived first)."""

    def log_tail(self, lines: int = 40) -> str:
        """The end of the proxy's own logs, for error reports."""

    def rotate_logs(self, max_bytes: int, keep: int) -> list[str]:
        """Rotate the proxy's log files larger than ``max_bytes``; return the ones rotated."""
