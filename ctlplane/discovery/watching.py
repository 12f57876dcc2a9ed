"""The Docker side of ``ctlplane watch``: one source shared by the applies and the event follower.

:class:`DockerEvents` is the watch loop's ``events``: before each apply it
reads the model and follows the engine's events only while some pool
discovers members (with the selectors and the containers last listed as its
:class:`~ctlplane.discovery.follow.Interest`). Its ``source`` is what the
applies list containers from, so the drain of a stopping container (seen in
the event stream) reaches the next rendering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ctlplane.discovery import Source, discovers
from ctlplane.discovery.docker import DockerSource
from ctlplane.discovery.follow import EventStream, Follower, Interest
from ctlplane.errors import CtlplaneError
from ctlplane.model.root import Model

if TYPE_CHECKING:
    from ctlplane.watch_loop import Poke


def interest_of(model: Model, known: frozenset[str]) -> Interest:
    docker = [p.discover.docker for p in model.pools if p.discover is not None]
    return Interest(selectors=tuple(dict(d.labels) for d in docker), known=known)


class WatchedSource(Source, EventStream, Protocol):
    """A discovery source with an event stream (``DockerSource``, ``FakeDocker``)."""


class DockerEvents:
    """Follows Docker's events while the watched model discovers members."""

    def __init__(self, source: WatchedSource | None = None, **backoff: float) -> None:
        self.source: WatchedSource = source if source is not None else DockerSource()
        self.backoff = backoff
        self.follower: Follower | None = None

    def refresh(self, model_path: str, poke: Poke) -> None:
        from ctlplane.model.load import load_file

        try:
            model = load_file(model_path).model
        except CtlplaneError:
            return  # the apply reports it; keep following what the last good model asked for
        if not discovers(model):
            self.stop()
            return
        interest = interest_of(model, self.source.known())
        if self.follower is None:
            self.follower = Follower(self.source, poke, **self.backoff)
            self.follower.interest = interest
            self.follower.start()
        self.follower.interest = interest

    def stop(self) -> None:
        follower, self.follower = self.follower, None
        if follower is not None:
            follower.stop()
