"""Where a pool's members come from when they are not written in the model:
Docker containers selected by labels in ctlplane's own ``ctlplane.*`` label
namespace.

The model keeps deciding everything else (services, routes, policies): a
container only supplies an address, a port and three per-member settings
(``ctlplane.port``, ``ctlplane.weight``, ``ctlplane.backup``,
``ctlplane.drain``), read and checked by ``ctlplane.discovery``. The selector
may not use those member keys, so a member setting can never decide which pool
a container joins.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from ctlplane.model.types import Frozen, Port

MEMBER_LABELS = ("ctlplane.port", "ctlplane.weight", "ctlplane.backup", "ctlplane.drain")

LabelKey = Annotated[
    str,
    Field(
        pattern=r"^ctlplane\.[a-z0-9][a-z0-9_.-]{0,62}$",
        description="A Docker label key in ctlplane's namespace: 'ctlplane.' then lowercase letters, digits, "
        "'_', '.' or '-'.",
        examples=["ctlplane.pool"],
    ),
]

LabelValue = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        description="A label value to match exactly: letters, digits, '_', '.' or '-' (starts alphanumeric).",
        examples=["web"],
    ),
]

DockerNetwork = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="A Docker network name.",
        examples=["app-net"],
    ),
]


class DockerDiscovery(Frozen):
    """Running containers whose labels match ``labels`` join the pool (the engine is DOCKER_HOST's)."""

    labels: dict[LabelKey, LabelValue] = Field(
        min_length=1, max_length=16,
        description="Label selector: a container joins when it carries every one of these labels with these "
        "values. Keys are in the ctlplane.* namespace; the member labels (ctlplane.port, ctlplane.weight, "
        "ctlplane.backup, ctlplane.drain) cannot select.",
        examples=[{"ctlplane.pool": "web"}],
    )
    network: DockerNetwork | None = Field(
        None, description="The network members are reached on. Required in practice when a container is on several: "
        "such a container is then reported and left out, never guessed.",
    )
    port: Port | None = Field(
        None, description="The members' port unless a container's ctlplane.port label sets its own (a container "
        "with neither is reported and left out).",
    )

    @field_validator("labels")
    @classmethod
    def _not_member_keys(cls, labels: dict[str, str]) -> dict[str, str]:
        used = sorted(set(labels) & set(MEMBER_LABELS))
        if used:
            raise ValueError(f"{', '.join(used)} is a member label, not a selector: use e.g. ctlplane.pool")
        return labels


class Discover(Frozen):
    """Members the pool takes from outside the model, beside its static servers."""

    docker: DockerDiscovery = Field(description="Docker containers selected by their labels.")
