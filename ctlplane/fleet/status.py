"""A fleet's status per node, from Swarm's view joined with what each proxy itself reports.

:func:`gather` reads, through the Swarm seam only, the fleet's state record, the nodes, and
for every agent service its labels, tasks and the tail of its logs; :func:`fleet_status`
decides, purely, per node: its wave, the release it should serve (its agent service's
``ctlplane.release`` label), the release its proxy reports (from the agent's last
``{"event": "serving", ...}`` line) and one state. The fleet's target is the rollout's release
while it rolls or is idle, and its last-known-good while it rolls back or is halted. A node is
``in-sync`` only when its proxy reports exactly the target, which is also its desired release,
and its agent task runs (when the manager cannot stream the agent's logs, as after a partition
heals, the running task is the report: Swarm runs it only while its health check passes, which
needs the proxy's workers to report the release); ``stale`` when the node is not ready, or its
logs cannot be read and its task is not running healthy on its release;
``failed (rolled back to X: reason)`` when its agent's last line is a ``failed`` one or the
halted rollout names it; ``pending`` while its wave has not been reached; ``retiring`` while
the last task of a node that left the selector stops its proxies; else ``applying``. A rolling or
rolling-back record whose owner is gone (``gone``: its heartbeat is stale, or its pid no longer
runs on this host, see :func:`~ctlplane.fleet.state.owner_gone`) is shown ``interrupted`` with the
owner and why it is gone; the rows are decided as for the phase it was left in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ctlplane.errors import DriverError
from ctlplane.fleet.retire import L_RETIRE
from ctlplane.fleet.specs import L_FLEET, L_NODE, L_RELEASE, L_ROLE, L_WAVE
from ctlplane.fleet.state import ACTIVE, Record, read_record
from ctlplane.fleet.swarm import Node, Service, Swarm, Task, carries, current_task

LOG_TAIL = 50
STOPPED_BY_SWARM = ("shutdown", "orphaned", "remove")  # an agent task ended by the orchestrator, not by its agent


@dataclass(frozen=True)
class NodeData:
    """What the Swarm says of one node's agent (``logs`` None: they could not be read, ``logs_error`` why)."""

    node_id: str
    node: Node | None
    service: Service | None
    tasks: tuple[Task, ...]
    logs: tuple[str, ...] | None
    logs_error: str = ""


@dataclass(frozen=True)
class NodeStatus:
    """One row of a fleet's status."""

    node: str
    hostname: str
    wave: int | None
    desired: str
    reported: str
    state: str  # in-sync | applying | pending | stale | failed | retiring
    detail: str = ""


@dataclass(frozen=True)
class FleetStatus:
    """A fleet's rollout record and its nodes."""

    fleet: str
    phase: str
    target: str
    lkg: str
    reason: str
    owner: str
    nodes: tuple[NodeStatus, ...]

    @property
    def in_sync(self) -> bool:
        return bool(self.nodes) and all(n.state == "in-sync" for n in self.nodes)


def agent_events(lines: Sequence[str]) -> list[dict[str, object]]:
    """The ``serving`` and ``failed`` events among an agent's log lines, in order (other lines skipped)."""
    out = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") in ("serving", "failed"):
            out.append(event)
    return out


def reported_release(event: Mapping[str, object]) -> str:
    """The release a ``serving`` line's proxies report: one release when they all agree, else each named."""
    reports = event.get("proxy_reports")
    if not isinstance(reports, dict) or not reports:
        return ""
    values = {str(v) for v in reports.values()}
    if len(values) == 1:
        return values.pop()
    return "mixed: " + ", ".join(f"{k}={str(v)[:12]}" for k, v in sorted(reports.items()))


def target_of(record: Record) -> str:
    """The release every node should converge to now."""
    return record.target if record.phase in ("idle", "rolling") else record.lkg


