"""An in-memory Swarm for tests: versions, scripted tasks, logs and a clock that never sleeps.

:class:`FakeSwarm` keeps nodes, configs, secrets and services like a manager does: every write bumps
one index (the service's new version), a write naming a stale version or a taken name raises
:class:`SwarmConflict`. A create, or an update that changes the task template (anything but labels)
or the generation, shuts the service's task down and starts a new one on the node its ``node.id==``
constraint names; what that task does is scripted per node (and optionally per release, optionally
for the next task only) as an :class:`Outcome`: healthy after some seconds, failed with a log line,
died without one (killed), never healthy. Task states and the agent's JSON log lines are derived
from the :class:`FakeClock`, whose ``sleep`` only advances time. A node set ``down`` freezes its
tasks where they were and its services' logs become unreachable. ``hook`` is called before every
operation with its name and object, so a test can "kill" a controller mid-way by raising from it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ctlplane.errors import DriverError, Finding
from ctlplane.fleet.swarm import Blob, Node, Service, ServiceSpec, SwarmConflict, Task


class FakeClock:
    """A clock whose ``sleep`` advances time at once."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)


@dataclass(frozen=True)
class Outcome:
    """What a node's agent task does: ``healthy`` (applied and soaked ``after_s`` after it started; its proxy
    then reports ``reports``, by default the task's release), ``failed`` (exits 1 after ``after_s``, logging
    ``reason``), ``complete`` (exits 0 after ``after_s``: a retiring task), ``died`` (killed after ``after_s``:
    exit 137, no line), ``never`` (stays starting). A retiring task (label ``ctlplane.retire=1``) completes after
    a second unless ``script(node, ..., "retire")`` says otherwise."""

    kind: str = "healthy"
    after_s: float = 2.0
    reason: str = "apply failed"
    reports: str | None = None


@dataclass
class _Task:
    id: str
    node_id: str
    created_at: float
    generation: int
    release: str
    lkg: str
    outcome: Outcome
    stopped_at: float | None = None


@dataclass
class _Service:
    id: str
    version: int
    spec: ServiceSpec
    tasks: list[_Task] = field(default_factory=list)


