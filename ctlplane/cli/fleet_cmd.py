"""``ctlplane apply`` and ``ctlplane status`` on a model with a ``fleet:``: the rollout and the per-node table.

apply first applies, as usual, the model's proxies that are not in the fleet, then rolls the release out to
the fleet's nodes (canary first, then waves) and prints one line per node; a halted rollout exits 1 naming
the node and the reason, every node it changed being back on its last-known-good. A second apply while one
is rolling out exits 1 too (``FleetBusy``). status prints one row per node: wave, the release it should
serve, the release its proxy itself reports, and in-sync / applying / pending / stale / failed.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import typer

from ctlplane.cli.output import Format, Table, emit_json, fail, info, show_tables, warn
from ctlplane.errors import CtlplaneError, Finding

if TYPE_CHECKING:
    from ctlplane.fleet.controller import Candidate, Plan
    from ctlplane.fleet.rollout import NodeResult, RolloutResult
    from ctlplane.fleet.status import FleetStatus
    from ctlplane.fleet.waves import Left
    from ctlplane.pipeline import Build

STATE_COLOURS = {"in-sync": "green", "failed": "red", "stale": "yellow", "applying": "yellow", "pending": None}


def apply_fleet_cli(built: Build, output: Format, local: list[str]) -> None:
    """The fleet half of ``ctlplane apply`` (``local``: the proxies applied on this machine first)."""
    from ctlplane.apply import apply_prepared, prepare
    from ctlplane.fleet.controller import apply_fleet, open_swarm, plain_tcp_warning
    from ctlplane.gc_pause import resume_for_long_run

    resume_for_long_run()  # a rollout soaks and waits for minutes
    try:
        if local:
            for applied in apply_prepared(prepare(built, proxies=local)):
                if output is Format.text:
                    info(f"{applied.proxy}: {applied.outcome}")
        warn(plain_tcp_warning(built), output)
        result, plan = apply_fleet(built, open_swarm(built))
    except CtlplaneError as error:
        raise fail(error, output) from None
    if output is Format.json:
        emit_json(rollout_dict(result, plan))
    else:
        for line in rollout_lines(result, plan):
            info(line)
    if not result.ok:
        if output is Format.json:  # the rollout document above says it (ok false, reason): one document only
            raise typer.Exit(1)
        message = f"fleet {result.fleet}: rollout of {result.release[:16]} halted: {result.reason}"
        raise fail(CtlplaneError(message, [Finding(message, source="fleet")]), output) from None


def shown(result: RolloutResult, plan: Plan) -> list[NodeResult]:
    """The rollout's nodes, but those the plan left out and the rollout did nothing to (listed apart, with the
    planner's reason); a left-out node the rollout deferred is shown with what will happen to it."""
    left = {x.node.id for x in plan.left}
    return [n for n in result.nodes if n.node not in left or n.outcome != "skipped"]


def left_apart(result: RolloutResult, plan: Plan) -> list[Left[Candidate]]:
    acted = {n.node for n in shown(result, plan)}
    return [x for x in plan.left if x.node.id not in acted]


def rollout_lines(result: RolloutResult, plan: Plan) -> list[str]:
    deferred = sum(n.outcome == "deferred" for n in result.nodes)
    done = f"serves on every node the manager reaches; {deferred} deferred until it returns" if deferred else \
        "serves on every node"
    head = f"fleet {result.fleet}: release {result.release[:16]} " + (done if result.ok else "halted")
    if result.took_over:
        head += f" (took over from {result.took_over})"
    lines = [head]
    for node in shown(result, plan):
        reason = f": {node.reason}" if node.reason else ""
        wave = f"wave {node.wave}" if node.wave >= 0 else "no wave"
        lines.append(f"  {node.hostname} ({wave}): {node.outcome}{reason}")
    lines += [f"  {left.node.hostname}: left out: {left.reason}" for left in left_apart(result, plan)]
    return lines


def rollout_dict(result: RolloutResult, plan: Plan) -> dict[str, object]:
    return {"ok": result.ok, "fleet": result.fleet, "release": result.release, "phase": result.phase,
            "reason": result.reason, "took_over": result.took_over, "published": list(result.published),
            "pruned": list(result.pruned),
            "nodes": [{"node": n.node, "hostname": n.hostname, "wave": n.wave, "outcome": n.outcome,
                       "reason": n.reason} for n in shown(result, plan)],
            "left_out": [{"node": x.node.id, "hostname": x.node.hostname, "reason": x.reason}
                         for x in left_apart(result, plan)]}


def status_fleet_cli(built: Build, output: Format, detailed_exitcode: bool) -> None:
    """The fleet half of ``ctlplane status``."""
    from ctlplane.fleet.controller import fleet_status, open_swarm

    try:
        found = fleet_status(built, open_swarm(built))
    except CtlplaneError as error:
        raise fail(error, output) from None
    if output is Format.json:
        emit_json({"ok": True, "fleet": found.fleet, "phase": found.phase, "target": found.target,
                   "lkg": found.lkg, "reason": found.reason, "in_sync": found.in_sync,
                   "nodes": [asdict(n) for n in found.nodes]})
    else:
        show_tables(fleet_tables(found), style=lambda cell: STATE_COLOURS.get(cell.split(" ", 1)[0]))
    if detailed_exitcode and not found.in_sync:
        raise typer.Exit(2)


def fleet_tables(found: FleetStatus) -> list[Table]:
    title = f"fleet {found.fleet}: {found.phase}" + (f" ({found.reason})" if found.reason else "")
    return [Table(title, ["NODE", "WAVE", "SHOULD SERVE", "PROXY REPORTS", "STATE"], [
        [n.hostname, "-" if n.wave is None else str(n.wave), (n.desired or "-")[:16], (n.reported or "-")[:16],
         n.state + (f" ({n.detail})" if n.detail else "")] for n in found.nodes])]