def node_status(data: NodeData, record: Record, interrupted: bool = False) -> NodeStatus:
    """One node's row, decided from its data alone (pure)."""
    labels = data.service.labels if data.service else {}
    desired = labels.get(L_RELEASE, "")
    wave_label = labels.get(L_WAVE, "")
    wave = int(wave_label) if wave_label.lstrip("-").isdigit() else None
    hostname = data.node.hostname if data.node else data.node_id[:12]
    task = current_task(data.tasks, data.service.generation) if data.service else None
    target = target_of(record) or desired
    healthy = task is not None and task.state == "running" and task.release == desired
    events = agent_events(data.logs or ())
    said = [e for e in events if e.get("event") == "serving"]
    serving = [e for e in said if task is None or e.get("release") == task.release]  # this task's own lines
    reported = reported_release((serving or said)[-1]) if said else ""
    relayed = not serving and healthy  # no line of this task came (the manager's log stream can be incomplete or
    if relayed:  # fail after a partition): Swarm runs a task only while its health check passes, and that passes
        reported = desired  # only while its proxy's workers report the release: the proxy's own word, relayed

    def row(state: str, detail: str = "") -> NodeStatus:
        return NodeStatus(data.node_id, hostname, wave, desired, reported, state, detail)

    if data.node is None or data.node.state != "ready":
        return row("stale", f"node is {data.node.state if data.node else 'gone from the swarm'}")
    if labels.get(L_RETIRE) == "1":
        return row("retiring", "no longer matches the node selector: its last agent task stops its proxies")
    if data.logs is None and not healthy:
        return row("stale", f"its agent's logs cannot be read: {data.logs_error}")
    failed = [e for e in events if e.get("event") == "failed"]
    last = events[-1] if events else None
    if last is not None and last.get("event") == "failed" and task is not None and last.get("release") == task.release:
        return row("failed", f"rolled back to {str(last.get('serving', ''))[:16] or 'nothing'}: "
                             f"{last.get('reason', '')}")
    if record.phase == "halted" and record.failed == data.node_id:
        reason = str(failed[-1].get("reason", "")) if failed else record.reason
        return row("failed", f"rolled back to {record.lkg[:16] or 'nothing'}: {reason}")
    if data.service is None:
        return row("pending", "no agent service yet")
    if task is not None and task.state in STOPPED_BY_SWARM:
        return row("stale", f"its agent task was {task.state} by Swarm, not by a failed apply (the node was cut off "
                            "or drained): its proxy serves on, unwatched; ctlplane apply starts the agent again")
    if task is not None and task.terminal:
        return row("failed", f"agent task {task.state}: {task.error or 'no error given'}")
    if reported == desired == target and healthy:
        return row("in-sync", "" if not relayed else "by its health check (no log line of its agent came" +
                   (f": {data.logs_error})" if data.logs is None else ")"))
    if desired != target and record.phase == "rolling":
        return row("pending", "its wave was not reached before the rollout was interrupted" if interrupted else
                   "its wave has not been reached")
    return row("applying", f"agent task {task.state if task else 'not scheduled'}")


def fleet_status(fleet: str, record: Record, data: Sequence[NodeData], gone: str = "") -> FleetStatus:
    """The whole fleet's status (pure), nodes in wave order then by hostname; ``gone``: why the owner of an
    active record is gone ("" while it may be alive)."""
    interrupted = bool(gone) and record.phase in ACTIVE
    rows = sorted((node_status(d, record, interrupted) for d in data),
                  key=lambda r: (r.wave if r.wave is not None else 1 << 30, r.hostname, r.node))
    phase, reason = record.phase, record.reason
    if interrupted:
        what = (f"rolling out {record.target[:16]} (wave {record.wave})" if record.phase == "rolling" else
                f"rolling back to {record.lkg[:16] or 'nothing'}")
        phase = "interrupted"
        reason = (f"{what} when its apply (owner {record.owner}) stopped: {gone}; run the apply again: the same "
                  "release resumes, another one first finishes the rollback" + (f" ({reason})" if reason else ""))
    return FleetStatus(fleet, phase, record.target, record.lkg, reason, record.owner, tuple(rows))


def gather(swarm: Swarm, fleet: str, selector: Mapping[str, str] | None = None,
           gone: Callable[[Record], str] | None = None) -> FleetStatus:
    """Read the fleet through the seam: every node with an agent service, and every node ``selector`` picks;
    ``gone`` tells why a record's owner is gone."""
    record = read_record(swarm, fleet) or Record()
    nodes = {n.id: n for n in swarm.nodes()}
    services = {s.labels.get(L_NODE, ""): s for s in swarm.services({L_FLEET: fleet, L_ROLE: "agent"})}
    picked = {n.id for n in nodes.values() if selector and carries(n.labels, selector)}
    data = []
    for node_id in sorted(set(services) | picked):
        service = services.get(node_id)
        tasks: tuple[Task, ...] = ()
        logs: tuple[str, ...] | None = ()
        error = ""
        node = nodes.get(node_id)
        if service is not None and (node is None or node.state != "ready"):  # the manager would wait for the
            tasks, logs, error = tuple(swarm.tasks(service.name)), None, "its node is not ready"  # logs: not asked
        elif service is not None:
            tasks = tuple(swarm.tasks(service.name))
            try:
                logs = tuple(swarm.service_logs(service.name, LOG_TAIL))
            except DriverError as exc:
                logs, error = None, "; ".join(f.message for f in exc.findings) or exc.message
        data.append(NodeData(node_id, nodes.get(node_id), service, tasks, logs, error))
    return fleet_status(fleet, record, data, gone(record) if gone is not None and record.phase in ACTIVE else "")
