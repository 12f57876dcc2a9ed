"""``ctlplane status MODEL``: the live state of every proxy of a model, read from the proxies.

One overview row per proxy (engine, running or stopped, active release,
master and workers, in sync or drift against the model), then HAProxy's
servers (status, weight, sessions, last check), NGINX's ``stub_status``
counters, and for HA pair members the VIPs each node holds and its VRRP state.
Tables for people (``-q``: the overview only; ``-v``: addresses
and check details), ``--output json`` for machines; ``--detailed-exitcode``
exits 2 when a proxy drifts from the model or is stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ctlplane.cli.output import Format, Table, emit_json, fail, show_tables, verbosity
from ctlplane.errors import CtlplaneError

if TYPE_CHECKING:
    from ctlplane.status import ProxyStatus

COLOURS = {"in sync": "green", "UP": "green", "running": "green", "stopped": "red", "DOWN": "red",
           "MAINT": "yellow", "DRAIN": "yellow", "drift:": "yellow", "MASTER": "green", "FAULT": "red",
           "keepalived": "red"}


def _style(cell: str) -> str | None:
    """The colour of a cell by its first word (``UP 1/2`` is green, ``drift: 2 file(s)...`` yellow)."""
    return COLOURS.get(cell) or COLOURS.get(cell.split(" ", 1)[0])


def status(
    model: Path = typer.Argument(..., help="The model file (YAML)."),
    output: Format = typer.Option(Format.text, "--output", "-o", help="text or json."),
    proxy: list[str] = typer.Option(None, "--proxy", help="Only this proxy (repeatable)."),
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", help="Exit 2 when a proxy drifts from the model or is stopped, 0 otherwise."
    ),
) -> None:
    """Show each proxy's live state: processes, active release, drift, servers and connection counters."""
    from ctlplane.apply import docker_discovery
    from ctlplane.pipeline import build
    from ctlplane.status import model_status

    try:
        result = build(model, discovery=docker_discovery(None))  # drift is judged with today's members
        if result.loaded.model.fleet is not None:
            from ctlplane.cli.fleet_cmd import status_fleet_cli

            return status_fleet_cli(result, output, detailed_exitcode)
        unknown = [p for p in proxy or [] if p not in result.outputs]
        if unknown:
            raise CtlplaneError(f"no proxy named {unknown[0]!r} in {model}")
        statuses = model_status(result, proxy or None)
    except CtlplaneError as error:
        raise fail(error, output) from None
    attention = any(s.state != "in sync" for s in statuses)
    if output is Format.json:
        emit_json({"ok": True, "model": str(model), "in_sync": not attention,
                   "proxies": [s.as_dict() for s in statuses]})
    else:
        show_tables(tables(statuses, verbosity()), style=_style)
    if detailed_exitcode and attention:
        raise typer.Exit(2)


def tables(statuses: list[ProxyStatus], level: int = 0) -> list[Table]:
    """The overview table, then per proxy its servers or counters (only the overview when quiet)."""
    overview = Table("proxies", ["PROXY", "ENGINE", "STATE", "RELEASE", "MASTER", "WORKERS", "CONFIG"], [
        [s.proxy, s.engine, "running" if s.running else "stopped", s.release or "-",
         str(s.master or "-"), _workers(s.workers, level), s.summary()] for s in statuses])
    found = [overview]
    members = [s for s in statuses if s.vrrp is not None]
    if members:
        found.append(_pairs(members))
    if level < 0:
        return found
    for s in statuses:
        if s.servers:
            found.append(_servers(s, level))
        if s.stub:
            found.append(Table(f"{s.proxy}: connections (stub_status)",
                               ["ACTIVE", "ACCEPTED", "HANDLED", "REQUESTS", "READING", "WRITING", "WAITING"],
                               [[str(v) for v in (s.stub.active, s.stub.accepts, s.stub.handled, s.stub.requests,
                                                  s.stub.reading, s.stub.writing, s.stub.waiting)]]))
        if s.problems:
            found.append(Table(f"{s.proxy}: could not read", ["PROBLEM"], [[p] for p in s.problems]))
    return found


def _pairs(members: list[ProxyStatus]) -> Table:
    """Per pair member: the VIPs its interfaces carry now and its VRRP state."""
    rows = []
    for s in members:
        vrrp = s.vrrp
        assert vrrp is not None
        state = vrrp.state if not vrrp.problem else f"unknown ({vrrp.problem})"
        rows.append([vrrp.pair, s.proxy, state, ", ".join(vrrp.held) or "-"])
    return Table("pairs", ["PAIR", "NODE", "VRRP", "VIPS HELD"], rows)


def _workers(workers: tuple[int, ...], level: int) -> str:
    if not workers:
        return "-"
    if level > 0 or len(workers) <= 4:
        return ",".join(str(w) for w in workers)
    return f"{len(workers)} workers"


def _servers(s: ProxyStatus, level: int) -> Table:
    headers = ["POOL", "SERVER", "STATUS", "WEIGHT", "SESSIONS", "TOTAL", "CHECK"]
    rows = []
    for row in s.servers:
        cells = [row.pool, row.server, row.status, str(row.weight), str(row.current_sessions),
                 str(row.total_sessions), row.check()]
        if level > 0:
            duration = "" if row.check_duration_ms is None else f"{row.check_duration_ms} ms"
            cells += [row.address, " ".join(p for p in (row.check_desc, duration) if p) or "-"]
        rows.append(cells)
    if level > 0:
        headers += ["ADDRESS", "CHECK DETAIL"]
    return Table(f"{s.proxy}: servers", headers, rows)
