"""A Docker engine in memory, for tests: the discovery ``Source`` and event stream without Docker.

Tests add, change and remove :class:`ContainerInfo` records, push events (or
let :meth:`FakeDocker.start`/:meth:`FakeDocker.stop` push the ones the real
engine would), make the engine go away (``down``: listings raise DriverError,
open streams end) and come back, and count the listings and subscriptions.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from ctlplane.discovery.containers import ContainerInfo
from ctlplane.errors import DriverError, Finding

_END = object()


class FakeStream:
    """A closable blocking iterator over pushed events."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            item = self.queue.get()
            if item is _END:
                return
            yield item

    def close(self) -> None:
        self.queue.put(_END)


class FakeDocker:
    """Containers, events and outages of a pretend engine."""

    def __init__(self, containers: list[ContainerInfo] | None = None) -> None:
        self.lock = threading.Lock()
        self.items: dict[str, ContainerInfo] = {c.id: c for c in containers or []}
        self.up = True
        self.listings = 0
        self.listed: frozenset[str] = frozenset()
        self.subscriptions: list[int | None] = []  # the ``since`` of each subscription
        self.streams: list[FakeStream] = []
        self._stopping: set[str] = set()
        self._died: set[str] = set()
        self.clock = 1_000_000  # event times (epoch seconds)

    # ------------------------------------------------------------------ Source
    def containers(self, selectors: list[dict[str, str]]) -> list[ContainerInfo]:
        with self.lock:
            if not self.up:
                raise DriverError("docker: listing containers failed", [Finding("engine down", source="driver")])
            self.listings += 1
            found = [c for c in self.items.values() if c.running and c.id not in self._died
                     and any(all(c.labels.get(k) == v for k, v in s.items()) for s in selectors)]
            self._died &= {c.id for c in self.items.values() if c.running}
            self.listed = frozenset(c.id for c in found)
            return found

    def known(self) -> frozenset[str]:
        with self.lock:
            return self.listed

    def stopping(self) -> frozenset[str]:
        with self.lock:
            return frozenset(self._stopping)

    # ------------------------------------------------------------------ EventStream
    def events(self, since: int | None) -> FakeStream:
        with self.lock:
            if not self.up:
                raise DriverError("docker: following events failed", [Finding("engine down", source="driver")])
            self.subscriptions.append(since)
            stream = FakeStream()
            self.streams.append(stream)
            return stream

    def forget_client(self) -> None:
        """Nothing to forget: the fake has no connection."""

    def mark_stopping(self, container_id: str, stopping: bool) -> None:
        with self.lock:
            (self._stopping.add if stopping else self._stopping.discard)(container_id)

    def mark_died(self, container_id: str, died: bool) -> None:
        with self.lock:
            (self._died.add if died else self._died.discard)(container_id)

    # ------------------------------------------------------------------ what tests do
    def emit(self, kind: str, action: str, actor: str, attributes: dict[str, str]) -> None:
        with self.lock:
            self.clock += 1
            event = {"Type": kind, "Action": action, "Actor": {"ID": actor, "Attributes": dict(attributes)},
                     "time": self.clock}
            for stream in self.streams:
                stream.queue.put(event)

    def _container_event(self, container: ContainerInfo, action: str, **extra: str) -> None:
        self.emit("container", action, container.id, {**container.labels, "name": container.name, **extra})

    def start(self, container: ContainerInfo) -> None:
        with self.lock:
            self.items[container.id] = replace(container, running=True)
        self._container_event(container, "start")

    def stop(self, container_id: str) -> None:
        container = self.items[container_id]
        self._container_event(container, "kill", signal="15")
        with self.lock:
            self.items[container_id] = replace(container, running=False)
        self._container_event(container, "die", exitCode="0")

    def set_health(self, container_id: str, health: str) -> None:
        with self.lock:
            self.items[container_id] = container = replace(self.items[container_id], health=health)
        self._container_event(container, f"health_status: {health}")

    def go_down(self) -> None:
        with self.lock:
            self.up = False
            streams, self.streams = self.streams, []
        for stream in streams:
            stream.close()

    def come_back(self) -> None:
        with self.lock:
            self.up = True
