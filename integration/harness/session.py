"""The Docker side of an integration run: the engine, the image, and tracked cleanup.

Every container, network and volume a run creates carries the labels
``org.ctlplane.test-run=<run id>`` and ``org.ctlplane.test-pid=<pid>``; proxy
containers (created by ctlplane's driver, without those labels) are found
through the run's networks they are attached to. :meth:`DockerSession.cleanup`
removes all of it and runs from fixture finalizers, ``atexit`` and SIGTERM,
so a failing or interrupted run leaves nothing behind; resources of earlier
runs whose process is gone (killed with SIGKILL) are swept at the next start.
Only the Docker SDK is used, never the docker CLI.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from integration.harness.stale import alive

LABEL_RUN = "org.ctlplane.test-run"
LABEL_PID = "org.ctlplane.test-pid"
LABEL_HOST = "org.ctlplane.test-host"


class EngineUnavailable(RuntimeError):
    """No Docker engine answers (start it with ``bash .ci/start-docker.sh``)."""


def connect() -> Any:
    """A Docker SDK client, or EngineUnavailable."""
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
        return client
    except Exception as exc:  # noqa: BLE001 - SDK missing, socket missing, engine down
        raise EngineUnavailable(f"no Docker engine: {exc} (start it with: bash .ci/start-docker.sh)") from None


@dataclass
class DockerSession:
    """One integration run's Docker client, image and the resources it must remove."""

    client: Any
    image: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_RUN: self.run_id, LABEL_PID: str(os.getpid()), LABEL_HOST: socket.gethostname()}

    def name(self, *parts: object) -> str:
        """A Docker name owned by this run, e.g. ``ctlt-1a2b3c4d-lab``."""
        return "-".join(["ctlt", self.run_id, *(str(p) for p in parts)])

    def install_handlers(self) -> None:
        """Clean up at interpreter exit, and turn SIGTERM into Ctrl-C (pytest stops, finalizers run, then atexit)."""
        atexit.register(self.cleanup)
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            def on_term(signum: int, frame: object) -> None:
                raise KeyboardInterrupt(f"signal {signum}")

            try:
                signal.signal(signal.SIGTERM, on_term)
            except ValueError:  # not the main thread
                pass

    def _containers(self, filters: dict[str, str]) -> list[Any]:
        """Containers matching ``filters``; one removed meanwhile (e.g. by a parallel run's sweep) is skipped."""
        return list(self.client.containers.list(all=True, ignore_removed=True, filters=filters))

    def remove_container(self, container: Any) -> None:
        try:
            container.remove(force=True, v=True)
        except Exception:  # noqa: BLE001, S110 - already gone
            pass

    def remove_network(self, network: Any) -> None:
        """Remove a network and every container still attached to it (e.g. driver-created proxies)."""
        try:
            network.reload()
            for container in network.containers:
                self.remove_container(container)
            network.remove()
        except Exception:  # noqa: BLE001, S110 - already gone
            pass

    def _sweep(self, run_filter: str) -> None:
        for container in self._containers({"label": run_filter}):
            self.remove_container(container)
        for network in self.client.networks.list(filters={"label": run_filter}):
            self.remove_network(network)
        for volume in self.client.volumes.list(filters={"label": run_filter}):  # after the containers using them
            try:
                volume.remove(force=True)
            except Exception:  # noqa: BLE001, S110 - already gone
                pass

    def cleanup(self) -> None:
        """Remove every container, network and volume of this run (idempotent)."""
        try:
            self._sweep(f"{LABEL_RUN}={self.run_id}")
            for container in self._containers({"name": f"ctlt-{self.run_id}-"}):
                self.remove_container(container)
        except Exception:  # noqa: BLE001, S110 - the engine went away: nothing more to do
            pass

    def sweep_stale(self) -> list[str]:
        """Remove resources of earlier runs on this host whose process is dead; return their run ids."""
        stale: set[str] = set()
        here = socket.gethostname()
        objects = [*self._containers({"label": LABEL_RUN}),
                   *self.client.networks.list(filters={"label": LABEL_RUN}),
                   *self.client.volumes.list(filters={"label": LABEL_RUN})]
        for obj in objects:
            labels = obj.attrs.get("Labels") or obj.attrs.get("Config", {}).get("Labels") or {}
            pid = labels.get(LABEL_PID, "")
            if labels.get(LABEL_HOST) == here and pid.isdigit() and not alive(int(pid)):
                stale.add(labels[LABEL_RUN])
        for run in sorted(stale):
            self._sweep(f"{LABEL_RUN}={run}")
            for container in self._containers({"name": f"ctlt-{run}-"}):
                self.remove_container(container)
        return sorted(stale)

    def leftovers(self) -> list[str]:
        """Names of this run's containers, networks and volumes that still exist (should be empty after cleanup)."""
        mine = f"{LABEL_RUN}={self.run_id}"
        names = [c.name for c in self._containers({"name": f"ctlt-{self.run_id}-"})]
        names += [c.name for c in self._containers({"label": mine})]
        names += [n.name for n in self.client.networks.list(filters={"label": mine})]
        names += [v.name for v in self.client.volumes.list(filters={"label": mine})]
        return sorted(set(names))


def start_session(progress: Any = None) -> DockerSession:
    """Connect, make sure the image exists, sweep stale runs and install the cleanup handlers."""
    from integration.images.build import ensure_image

    client = connect()
    image = ensure_image(client, progress=progress)
    session = DockerSession(client, image)
    session.sweep_stale()
    session.install_handlers()
    return session
