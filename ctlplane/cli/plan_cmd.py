"""``ctlplane plan MODEL``: per proxy, how the change would reach it and what would change against what serves,
and, for a change that reloads, that the reload cuts connections still open after its ``drain_timeout``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ctlplane.cli.output import Format, colour, emit_json, fail, info, progress, warn
from ctlplane.errors import CtlplaneError

if TYPE_CHECKING:
    from ctlplane.pipeline import Build
    from ctlplane.plan import ProxyPlan
    from ctlplane.render import Output


def plan(
    model: Path = typer.Argument(..., help="The model file (YAML)."),
    output: Format = typer.Option(Format.text, "--output", "-o", help="text or json."),
    proxy: str | None = typer.Option(None, "--proxy", help="Plan only this proxy."),
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", help="Exit 0 when nothing changes, 2 when something would, 1 on error."
    ),
    against: Path | None = typer.Option(
        None, "--against", help="Compare with DIR/<proxy>/ (as `ctlplane render --out DIR` wrote it, e.g. the base "
        "branch's rendering in CI) instead of what the running proxies serve."),
) -> None:
    """Show per proxy how applying would reach it and a unified diff against the release it serves."""
    from ctlplane.apply import docker_discovery, ocsp_responder
    from ctlplane.pipeline import build

    try:  # discovered pools and OCSP responses: today's, unless comparing with a rendering (offline, like it)
        result = build(model, progress=progress, discovery=None if against else docker_discovery(None),
                       ocsp=None if against else ocsp_responder(None))
        if proxy is not None and proxy not in result.outputs:
            raise CtlplaneError(f"no proxy named {proxy!r} in {model}")
        plans = [_plan(result, name, files, against) for name, files in result.only(proxy).items()]
    except CtlplaneError as error:
        raise fail(error, output) from None
    from ctlplane.discovery.report import as_dict, excluded_findings, pool_lines
    from ctlplane.model.types import format_duration

    drains = {p.name: format_duration(p.drain_timeout) for p in result.loaded.model.proxies}
    if output is Format.json:
        emit_json({"ok": True, "changed": any(p.changed for p in plans),
                   "proxies": [{**p.as_dict(), "reload_cuts_connections_after": drains[p.proxy]} for p in plans],
                   "discovered": as_dict(result.discovered)})
    else:
        for line in pool_lines(result.loaded, result.discovered):
            typer.echo(line)
        warn(excluded_findings(result.loaded, result.discovered) + list(result.notes), output)
        for p in plans:
            _show(p, drains[p.proxy])
    if detailed_exitcode and any(p.changed for p in plans):
        raise typer.Exit(2)


def _plan(result: Build, name: str, files: Output, against: Path | None) -> ProxyPlan:
    """One proxy's plan: against the release its workers serve, or against a rendered directory."""
    from ctlplane.decide import decide
    from ctlplane.drivers import driver_for
    from ctlplane.plan import plan_proxy
    from ctlplane.render.release import seal
    from ctlplane.state.fsio import read_tree
    from ctlplane.transaction import plan_change

    if against is not None:
        base = read_tree(against / name)  # resealed: a CI job may have rewritten paths in it
        served = seal(base) if base else None
        change = decide(served, files, served is not None, result.engines[name])
    else:
        driver = driver_for(result.loaded, name)
        planned = plan_change(driver, files)
        served, change = driver.store.read(planned.serving), planned.change
    return plan_proxy(name, files, {p: f.content for p, f in (served or {}).items()}, change)


def reload_note(proxy: str, drain: str) -> str:
    return f"{proxy}: the reload cuts connections still open {drain} after it (drain_timeout)"


def _show(p: ProxyPlan, drain: str) -> None:
    if not p.changed:
        info(f"{p.proxy}: no changes")
        return
    files = f", {len(p.changes)} file(s) would change" if p.changes else ""
    typer.secho(f"{p.proxy}: {p.change.describe()}{files}", bold=colour())
    if p.change.kind == "reload":
        info(reload_note(p.proxy, drain))
    for change in p.changes:
        for line in change.diff.splitlines():
            fg = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            typer.secho(line, fg=fg if colour() else None)
