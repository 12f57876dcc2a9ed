"""Labelled echo backends for the discovery tests, and a watch loop that follows Docker's events.

``Members(lab, "fill")`` starts echo containers on the lab network carrying
``ctlplane.pool=<run id>-fill`` (unique per run and test, so a concurrent run's
containers never match) plus the run's cleanup labels; ``members.pool()`` is the
model pool that discovers them. A member can stop gracefully (``grace``: it
keeps serving that long after SIGTERM, like an application finishing its
work), carry a Docker healthcheck, sit on more networks, or carry any labels.
``DockerWatching`` runs ``ctlplane watch``'s loop with the Docker event
follower, as the CLI does.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from ctlplane.discovery.watching import DockerEvents
from integration.harness.containers import HTTP_PORT
from integration.harness.lab import Lab
from integration.harness.wait import wait_until
from integration.harness.watching import Watching

_SEQ = itertools.count(1)
ECHO = "python3 /opt/ctlplane/echo.py --name {name} --http-port 8080"
# SIGTERM: keep serving for GRACE seconds, then stop the echo backend (a graceful application shutdown)
GRACEFUL = "{echo} & pid=$!; trap 'sleep {grace}; kill -TERM $pid' TERM; wait $pid; wait $pid"


@dataclass
class Member:
    name: str
    container: Any

    def ip(self, network: str) -> str:
        self.container.reload()
        return str(self.container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"])


@dataclass
class Members:
    lab: Lab
    tag: str  # unique within the run: the selector is ctlplane.pool=<run id>-<tag>
    pool_name: str = "web"
    started: list[Member] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tag = f"{self.tag}{next(_SEQ)}"  # one selector per Members: a test never sees another's containers

    @property
    def selector(self) -> dict[str, str]:
        return {"ctlplane.pool": f"{self.lab.session.run_id}-{self.tag}"}

    def remove(self) -> None:
        for member in self.started:
            self.lab.session.remove_container(member.container)

    def pool(self, **fields: Any) -> dict[str, Any]:
        """The model pool that discovers these members on the lab network (port 8080 by default)."""
        docker = {"labels": self.selector, "network": self.lab.net.name, "port": HTTP_PORT, **fields.pop("docker", {})}
        return {"name": self.pool_name, "discover": {"docker": docker}, **fields}

    def create(self, *, grace: float = 0.0, labels: dict[str, str] | None = None,
               healthcheck: dict[str, Any] | None = None, name: str | None = None, start: bool = True,
               restart: bool = False, client: Any = None) -> Member:
        session = self.lab.session
        name = name or session.name(self.lab.net.suffix[:6], f"{self.tag}-{len(self.started) + 1}")
        echo = ECHO.format(name=name)
        command = ["sh", "-c", GRACEFUL.format(echo=echo, grace=grace) if grace else f"exec {echo}"]
        extra: dict[str, Any] = {"healthcheck": healthcheck} if healthcheck else {}
        if restart:
            extra["restart_policy"] = {"Name": "always"}
        container = (client or session.client).containers.create(
            session.image, command, name=name, labels={**session.labels, **self.selector, **(labels or {})},
            network=self.lab.net.name, stop_signal="SIGTERM", **extra)
        member = Member(name, container)
        self.started.append(member)
        if start:
            self.start(member)
        return member

    def start(self, member: Member) -> None:
        member.container.start()
        wait_until(lambda: b"READY" in member.container.logs(), timeout=15, what=f"member {member.name} READY")


def healthcheck(command: str, interval_ms: int = 300) -> dict[str, Any]:
    """A Docker healthcheck running ``command`` in the container (one failure marks it unhealthy; a check may take
    5 s on a busy machine before it counts as failed)."""
    return {"test": ["CMD-SHELL", command], "interval": interval_ms * 1_000_000, "timeout": 5_000_000_000,
            "retries": 1, "start_period": 0}


class DockerWatching(Watching):
    """``ctlplane watch`` as the CLI runs it: the model's files and Docker's events."""

    def _run(self) -> None:
        from ctlplane.apply import apply_model
        from ctlplane.watch_loop import run_watch


        events = DockerEvents()
        try:
            run_watch(str(self.model_path), stop=self._stop, events=events,
                      apply=lambda path: apply_model(path, discovery=events.source),
                      report=lambda cycle: self.cycles.append((time.monotonic(), cycle)))
        except BaseException as exc:  # noqa: BLE001 - surfaced by wait_cycles/stop
            self.crashed.append(exc)

    def applied(self) -> list[Any]:
        """Every cycle after the first (the apply at start)."""
        return [c for _, c in self.cycles[1:]]
