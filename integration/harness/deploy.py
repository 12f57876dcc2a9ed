"""Deploying proxies from a model with ctlplane's own apply, into a lab's network.

``deployer.deploy(engine, pools=[...], services=[...])`` writes a model
(JSON, which is YAML) into its own directory under the test's tmp dir with
one proxy ``lb`` of that engine on the docker runtime (image = the run's
image, network = the lab network, container named after the run), runs
``ctlplane.apply.apply_model`` (both validation stages; the state dir is
``.ctlplane/lb`` beside the model) and returns a :class:`Deployment`.
``deployment.update(...)`` re-applies a changed model (reload or runtime
API). ``deployer.apply_model(model)`` takes a whole model dict for several
proxies; ``deployer.runtime(name)`` gives the docker runtime block to use in it.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration.harness.lab import Lab

_SEQ = itertools.count(1)


@dataclass
class Deployment:
    """One deployed proxy: where it listens and how to look inside it."""

    deployer: Deployer
    proxy: str
    engine: str
    container_name: str
    model_path: Path
    model: dict[str, Any]
    results: list[Any] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.model_path.parent / ".ctlplane" / self.proxy

    @property
    def container(self) -> Any:
        return self.deployer.lab.session.client.containers.get(self.container_name)

    @property
    def ip(self) -> str:
        return self.deployer.lab.net.address_of(self.container)

    def target(self, port: int = 80) -> str:
        return f"{self.ip}:{port}"

    def update(self, **changes: Any) -> list[Any]:
        """Replace top-level model keys (``pools=...``, ``services=...``) and apply again."""
        self.model = {**self.model, **changes}
        self.results = self.deployer.apply_file(self.model_path, self.model)
        return self.results

    def rendered(self) -> dict[str, str]:
        config = self.state_dir / "config"
        if not config.is_dir():
            return {}
        return {p.relative_to(config).as_posix(): p.read_text(errors="replace")
                for p in sorted(config.rglob("*")) if p.is_file()}

    def logs(self, tail: int = 200) -> str:
        parts = []
        try:
            parts.append("container output:\n" + self.container.logs(tail=tail).decode("utf-8", "replace"))
        except Exception as exc:  # noqa: BLE001 - container never created or already gone
            parts.append(f"container output: unavailable ({exc})")
        for name in ("error.log", "haproxy.log", "keepalived.log"):  # the engines' output lands in the state dir
            log = self.state_dir / "logs" / name
            if log.exists():
                parts.append(f"logs/{name}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-tail:]))
        return "\n".join(parts)


class Deployer:
    """Deploys proxies for one test and removes their containers afterwards."""

    def __init__(self, lab: Lab, tmp_path: Path) -> None:
        self.lab = lab
        self.tmp_path = tmp_path
        self.deployments: list[Deployment] = []
        self.containers: list[str] = []

    def runtime(self, proxy: str = "lb") -> dict[str, Any]:
        """A docker runtime block for a new proxy container of this run."""
        session = self.lab.session
        name = session.name(f"{next(_SEQ):03d}", proxy.replace("_", "-"))[:40].rstrip("-")
        self.containers.append(name)
        return {"kind": "docker", "container": name, "image": session.image, "network": self.lab.net.name}

    def apply_file(self, path: Path, model: dict[str, Any]) -> list[Any]:
        from ctlplane.apply import apply_model

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(model, indent=2) + "\n")
        return apply_model(str(path))

    def apply_model(self, model: dict[str, Any], directory: str | None = None) -> list[Deployment]:
        """Apply a whole model (its proxies should use :meth:`runtime`); one Deployment per proxy."""
        path = self.tmp_path / (directory or f"model{len(self.deployments) + 1}") / "model.yaml"
        found = [Deployment(self, p["name"], p["engine"], p["runtime"]["container"], path, model)
                 for p in model["proxies"]]
        self.deployments.extend(found)
        results = self.apply_file(path, model)
        for deployment in found:
            deployment.results = results
        return found

    def deploy(self, engine: str, *, pools: list[dict[str, Any]], services: list[dict[str, Any]],
               **proxy_fields: Any) -> Deployment:
        """A model with one proxy ``lb`` of ``engine`` running every service; applied and serving."""
        proxy = {"name": "lb", "engine": engine, "runtime": self.runtime("lb"),
                 "services": [s["name"] for s in services], **proxy_fields}
        model = {"version": 1, "pools": pools, "services": services, "proxies": [proxy]}
        return self.apply_model(model)[0]

    def teardown(self) -> None:
        client = self.lab.session.client
        for name in self.containers:
            try:
                client.containers.get(name).remove(force=True)
            except Exception:  # noqa: BLE001, S110 - never created, or already gone
                pass
