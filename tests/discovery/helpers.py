"""Containers and models for the discovery tests."""

from __future__ import annotations

from typing import Any

from ctlplane.discovery.containers import ContainerInfo
from ctlplane.model.load import Loaded, validate_data

NET = "app-net"


def container(name: str, ip: str = "10.1.0.5", pool: str = "web", *, cid: str | None = None,
              networks: dict[str, str] | None = None, health: str | None = None, running: bool = True,
              **labels: str) -> ContainerInfo:
    """A running container on ``app-net`` selected by ``ctlplane.pool=<pool>``; ``port="8081"`` sets
    ``ctlplane.port`` (any keyword becomes ``ctlplane.<keyword>``)."""
    tags = {"ctlplane.pool": pool, **{f"ctlplane.{k}": v for k, v in labels.items()}}
    return ContainerInfo(cid or (name.encode().hex() + "0" * 64)[:64], name, tags,
                         networks if networks is not None else {NET: ip}, running, health)


def model_data(engine: str = "haproxy", *, network: str | None = NET, port: int | None = 8080,
               static: list[dict[str, Any]] | None = None, pool: dict[str, Any] | None = None,
               tcp: bool = False) -> dict[str, Any]:
    docker: dict[str, Any] = {"labels": {"ctlplane.pool": "web"}}
    if network:
        docker["network"] = network
    if port:
        docker["port"] = port
    web = {"name": "web", "servers": static or [], "discover": {"docker": docker}, **(pool or {})}
    service: dict[str, Any] = ({"name": "front", "mode": "tcp", "listen": {"port": 5432}, "pool": "web"} if tcp else
                               {"name": "front", "mode": "http", "listen": {"port": 8080}, "default_pool": "web"})
    return {"version": 1, "pools": [web], "services": [service],
            "proxies": [{"name": "lb", "engine": engine, "services": ["front"]}]}


def loaded(data: dict[str, Any], file: str = "/tmp/model.yaml") -> Loaded:
    return Loaded(validate_data(data, {}, file), file, {})
