"""Helpers of the agent tests: a fleet model directory, its release published as the parts and secrets a Swarm
service would mount, and agent settings pointing at them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ctlplane.fleet.agent import Settings
from ctlplane.fleet.bundle import build_bundle, split
from ctlplane.fleet.sources import release_sources
from ctlplane.model.assets import read_assets
from ctlplane.model.fleet import Gate
from ctlplane.model.load import load_file
from tests.helpers import example_certs


def fleet_model(port: int, backend: int, client_timeout: str = "30s", tls: bool = True) -> dict[str, Any]:
    service: dict[str, Any] = {"name": "web", "mode": "http", "listen": {"address": "127.0.0.1", "port": port},
                               "default_pool": "app", "timeouts": {"client": client_timeout}}
    if tls:
        service["tls"] = {"certificates": [{"cert": "certs/www.crt", "key": "certs/www.key"}]}
    return {
        "pools": [{"name": "app", "servers": [{"name": "a1", "address": "127.0.0.1", "port": backend}]}],
        "services": [service],
        "proxies": [{"name": "edge", "engine": "haproxy", "services": ["web"],
                     "runtime": {"kind": "docker", "container": "edge", "network": "host"}}],
        "fleet": {"name": "edge", "manager": {"url": "ssh://ops@manager1"},
                  "nodes": {"labels": {"ctlplane.fleet": "edge"}}, "proxies": ["edge"]},
    }


def publish(source: Path, out: Path, data: dict[str, Any]) -> str:
    """Write ``data`` as the model in ``source``, build its release and mount it the way Swarm would under
    ``out/<digest>/`` (parts, secrets); the digest."""
    example_certs(source / "certs")
    (source / "model.yaml").write_text(json.dumps(data, indent=1))
    loaded = load_file(source / "model.yaml")
    sources = release_sources(loaded, read_assets(loaded))
    bundle = build_bundle("edge", sources.model, sources.files, sources.keys)
    parts, secrets = out / bundle.digest / "parts", out / bundle.digest / "secrets"
    parts.mkdir(parents=True, exist_ok=True)
    secrets.mkdir(exist_ok=True)
    for part in split("edge", bundle.tar):
        (parts / f"part-{part.index}").write_bytes(part.data)
    for name, key in bundle.secrets.items():
        (secrets / name).write_bytes(key)
        (secrets / name).chmod(0o400)
    return bundle.digest


def settings(out: Path, root: Path, digest: str, soak_ms: int = 3000, gate: Gate | None = None) -> Settings:
    return Settings("edge", "node-1", digest, soak_ms, gate or Gate(), parts_dir=out / digest / "parts",
                    secrets_dir=out / digest / "secrets", root=root)
