"""The fleet controller: publish a release, roll it out wave by wave, halt and roll back, resume.

:class:`Controller` runs one ``apply`` of a fleet against the Swarm seam. It refuses while
another live controller owns the fleet's state record, publishes the release (content-
addressed, idempotent), claims the record (compare-and-swap), and, when a dead controller
left a rollback or another target behind, first returns every node to its last-known-good.
Then, canary first, it points each node's agent service of the wave at the target release
(a new generation, so only this attempt's tasks count) and waits until every task of the wave
runs (healthy: applied and soaked) within the wave deadline. An agent that died without its
verdict (killed, no ``failed`` line for its release) is started once more. A failed task, a missed deadline
or a node that is not ready halts: every node whose release differs from its last-known-good
is pointed back at it and waited for, and the record is left halted with the reason naming
the node. On success the nodes' last-known-good becomes the target, the agents of selected
nodes the manager cannot reach are pointed at it without waiting (deferred: Swarm hands them
the release when they return), agents of nodes that no longer match the selector are
retired (a last agent task stops their proxies, then the service is removed), and the record
goes idle. A re-run with the same target resumes (nodes already running it are left alone). The outcome is a
:class:`RolloutResult`; nothing is printed and no exit code chosen here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from ctlplane.drivers.procfs import pid_alive
from ctlplane.fleet.membership import Membership
from ctlplane.fleet.node_agents import NodeResult
from ctlplane.fleet.prune import prune_after_rollout
from ctlplane.fleet.publish import RolloutSpec, publish
from ctlplane.fleet.specs import L_FLEET, L_LKG, L_NODE, L_RELEASE, L_ROLE, Release, agent_name, with_labels
from ctlplane.fleet.state import ACTIVE, StateRecord, controller_id
from ctlplane.fleet.status import agent_events
from ctlplane.fleet.swarm import Clock, Service, ServiceSpec, Swarm, SystemClock, Task

LOG_TAIL = 50
__all__ = ["Controller", "NodeResult", "RolloutResult"]


@dataclass(frozen=True)
class RolloutResult:
    """How a rollout ended: ``phase`` idle (every wave serves the release) or halted (``reason`` names the node)."""

    fleet: str
    release: str
    phase: str
    reason: str
    nodes: tuple[NodeResult, ...]
    published: tuple[str, ...]
    took_over: str = ""  # the dead controller whose rollout this one finished or resumed
    pruned: tuple[str, ...] = ()  # configs and secrets of releases no node needs any more (``prune``)

    @property
    def ok(self) -> bool:
        return self.phase == "idle"


class Controller(Membership):
    """One rollout of ``spec`` through ``swarm``."""

    def __init__(self, swarm: Swarm, spec: RolloutSpec, clock: Clock | None = None, owner: str | None = None,
                 poll_s: float = 1.0, alive: Callable[[int], bool] = pid_alive) -> None:
        super().__init__(swarm, spec, clock or SystemClock(), poll_s)
        self.state = StateRecord(swarm, spec.fleet, spec.agent_image, owner or controller_id(), self.clock,
                                 stale_s=3 * spec.deadline_s, alive=alive)
        self.restarted: set[tuple[str, str]] = set()  # (node, release) whose dead agent was started again

    def run(self) -> RolloutResult:
        spec = self.spec
        previous = self.state.read()
        self.state.refuse_if_busy(previous)
        published = tuple(publish(self.swarm, spec))
        took_over = previous.owner if previous.phase in ACTIVE else ""
        self.hosts = {n.id: n for n in self.swarm.nodes()}
        if previous.phase == "rolling-back" or (previous.phase == "rolling" and previous.target != spec.release):
            self.state.claim(phase="rolling-back", reason=f"finishing the rollback left by {previous.owner}")
            self._rollback()
            self.state.write(phase="rolling", target=spec.release, wave=-1, reason="", failed="")
        else:
            self.state.claim(phase="rolling", target=spec.release, reason="", failed="")
        # Published again now that this controller owns the record: a rollout that finished between the first
        # publish and the claim may have pruned what was not yet any node's release.
        published += tuple(publish(self.swarm, spec))
        self._beat = self.clock.now()
        done: dict[str, NodeResult] = {}
        for i, wave in enumerate(spec.waves):
            self.state.write(wave=i)
            moved = {node: self._move(node, i) for node in wave}
            watched = self._watch({node: spec.release for node in wave}, first_failure=True)
            failed = next(((n, why) for n, why in watched.items() if why), None)
            if failed is not None:
                return self._halt(failed[0], failed[1], i, done, published, took_over)
            done.update({n: NodeResult(n, self._host(n), i, moved[n]) for n in wave})
        for wave in spec.waves:
            for node in wave:
                self._write(node, lambda n, cur: None if cur.labels.get(L_LKG) == spec.release else
                            with_labels(self._spec_of(n, cur, spec.target), {L_LKG: spec.release}))
        deferred = self._defer(done)
        results = list(done.values()) + deferred + self._retire(done, {r.node for r in deferred})
        pruned = prune_after_rollout(self.swarm, spec.fleet, spec.release)  # still owned: no publish races it
        self.state.write(phase="idle", lkg=spec.release, wave=-1, reason="", failed="")
        return RolloutResult(spec.fleet, spec.release, "idle", "", tuple(results), published, took_over, pruned)

    # -- waiting ---------------------------------------------------------------------------------------
    def _watch(self, expect: Mapping[str, str], first_failure: bool) -> dict[str, str | None]:
        """Wait until every node's current task runs its expected release; per node None or why it did not.
        Failures are final; a node still pending at the deadline missed it."""
        end = self.clock.now() + self.spec.deadline_s
        failed: dict[str, str] = {}
        while True:
            self._heartbeat()
            nodes = {n.id: n for n in self.swarm.nodes()}
            pending: dict[str, str] = {}
            for node, release in expect.items():
                if node in failed:
                    continue
                found = nodes.get(node)
                task = self._current(node) if found is not None and found.state == "ready" else None
                if found is None or found.state != "ready":
                    failed[node] = f"node {self._host(node)} is {found.state if found else 'gone from the swarm'}"
                elif task is None or task.release != release or not (task.terminal or task.state == "running"):
                    pending[node] = task.state if task is not None else "not scheduled"
                elif task.terminal and task.state == "failed" and (node, release) not in self.restarted \
                        and self._verdict(node, task) is None and self._restart(node, release):
                    pending[node] = "started again: its agent died without a verdict"
                elif task.terminal:
                    failed[node] = self._why(node, task)
                if first_failure and failed:
                    return {**{n: None for n in expect}, **failed}
            if not pending:
                return {**{n: None for n in expect}, **failed}
            if self.clock.now() >= end:
                for node, state in pending.items():
                    failed[node] = (f"missed the wave deadline of {self.spec.deadline_s:g} s "
                                    f"(agent task still {state})")
                return {**{n: None for n in expect}, **failed}
            self.clock.sleep(self.poll_s)

    def _why(self, node: str, task: Task) -> str:
        """The reason of the agent's last ``failed`` line for this release, else the task's error."""
        verdict = self._verdict(node, task)
        if verdict is not None:
            return f"agent failed: {verdict}"
        again = " (it died without a verdict, and again once started anew)" if (node, task.release) in \
            self.restarted else ""
        return f"agent task {task.state}: {task.error or 'no error given'}{again}"

    def _verdict(self, node: str, task: Task) -> str | None:
        """The reason of the agent's last ``failed`` line for the task's release (None: it logged none)."""
        try:
            lines = self.swarm.service_logs(agent_name(self.spec.fleet, node), LOG_TAIL)
        except Exception:  # noqa: BLE001 - the logs are a courtesy: the task state already says it failed
            lines = []
        failed = [e for e in agent_events(lines) if e.get("event") == "failed" and e.get("release") == task.release]
        return str(failed[-1].get("reason", "")) if failed else None

    def _restart(self, node: str, release: str) -> bool:
        """Start the node's agent for ``release`` anew (a new generation); False when its parts are gone."""
        found = self._release(release)
        if found is None:
            return False
        self.restarted.add((node, release))
        self._write(node, partial(self._back_to, found))
        return True

    # -- halting and rolling back ----------------------------------------------------------------------
    def _halt(self, node: str, why: str, wave: int, done: dict[str, NodeResult], published: tuple[str, ...],
              took_over: str) -> RolloutResult:
        reason = f"node {self._host(node)} ({node[:12]}) in wave {wave}: {why}"
        self.state.write(phase="rolling-back", reason=reason, failed=node)
        back = self._rollback()
        self.state.write(phase="halted", reason=reason, failed=node)
        results = []
        for i, nodes in enumerate(self.spec.waves):
            for n in nodes:
                if n == node:
                    outcome, extra = back.get(n, ("failed", ""))
                    results.append(NodeResult(n, self._host(n), i, "failed",
                                              why + (f"; {outcome}: {extra}" if extra else f"; {outcome}")))
                elif n in back:
                    results.append(NodeResult(n, self._host(n), i, *back[n]))
                elif i > wave:
                    results.append(NodeResult(n, self._host(n), i, "not-reached"))
                else:
                    results.append(done.get(n) or NodeResult(n, self._host(n), i, "unchanged"))
        return RolloutResult(self.spec.fleet, self.spec.release, "halted", reason, tuple(results), published,
                             took_over)

    def _rollback(self) -> dict[str, tuple[str, str]]:
        """Point every agent whose release is not its last-known-good back at it and wait for them."""
        out: dict[str, tuple[str, str]] = {}
        expect: dict[str, str] = {}
        for service in self.swarm.services({L_FLEET: self.spec.fleet, L_ROLE: "agent"}):
            node, lkg = service.labels.get(L_NODE, ""), service.labels.get(L_LKG, "")
            if service.labels.get(L_RELEASE) == lkg:
                continue
            if not lkg:
                self.swarm.remove_service(service.name)
                out[node] = ("removed", "no last-known-good release: its agent service was removed")
                continue
            release = self._release(lkg)
            if release is None:
                out[node] = ("rollback-failed", f"the parts of last-known-good {lkg[:16]} are gone from the swarm")
                continue
            self._write(node, partial(self._back_to, release))
            expect[node] = lkg
        for node, why in self._watch(expect, first_failure=False).items():
            out[node] = ("rolled-back", "") if why is None else ("rollback-failed", why)
        return out

    def _back_to(self, release: Release, node: str, cur: Service) -> ServiceSpec:
        return self._spec_of(node, cur, release, cur.generation + 1)
