"""Following the Docker engine's event stream for ``ctlplane watch``.

:func:`classify` (pure) says whether one event matters: a container event
(start, die, stop, kill, pause, unpause, destroy, rename, health_status) of a
container carrying some discovered pool's selector labels, or a network
connect/disconnect of a selected container the last listing found running
(network events carry no labels; a container being started is connected
before its ``start`` event, and an apply at the connect would list it not yet
running and need a second one). It also says when a container received its
stop signal (it is then drained while it shuts down) and when it died: the
engine's list still shows a container ``running`` at its ``die`` and ``network
disconnect`` events (Docker 20.10, measured) and a crashed one gets no
``stop``, so the source leaves a container that died out of its listings until
it starts again. :class:`Follower` runs the stream on a thread
and pokes the watch loop, whose debouncer turns a burst into one apply that
lists the containers again (events only say *that* something changed, the
listing says *what is*). When the stream ends or fails (the engine restarted,
a socket proxy went away) it reconnects with exponential backoff, resumes
from the last event's time (``since``), and pokes the loop once connected
again, so whatever happened meanwhile is listed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from ctlplane.discovery.containers import mapping
from ctlplane.discovery.members import shown

if TYPE_CHECKING:
    from ctlplane.watch_loop import Poke

CONTAINER_ACTIONS = {"start", "die", "stop", "kill", "pause", "unpause", "destroy", "rename", "health_status"}
JOINING = {"start", "unpause", "health_status: healthy", "connect"}  # actions that can only add a member
STOP_SIGNALS = {"2", "3", "9", "15", "SIGINT", "SIGQUIT", "SIGKILL", "SIGTERM"}
BACKOFF_FIRST = 0.25  # seconds before the first reconnection attempt
BACKOFF_MAX = 5.0


@dataclass(frozen=True)
class Interest:
    """What events matter: the discovered pools' selectors and networks, and containers seen as members."""

    selectors: tuple[Mapping[str, str], ...] = ()
    known: frozenset[str] = field(default_factory=frozenset)  # ids of the selected running containers last listed


@dataclass(frozen=True)
class Verdict:
    reason: str | None = None  # why the loop should apply (None: the event does not matter)
    stopping: tuple[str, bool] | None = None  # (container id, whether it is stopping now)
    died: tuple[str, bool] | None = None  # (container id, whether it died: True at die, False at start/destroy)
    joining: bool = False  # it can only add a member: the watch loop may wait for a scale-up to settle


def classify(event: Mapping[str, Any], interest: Interest) -> Verdict:
    """Whether ``event`` (as the engine sent it, untrusted) matters for the discovered pools."""
    actor = mapping(event.get("Actor"))
    attrs = mapping(actor.get("Attributes"))
    action = str(event.get("Action") or event.get("status") or "")
    verb = action.split(":", 1)[0].strip()
    kind = event.get("Type")
    if kind == "network" and verb in ("connect", "disconnect"):
        container = str(attrs.get("container") or "")
        if container in interest.known:
            return Verdict(f"docker: network {shown(str(attrs.get('name') or ''))} {verb} {container[:12]}",
                           joining=verb in JOINING)
        return Verdict()  # not selected, or starting (its start event follows: listing now would find it not running)
    if kind != "container" or verb not in CONTAINER_ACTIONS:
        return Verdict()
    cid = str(actor.get("ID") or event.get("id") or "")
    selected = any(all(attrs.get(k) == v for k, v in s.items()) for s in interest.selectors)
    if not selected and cid not in interest.known:
        return Verdict()
    stopping = died = None
    if verb == "kill":
        if str(attrs.get("signal") or "") not in STOP_SIGNALS:
            return Verdict()  # e.g. SIGHUP: the container reloads, it does not leave
        stopping = (cid, True)
    elif verb in ("start", "die", "destroy"):
        stopping, died = (cid, False), (cid, verb == "die")
    return Verdict(f"docker: {shown(str(attrs.get('name') or cid[:12]))} {action[:40]}", stopping, died,
                   joining=action.strip() in JOINING)


class EventStream(Protocol):
    """What a Follower reads events from (``DockerSource``, or the fake)."""

    def events(self, since: int | None) -> Any: ...

    def known(self) -> frozenset[str]: ...

    def forget_client(self) -> None: ...

    def mark_stopping(self, container_id: str, stopping: bool) -> None: ...

    def mark_died(self, container_id: str, died: bool) -> None: ...


class Follower:
    """Follows ``source``'s events on a daemon thread and calls ``notify(reason, joining)`` for those that
    matter."""

    def __init__(self, source: EventStream, notify: Poke, *, backoff_first: float = BACKOFF_FIRST,
                 backoff_max: float = BACKOFF_MAX) -> None:
        self.source, self.notify = source, notify
        self.backoff_first, self.backoff_max = backoff_first, backoff_max
        self.interest = Interest()  # replaced whole by the watch loop; read without a lock
        self.connects = 0  # successful subscriptions (the first one included)
        self.failures: list[str] = []  # the last few reasons the stream ended
        self._stop = threading.Event()
        self._stream: Any = None
        self._thread = threading.Thread(target=self._run, name="ctlplane-docker-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None and hasattr(stream, "close"):
            try:
                stream.close()  # unblocks the read on the follower thread
            except Exception:  # noqa: BLE001, S110 - already closed
                pass
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        delay, since = self.backoff_first, None
        while not self._stop.is_set():
            try:
                self._stream = self.source.events(since)
                self.connects += 1
                if self.connects > 1:
                    self.notify("docker: reconnected to the engine")
                delay = self.backoff_first
                for event in self._stream:
                    if self._stop.is_set():
                        break
                    if isinstance(event, dict) and isinstance(event.get("time"), int):
                        since = event["time"]
                    self._handle(event)
                reason = "the event stream ended"
            except Exception as exc:  # noqa: BLE001 - the engine went away: reconnect with backoff
                reason = f"{type(exc).__name__}: {exc}"[:200]
            if self._stop.is_set():
                break
            self.failures = [*self.failures[-4:], reason]
            self.source.forget_client()
            self._stop.wait(delay)
            delay = min(delay * 2, self.backoff_max)

    def _handle(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        interest = self.interest  # with the containers found by listings since the loop last set it
        verdict = classify(event, replace(interest, known=interest.known | self.source.known()))
        if verdict.stopping is not None:
            self.source.mark_stopping(*verdict.stopping)
        if verdict.died is not None:
            self.source.mark_died(*verdict.died)
        if verdict.reason is not None:
            self.notify(verdict.reason, joining=verdict.joining)
