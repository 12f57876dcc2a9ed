"""Pool members discovered from Docker: the only part of a model that comes from outside its file.

``containers`` turns what the Docker engine says about a container into plain
data (:class:`~ctlplane.discovery.containers.ContainerInfo`); ``members``
decides, purely, which containers join which discovered pool and refuses
hostile or incomplete labels with a located reason (:func:`resolve` gives a
:class:`~ctlplane.discovery.members.Snapshot`); ``expand`` puts a snapshot's
members into the model as ordinary servers, so rendering stays a pure function
of (model, assets) and validation, golden files and plans work on a snapshot.
``docker`` is the one place that talks to a Docker engine (the SDK, any
DOCKER_HOST), ``follow`` follows its event stream for ``watch``, and ``fake``
stands in for an engine in tests.
"""

from __future__ import annotations

from typing import Protocol

from ctlplane.discovery.containers import ContainerInfo
from ctlplane.model.root import Model


class Source(Protocol):
    """Where containers are listed from: a Docker engine, or a fake one."""

    def containers(self, selectors: list[dict[str, str]]) -> list[ContainerInfo]:
        """The running containers carrying every label of at least one selector; raise DriverError when the
        engine cannot be asked (never an empty list instead)."""

    def stopping(self) -> frozenset[str]:
        """Ids of containers that received their stop signal and are shutting down (joined drained)."""


def selectors(model: Model) -> list[dict[str, str]]:
    """The label selectors of the model's discovered pools (distinct, in model order)."""
    found: list[dict[str, str]] = []
    for pool in model.pools:
        if pool.discover is not None and dict(pool.discover.docker.labels) not in found:
            found.append(dict(pool.discover.docker.labels))
    return found


def discovers(model: Model) -> bool:
    return any(pool.discover is not None for pool in model.pools)
