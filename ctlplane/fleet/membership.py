"""Nodes that come and go while a fleet rolls: deferring the ones the manager cannot reach, retiring the
ones that left the selector.

Once every wave took a release, :meth:`Membership._defer` points the agents of selected nodes that
are Down at it without waiting (Swarm hands them the task when they return; the agent hot-reloads,
soaks and keeps its own last-known-good on a breach; drained or paused nodes are left as they are),
and :meth:`Membership._retire` turns the agent of each node that no longer matches the selector into
its retiring task (``ctlplane.fleet.retire``), waits for it within the wave deadline and removes the
service; a node that cannot be reached keeps that task and is reported ``retiring``, and a retiring task that
failed is started again by the next rollout.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from ctlplane.fleet.node_agents import NodeAgents, NodeResult
from ctlplane.fleet.retire import L_RETIRE, retiring_spec
from ctlplane.fleet.specs import L_FLEET, L_LKG, L_NODE, L_RELEASE, L_ROLE, agent_name, with_labels
from ctlplane.fleet.swarm import Service, ServiceSpec, carries


class Membership(NodeAgents):
    """Deferring and retiring nodes at the end of a rollout."""

    def _selected(self) -> set[str]:
        return {n.id for n in self.hosts.values() if carries(n.labels, self.spec.selector)}

    def _defer(self, done: Mapping[str, NodeResult]) -> list[NodeResult]:
        """Point the agents of selected nodes the manager cannot reach (Down, partitioned) at the release every
        wave proved, without waiting: Swarm hands the new agent task to the node when it returns, and the agent
        hot-reloads its proxy, soaks and falls back to its own last-known-good on a breach. A drained or paused
        node is left as it is (it is out of service on purpose)."""
        out = []
        for node in sorted(self._selected() - set(done)):
            found = self.hosts.get(node)
            if found is None or found.state == "ready" or found.availability != "active":
                continue
            if self.swarm.service(agent_name(self.spec.fleet, node)) is None:
                continue
            self._write(node, lambda n, cur: None if cur.labels.get(L_RELEASE) == self.spec.release else
                        with_labels(self._spec_of(n, cur, self.spec.target, cur.generation + 1),
                                    {L_LKG: self.spec.release}))
            out.append(NodeResult(node, self._host(node), -1, "deferred",
                                  f"node is {found.state}: it takes the release when it returns (its agent "
                                  "applies it by hot reload, soaks it and keeps its last-known-good on a breach)"))
        return out

    def _retire(self, done: Mapping[str, NodeResult], deferred: set[str]) -> list[NodeResult]:
        """Retire the nodes that no longer match the selector (:mod:`ctlplane.fleet.retire`: a last agent task
        stops their proxies, then the agent service is removed); report selected nodes in no wave."""
        selected = self._selected()
        out = [NodeResult(n, self._host(n), -1, "skipped", "matches the selector but is in no wave (not ready?)")
               for n in sorted(selected - set(done) - deferred)]
        leaving = sorted(s.labels.get(L_NODE, "") for s in self.swarm.services({L_FLEET: self.spec.fleet,
                                                                                 L_ROLE: "agent"})
                         if s.labels.get(L_NODE, "") not in selected)
        for node in leaving:
            task = self._current(node)
            again = task is not None and task.terminal and task.state != "complete"  # a retiring task that failed
            self._write(node, partial(self._retiring, again))
        for node, why in self._watch_retiring(leaving).items():
            if why is None:
                self.swarm.remove_service(agent_name(self.spec.fleet, node))
                out.append(NodeResult(node, self._host(node), -1, "retired", "no longer matches the node selector: "
                                      "its proxies were stopped and its agent removed"))
            else:
                out.append(NodeResult(node, self._host(node), -1, "retiring",
                                      f"no longer matches the node selector; {why}"))
        return out

    def _retiring(self, again: bool, node: str, cur: Service) -> ServiceSpec | None:
        """The node's retiring agent spec; None when it is one already (unless its task failed: ``again``)."""
        if cur.labels.get(L_RETIRE) == "1" and not again:
            return None
        release = self._release(cur.labels.get(L_RELEASE, "")) or self.spec.target  # the proxies it runs now
        return retiring_spec(with_labels(self._spec_of(node, cur, release), {L_LKG: ""}))

    def _watch_retiring(self, nodes: list[str]) -> dict[str, str | None]:
        """Wait, within the wave deadline, for each node's retiring task to complete; per node None (retired)
        or why not yet (its service is kept: the node retires when it returns, the next rollout removes it)."""
        end = self.clock.now() + self.spec.deadline_s
        out: dict[str, str | None] = {}
        while True:
            self._heartbeat()
            hosts = {n.id: n for n in self.swarm.nodes()}
            for node in [n for n in nodes if n not in out]:
                found, task = hosts.get(node), self._current(node)
                if found is None:
                    out[node] = None  # gone from the swarm: nothing can run there any more
                elif found.state != "ready":
                    out[node] = f"its node is {found.state}: it stops its proxies when it returns"
                elif task is not None and task.state == "complete":
                    out[node] = None
                elif task is not None and task.terminal:
                    out[node] = f"its retiring task {task.state}: {task.error or 'no error given'}"
            if len(out) == len(nodes):
                return out
            if self.clock.now() >= end:
                return {**{n: f"its retiring task did not complete within {self.spec.deadline_s:g} s" for n in nodes},
                        **out}
            self.clock.sleep(self.poll_s)
