"""A fleet: the model's proxies run on every node of a Docker Swarm that carries the fleet's node labels.

The controller (``ctlplane apply``) reaches the Swarm manager at ``manager.url`` (TLS files read only then:
``validate`` contacts nothing), publishes the release once and rolls it out canary first, then in waves, each
wave soaked against ``rollout.gate`` within ``rollout.deadline``. On each node an agent hot-reloads a plain
proxy container (docker runtime, network host), so the fleet refuses what a node cannot run on its own:
a proxy that is not a host-network container, one with its own config_dir (the agent keeps it on the node),
a keepalived pair, pools discovered from a node's Docker engine (membership would differ per node) and
static directories (container mounts are fixed when the container is created). :func:`fleet_problems` yields
those refusals, located like every cross-check of the root model. No fleet field reaches a proxy config.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, model_validator

from ctlplane.model.discover import LabelKey, LabelValue
from ctlplane.model.types import Duration, FilePath, Frozen, Name, shared_default

if TYPE_CHECKING:
    from ctlplane.model.root import CrossCheck, Model

FleetName = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9-]{0,22}[a-z0-9]$|^[a-z]$",
        description="The fleet's name: a lowercase letter, then letters, digits or '-' (at most 24; it prefixes "
        "the Swarm objects' names, which Swarm limits to 64 characters).",
        examples=["edge"],
    ),
]

_HOST = r"(?:(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?|\[[0-9a-f:.]{2,45}\])"
_URL = re.compile(rf"unix:///[A-Za-z0-9._/-]{{1,200}}|tcp://{_HOST}:(?P<tcp>[0-9]{{1,5}})"
                  rf"|ssh://[a-z_][a-z0-9_-]{{0,31}}@{_HOST}(?::(?P<ssh>[0-9]{{1,5}}))?")


def _check_url(value: str) -> str:
    match = _URL.fullmatch(value)
    if match is None:
        raise ValueError("must be unix:///path, tcp://host:port or ssh://user@host[:port]")
    port = match.group("tcp") or match.group("ssh")
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port} is not in 1-65535")
    if ".." in value.split("/"):
        raise ValueError("must not contain '..' segments")
    return value


ManagerUrl = Annotated[
    str,
    Field(
        pattern=r"^(unix|tcp|ssh)://[A-Za-z0-9._/:@\[\]_-]{1,300}$",
        description="The Swarm manager's engine API as the docker SDK names it: unix:///path (on a manager), "
        "tcp://host:port (with tls), ssh://user@host[:port].",
        examples=["tcp://10.0.0.2:2376", "ssh://ops@manager1", "unix:///var/run/docker.sock"],
    ),
    AfterValidator(_check_url),
]

ImageRef = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9._/-]{0,127}(:[A-Za-z0-9._-]{1,128})?(@sha256:[0-9a-f]{64})?$",
        description="A container image reference: repository, optional tag, optional @sha256 digest.",
        examples=["ctlplane-agent:latest", "registry.example.com/ctlplane-agent:1.4"],
    ),
]


class ManagerTls(Frozen):
    """Mutual TLS to the manager's engine API (read by the controller only, never sent to the nodes)."""

    ca: FilePath = Field(description="PEM CA bundle the manager's certificate must chain to.",
                         examples=["certs/ca.pem"])
    cert: FilePath = Field(description="PEM client certificate the manager accepts.", examples=["certs/client.pem"])
    key: FilePath = Field(description="PEM private key of the client certificate; must not be readable by everyone.",
                          examples=["certs/client.key"])


class Manager(Frozen):
    """Where the controller reaches the Swarm: the engine API of a manager node."""

    url: ManagerUrl = Field(description="The manager's engine API endpoint.")
    tls: ManagerTls | None = Field(
        None, description="Client TLS, required for tcp:// (unix:// and ssh:// carry their own protection).",
        examples=[{"ca": "certs/ca.pem", "cert": "certs/client.pem", "key": "certs/client.key"}])
    allow_plain_tcp: bool = Field(
        False, description="Allow tcp:// without TLS (anyone on the network could run containers as root on "
        "the manager): only for a private test network; the controller warns.")


class NodeSelector(Frozen):
    """Which Swarm nodes belong to the fleet: those carrying every label (docker node update --label-add)."""

    labels: dict[LabelKey, LabelValue] = Field(
        min_length=1, max_length=16,
        description="Node labels a node must carry, each with this value, to run the fleet's proxies. Removing a "
        "label from a node retires its proxy; adding it back restores it.",
        examples=[{"ctlplane.fleet": "edge"}])


class Gate(Frozen):
    """What a node must show during its soak, compared with before its apply."""

    max_5xx_increase: float = Field(
        0.01, ge=0.0, le=1.0,
        description="Largest rise of the share of 5xx answers in the proxy's access log since the apply over the "
        "share before it (0.01: one point of percentage).", examples=[0.01, 0])
    pools_healthy: bool = Field(
        True, description="Every pool of the node's proxies must have a healthy server.", examples=[True])