class FakeSwarm:
    """The :class:`~ctlplane.fleet.swarm.Swarm` seam in memory."""

    def __init__(self, clock: FakeClock | None = None, url: str = "unix:///fake/manager.sock") -> None:
        self.url = url
        self.clock = clock or FakeClock()
        self.node_map: dict[str, Node] = {}
        self.down_at: dict[str, float] = {}
        self.scripts: dict[tuple[str, str | None], Outcome] = {}
        self.once: dict[tuple[str, str | None], Outcome] = {}
        self.blobs: dict[tuple[str, str], tuple[Blob, bytes]] = {}
        self.svcs: dict[str, _Service] = {}
        self.hook: Callable[[str, str], None] | None = None
        self.calls: list[tuple[str, str]] = []
        self._index = itertools.count(10)

    # -- test controls -------------------------------------------------------------------------------
    def add_node(self, node_id: str, hostname: str, labels: Mapping[str, str] | None = None) -> Node:
        node = Node(node_id, hostname, dict(labels or {}), "ready", "active", f"10.9.0.{len(self.node_map) + 2}")
        self.node_map[node_id] = node
        return node

    def set_down(self, node_id: str, down: bool = True) -> None:
        """Take a node down (its tasks freeze, its logs are unreachable) or bring it back."""
        if down:
            self.down_at[node_id] = self.clock.now()
        else:
            frozen = self.clock.now() - self.down_at.pop(node_id)
            for svc in self.svcs.values():  # the frozen time does not count towards the tasks' progress
                for t in svc.tasks:
                    if t.node_id == node_id:
                        t.created_at += frozen
        self.node_map[node_id] = replace(self.node_map[node_id], state="down" if down else "ready")

    def set_labels(self, node_id: str, labels: Mapping[str, str]) -> None:
        self.node_map[node_id] = replace(self.node_map[node_id], labels=dict(labels))

    def script(self, node_id: str, outcome: Outcome, release: str | None = None, once: bool = False) -> None:
        """What the next agent tasks on ``node_id`` do (for ``release`` only, or for any; ``once``: the next
        such task only)."""
        (self.once if once else self.scripts)[(node_id, release)] = outcome

    def spec(self, name: str) -> ServiceSpec:
        return self.svcs[name].spec

    def data(self, kind: str, name: str) -> bytes:
        return self.blobs[(kind, name)][1]

    def _op(self, op: str, name: str) -> None:
        self.calls.append((op, name))
        if self.hook is not None:
            self.hook(op, name)

    # -- the seam ------------------------------------------------------------------------------------
    def nodes(self) -> list[Node]:
        self._op("nodes", "")
        return list(self.node_map.values())

    def _blob(self, kind: str, name: str) -> Blob | None:
        self._op(kind, name)
        found = self.blobs.get((kind, name))
        return found[0] if found else None

    def _create(self, kind: str, name: str, data: bytes, labels: Mapping[str, str]) -> Blob:
        self._op(f"create_{kind}", name)
        if (kind, name) in self.blobs:
            raise SwarmConflict(f"{kind} {name} exists", [Finding(f"{kind} {name}: name conflicts", path=self.url)])
        blob = Blob(f"{kind[:3]}{next(self._index)}", name, dict(labels))
        self.blobs[(kind, name)] = (blob, data)
        return blob

    def config(self, name: str) -> Blob | None:
        return self._blob("config", name)

    def configs(self, labels: Mapping[str, str]) -> list[Blob]:
        self._op("configs", "")
        return [b for (kind, _), (b, _) in self.blobs.items()
                if kind == "config" and all(b.labels.get(k) == v for k, v in labels.items())]

    def create_config(self, name: str, data: bytes, labels: Mapping[str, str]) -> Blob:
        return self._create("config", name, data, labels)

    def secret(self, name: str) -> Blob | None:
        return self._blob("secret", name)

    def create_secret(self, name: str, data: bytes, labels: Mapping[str, str]) -> Blob:
        return self._create("secret", name, data, labels)

    def secrets(self, labels: Mapping[str, str]) -> list[Blob]:
        self._op("secrets", "")
        return [b for (kind, _), (b, _) in self.blobs.items()
                if kind == "secret" and all(b.labels.get(k) == v for k, v in labels.items())]

    def _remove(self, kind: str, name: str) -> None:
        """As Swarm does: an object a service still references is refused, a missing one is no error."""
        self._op(f"remove_{kind}", name)
        users = [svc.spec.name for svc in self.svcs.values()
                 if any(ref.name == name for ref in (svc.spec.configs if kind == "config" else svc.spec.secrets))]
        if users:
            raise DriverError(f"{kind} {name} is in use", [Finding(f"{kind} {name} is in use by {users[0]}",
                                                                   path=self.url)])
        self.blobs.pop((kind, name), None)

    def remove_config(self, name: str) -> None:
        self._remove("config", name)

    def remove_secret(self, name: str) -> None:
        self._remove("secret", name)

    def _service(self, svc: _Service) -> Service:
        return Service(svc.id, svc.spec.name, svc.version, dict(svc.spec.labels), svc.spec.generation,
                       svc.spec.replicas)

    def service(self, name: str) -> Service | None:
        self._op("service", name)
        svc = self.svcs.get(name)
        return self._service(svc) if svc else None

    def services(self, labels: Mapping[str, str]) -> list[Service]:
        self._op("services", "")
        return [self._service(s) for s in self.svcs.values()
                if all(s.spec.labels.get(k) == v for k, v in labels.items())]

    def create_service(self, spec: ServiceSpec) -> Service:
        self._op("create_service", spec.name)
        if spec.name in self.svcs:
            raise SwarmConflict(f"service {spec.name} exists", [Finding("name conflicts", path=self.url)])
        self._check_refs(spec)
        svc = _Service(f"svc{next(self._index)}", next(self._index), spec)
        self.svcs[spec.name] = svc
        self._start(svc)
        return self._service(svc)

    def update_service(self, current: Service, spec: ServiceSpec) -> None:
        self._op("update_service", spec.name)
        svc = self.svcs.get(spec.name)
        if svc is None or svc.id != current.id:
            raise DriverError(f"service {spec.name} not found", [Finding("no such service", path=self.url)])
        if svc.version != current.version:
            raise SwarmConflict(f"service {spec.name}: update out of sequence",
                                [Finding(f"version {current.version} is stale ({svc.version})", path=self.url)])
        self._check_refs(spec)
        restart = replace(svc.spec, labels={}) != replace(spec, labels={})
        svc.spec, svc.version = spec, next(self._index)
        if restart:
            self._start(svc)

    def remove_service(self, name: str) -> None:
        self._op("remove_service", name)
        self.svcs.pop(name, None)

    def _check_refs(self, spec: ServiceSpec) -> None:
        for kind, refs in (("config", spec.configs), ("secret", spec.secrets)):
            for ref in refs:
                if (kind, ref.name) not in self.blobs:
                    raise DriverError(f"{kind} {ref.name} not found", [Finding("missing", path=self.url)])

    def _start(self, svc: _Service) -> None:
        now = self.clock.now()
        for t in svc.tasks:
            t.stopped_at = now if t.stopped_at is None else t.stopped_at
        if svc.spec.replicas < 1:
            return
        node = next((c.split("==", 1)[1] for c in svc.spec.constraints if c.startswith("node.id==")), "")
        release = svc.spec.env.get("CTLPLANE_RELEASE", "")
        if svc.spec.labels.get("ctlplane.retire") == "1":  # the task that stops a leaving node's proxies
            outcome = self.scripts.get((node, "retire")) or Outcome("complete", after_s=1.0)
        else:
            once = next((self.once.pop(k) for k in ((node, release), (node, None)) if k in self.once), None)
            outcome = once or self.scripts.get((node, release)) or self.scripts.get((node, None)) or Outcome()
        svc.tasks.append(_Task(f"task{next(self._index)}", node, now, svc.spec.generation, release,
                               svc.spec.labels.get("ctlplane.lkg", ""), outcome))

    def _state(self, t: _Task) -> tuple[str, str]:
        """A task's state and error now (a down node's tasks stay as they were when it went down)."""
        now = self.down_at.get(t.node_id, self.clock.now())
        if t.node_id in self.down_at and t.created_at > self.down_at[t.node_id]:
            return "pending", "no suitable node"
        done = t.created_at + t.outcome.after_s
        if t.outcome.kind in ("failed", "died") and now >= done and (t.stopped_at is None or t.stopped_at >= done):
            return "failed", f"task: non-zero exit ({1 if t.outcome.kind == 'failed' else 137})"
        if t.outcome.kind == "complete" and now >= done and (t.stopped_at is None or t.stopped_at >= done):
            return "complete", ""
        if t.stopped_at is not None and now >= t.stopped_at:
            return "shutdown", ""
        if t.outcome.kind == "healthy" and now >= done:
            return "running", ""
        return "starting", ""

    def tasks(self, service: str) -> list[Task]:
        self._op("tasks", service)
        svc = self.svcs.get(service)
        out = []
        for t in svc.tasks if svc else []:
            state, error = self._state(t)
            out.append(Task(t.id, t.node_id, state, "running" if t.stopped_at is None else "shutdown", error,
                            t.created_at, t.created_at, t.generation, t.release))
        return out

    def service_logs(self, service: str, tail: int) -> list[str]:
        self._op("logs", service)
        svc = self.svcs.get(service)
        if svc is None:
            raise DriverError(f"service {service} not found", [Finding("no such service", path=self.url)])
        lines: list[tuple[float, str]] = []
        for t in svc.tasks:
            if t.node_id in self.down_at:
                raise DriverError(f"swarm manager {self.url}: reading the logs of {service} failed",
                                  [Finding("node unreachable", path=self.url, source="driver")])
            state, _ = self._state(t)
            at = t.created_at + t.outcome.after_s
            if state == "failed" and t.outcome.kind == "failed":
                lines.append((at, json.dumps({"event": "failed", "node": t.node_id, "release": t.release,
                                              "serving": t.lkg, "reason": t.outcome.reason})))
            elif t.outcome.kind == "healthy" and state in ("running", "shutdown") and self.clock.now() >= at \
                    and (t.stopped_at is None or t.stopped_at >= at):
                reports = t.outcome.reports or t.release
                lines.append((at, json.dumps({"event": "serving", "node": t.node_id, "release": t.release,
                                              "proxy_reports": {"edge": reports}})))
        return [line for _, line in sorted(lines)][-tail:]
