"""What the Docker engine says about one container, as plain data.

:func:`container_info` reads a container's inspect document (``GET
/containers/<id>/json``) and keeps only what discovery uses: id, name,
labels, state, health and the address on each network. Nothing here is
trusted or checked: every value is untrusted input, judged later by
``members``. A malformed document gives empty fields, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ContainerInfo:
    """One container as the engine describes it (untrusted strings)."""

    id: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    networks: Mapping[str, str] = field(default_factory=dict)  # network name -> IPv4 (or IPv6) address, "" if none
    running: bool = True
    health: str | None = None  # "healthy", "unhealthy", "starting"; None: the container has no healthcheck

    @property
    def short_id(self) -> str:
        return self.id[:12]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one (untrusted documents may hold anything)."""
    return value if isinstance(value, dict) else {}


def container_info(attrs: Mapping[str, Any]) -> ContainerInfo:
    """The inspect document of a container as :class:`ContainerInfo`."""
    config, state = mapping(attrs.get("Config")), mapping(attrs.get("State"))
    labels = {str(k): _text(v) for k, v in mapping(config.get("Labels")).items()}
    networks: dict[str, str] = {}
    for name, raw in mapping(mapping(attrs.get("NetworkSettings")).get("Networks")).items():
        endpoint = mapping(raw)
        networks[str(name)] = _text(endpoint.get("IPAddress")) or _text(endpoint.get("GlobalIPv6Address"))
    health = mapping(state.get("Health")) if "Health" in state else None
    running = state.get("Running") is True and state.get("Paused") is not True and state.get("Restarting") is not True
    return ContainerInfo(
        id=_text(attrs.get("Id")),
        name=_text(attrs.get("Name")).removeprefix("/"),
        labels=labels,
        networks=networks,
        running=running,
        health=_text(health.get("Status")) if health is not None else None,
    )