class Rollout(Frozen):
    """How a release reaches the nodes: one canary wave, then waves of a size or a share of the nodes."""

    canary: int = Field(1, ge=1, le=1000, description="Nodes in the first wave (wave 0).", examples=[1])
    wave_size: int | None = Field(
        None, ge=1, le=10_000,
        description="Nodes per later wave (at most one of wave_size and wave_share; neither: 1).", examples=[2])
    wave_share: float | None = Field(
        None, gt=0.0, le=1.0,
        description="Share of the fleet's nodes per later wave, rounded up, at least one node.", examples=[0.5])
    soak: Duration = Field(
        30_000, description="How long each wave is watched against the gate after every node of it applied.",
        examples=["30s"])
    deadline: Duration = Field(
        120_000, description="Apply plus soak of a wave must end within it, or the rollout halts and rolls back.",
        examples=["2m"])
    gate: Gate = Field(default_factory=shared_default(Gate), description="What a soaking node must show.",
                       examples=[{"max_5xx_increase": 0.01, "pools_healthy": True}])

    @model_validator(mode="after")
    def _one_wave_rule(self) -> Rollout:
        if self.wave_size is not None and self.wave_share is not None:
            raise ValueError("set wave_size or wave_share, not both")
        return self


class Fleet(Frozen):
    """The model's proxies run on every labelled node of a Docker Swarm, rolled out canary first, then in waves."""

    name: FleetName = Field(description="The fleet's name (Swarm objects are named ctl-<name>-...).")
    manager: Manager = Field(description="The Swarm manager the controller talks to.",
                             examples=[{"url": "tcp://10.0.0.2:2376",
                                        "tls": {"ca": "certs/ca.pem", "cert": "certs/client.pem",
                                                "key": "certs/client.key"}}])
    nodes: NodeSelector = Field(description="Which nodes run the fleet.",
                                examples=[{"labels": {"ctlplane.fleet": "edge"}}])
    proxies: list[Name] = Field(
        min_length=1, description="Proxies of the model that run on every node (docker runtime, network host).",
        examples=[["edge"]])
    agent_image: ImageRef = Field(
        "ctlplane-agent:latest", description="The image of the per-node agent (ctlplane with the docker SDK).")
    rollout: Rollout = Field(default_factory=shared_default(Rollout),
                             description="Canary, waves, soak, deadline and gate.",
                             examples=[{"canary": 1, "wave_size": 2, "soak": "30s", "deadline": "2m"}])


def fleet_problems(model: Model) -> Iterator[CrossCheck]:
    """The located refusals of a fleet: what one node cannot run on its own."""
    from ctlplane.model.root import CrossCheck
    from ctlplane.model.routing import service_pools

    fleet = model.fleet
    if fleet is None:
        return
    manager = fleet.manager
    if manager.url.startswith("tcp://") and manager.tls is None and not manager.allow_plain_tcp:
        yield CrossCheck(("fleet", "manager", "url"), "a tcp:// manager needs tls (ca, cert, key): anyone who "
                         "reaches a plain engine API runs containers as root; use tls, or ssh://")
    if manager.tls is not None and not manager.url.startswith("tcp://"):
        yield CrossCheck(("fleet", "manager", "tls"), "tls applies to a tcp:// manager only: remove it, or use "
                         "tcp://host:port")
    if fleet.rollout.soak >= fleet.rollout.deadline:
        yield CrossCheck(("fleet", "rollout", "soak"), "the soak must end before the wave's deadline: use a "
                         "shorter soak or a longer deadline")
    proxies = {p.name: (i, p) for i, p in enumerate(model.proxies)}
    paired = {n.proxy for pair in model.pairs for n in pair.nodes}
    services = {s.name: k for k, s in enumerate(model.services)}
    pools = {p.name: i for i, p in enumerate(model.pools)}
    seen: set[tuple[str, int]] = set()
    if len(set(fleet.proxies)) != len(fleet.proxies):
        yield CrossCheck(("fleet", "proxies"), "a proxy is listed twice")
    for j, name in enumerate(fleet.proxies):
        if name not in proxies:
            yield CrossCheck(("fleet", "proxies", j), f"unknown proxy {name!r}")
            continue
        i, proxy = proxies[name]
        runtime = proxy.runtime
        if runtime.kind != "docker" or runtime.network != "host":
            yield CrossCheck(("proxies", i, "runtime"), f"proxy {name!r} runs in fleet {fleet.name!r}, whose agents "
                             "hot-reload a container on each node's own network: use runtime kind docker with "
                             "network: host")
        elif runtime.config_dir is not None:
            yield CrossCheck(("proxies", i, "runtime", "config_dir"), f"proxy {name!r} runs in fleet "
                             f"{fleet.name!r}, whose agent keeps the proxy's state on each node: remove config_dir")
        if name in paired:
            yield CrossCheck(("fleet", "proxies", j), f"proxy {name!r} is a member of a keepalived pair, which a "
                             "fleet does not run on its nodes (not yet): remove it from the pair or from the fleet")
        for svc_name in proxy.services:
            if svc_name not in services:
                continue
            k = services[svc_name]
            svc = model.services[k]
            if getattr(svc, "static", None) and ("services", k) not in seen:
                seen.add(("services", k))
                yield CrossCheck(("services", k, "static"), f"service {svc_name!r} serves static directories and "
                                 f"runs in fleet {fleet.name!r}, whose releases carry files, not directories: "
                                 "remove static, or put the files behind a pool of file servers")
            for pool_name in service_pools(svc):
                pool = model.pools[pools[pool_name]] if pool_name in pools else None
                if pool is not None and pool.discover is not None and ("pools", pools[pool_name]) not in seen:
                    seen.add(("pools", pools[pool_name]))
                    yield CrossCheck(("pools", pools[pool_name], "discover"), f"pool {pool_name!r} discovers its "
                                     f"members from a Docker engine and runs in fleet {fleet.name!r}, where each "
                                     "node's engine would see other members (not yet): list its servers instead")
