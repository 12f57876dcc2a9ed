"""What the Docker engine says about one container, as plain data.

:func:`listed_container` reads one entry of the container list (``GET
/containers/json``, the only call discovery needs: unlike the inspect document
it carries no environment, so a socket proxy need not expose containers'
secrets) and keeps what discovery uses: id, name, labels, whether it runs, its
health (the list shows it only in ``Status``: ``Up 3 seconds (healthy)``,
``(unhealthy)``, ``(health: starting)``) and the address on each network.
:func:`container_info` reads an inspect document the same way. Nothing here is
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


def _networks(settings: Mapping[str, Any]) -> dict[str, str]:
    networks: dict[str, str] = {}
    for name, raw in mapping(settings.get("Networks")).items():
        endpoint = mapping(raw)
        networks[str(name)] = _text(endpoint.get("IPAddress")) or _text(endpoint.get("GlobalIPv6Address"))
    return networks


def _health_of_status(status: str) -> str | None:
    """The health shown at the end of a list entry's ``Status`` (None: the container has no healthcheck)."""
    if status.endswith("(healthy)"):
        return "healthy"
    if status.endswith("(unhealthy)"):
        return "unhealthy"
    if status.endswith("(health: starting)"):
        return "starting"
    return None


def listed_container(entry: Mapping[str, Any]) -> ContainerInfo:
    """One entry of ``GET /containers/json`` as :class:`ContainerInfo`."""
    names = entry.get("Names") if isinstance(entry.get("Names"), list) else []
    status = _text(entry.get("Status"))
    return ContainerInfo(
        id=_text(entry.get("Id")),
        name=_text(names[0]).removeprefix("/") if names else "",
        labels={str(k): _text(v) for k, v in mapping(entry.get("Labels")).items()},
        networks=_networks(mapping(entry.get("NetworkSettings"))),
        running=entry.get("State") == "running",
        health=_health_of_status(status),
    )


def container_info(attrs: Mapping[str, Any]) -> ContainerInfo:
    """The inspect document of a container as :class:`ContainerInfo`."""
    config, state = mapping(attrs.get("Config")), mapping(attrs.get("State"))
    labels = {str(k): _text(v) for k, v in mapping(config.get("Labels")).items()}
    networks = _networks(mapping(attrs.get("NetworkSettings")))
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
