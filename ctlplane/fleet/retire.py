"""Retiring a node from a fleet: its proxies stopped and removed, on the node itself, by a last agent task.

The controller reaches nodes only through Swarm, so when a node stops matching the fleet's selector it does not
just remove the node's agent service (that would leave the proxy container serving on a node that is no longer
in the fleet): it turns the service into a retiring one (:func:`retiring_spec`: the same release, the command
``ctlplane agent retire``, no health check, label ``ctlplane.retire=1``), waits, bounded by the wave deadline,
for that task to complete, and only then removes the service. On the node, :func:`retire` stops every fleet
proxy through its driver (the docker runtime removes the container it made) and records the node as retired with
no last-known-good, so a node labelled again later starts like a new one. A node the manager cannot reach keeps
its retiring service and retires when it returns; the next rollout removes the service once its task completed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ctlplane.errors import CtlplaneError, Finding
from ctlplane.fleet.specs import with_labels
from ctlplane.fleet.swarm import ServiceSpec

if TYPE_CHECKING:
    from ctlplane.fleet.agent import Seams
    from ctlplane.fleet.agent_files import Settings

RETIRE_COMMAND = ("ctlplane", "agent", "retire")
L_RETIRE = "ctlplane.retire"


def retiring_spec(spec: ServiceSpec) -> ServiceSpec:
    """``spec`` (a node's agent service) turned into the one task that retires the node."""
    return with_labels(replace(spec, command=RETIRE_COMMAND, health=None, generation=spec.generation + 1),
                       {L_RETIRE: "1"})


def retire(settings: Settings, seams: Seams) -> list[str]:
    """Stop and remove this node's fleet proxies; the names of those stopped. Raise AgentError if one could not
    be stopped (the task then fails, and the controller keeps the service to try again)."""
    from ctlplane.fleet.agent import _one_line
    from ctlplane.fleet.agent_files import AgentError, _write_status, fetch
    from ctlplane.model.load import load_file

    try:
        loaded = load_file(fetch(settings) / "model.yaml")
        drivers = seams.drivers(loaded)
    except CtlplaneError as error:
        seams.log({"event": "retire-failed", "node": settings.node, "reason": _one_line(error)})
        raise AgentError("the node cannot be retired", list(error.findings)) from error
    stopped, failed = [], []
    for name, driver in drivers.items():
        try:
            driver.control.stop()
            stopped.append(name)
        except CtlplaneError as error:
            failed.append(Finding(f"{name}: {_one_line(error)}", source="fleet"))
    if failed:
        seams.log({"event": "retire-failed", "node": settings.node, "reason": "; ".join(f.message for f in failed)})
        raise AgentError("a proxy of the retired node could not be stopped", failed)
    _write_status(settings, release="", state="retired", lkg=None)
    seams.log({"event": "retired", "node": settings.node, "proxies": stopped})
    return stopped
