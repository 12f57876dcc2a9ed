"""``ctlplane plan MODEL``: per proxy, what would change against what is deployed, and, for a proxy that
changes, that a reload cuts connections still open after its ``drain_timeout``."""

from __future__ import annotations

from pathlib import Path

import typer

from ctlplane.cli.output import Format, colour, emit_json, fail, info, progress
from ctlplane.errors import CtlplaneError


def plan(
    model: Path = typer.Argument(..., help="The model file (YAML)."),
    output: Format = typer.Option(Format.text, "--output", "-o", help="text or json."),
    proxy: str | None = typer.Option(None, "--proxy", help="Plan only this proxy."),
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", help="Exit 0 when nothing changes, 2 when something would, 1 on error."
    ),
) -> None:
    """Show a unified diff per proxy of the rendered files against the deployed ones."""
    from ctlplane.pipeline import build
    from ctlplane.plan import plan_proxy
    from ctlplane.drivers.releases import ReleaseStore
    from ctlplane.model.types import format_duration
    from ctlplane.statedir import proxy_dir

    try:
        result = build(model, progress=progress)
        if proxy is not None and proxy not in result.outputs:
            raise CtlplaneError(f"no proxy named {proxy!r} in {model}")
        plans = [plan_proxy(name, files, ReleaseStore(proxy_dir(result.loaded, name)).deployed())
                 for name, files in result.only(proxy).items()]
    except CtlplaneError as error:
        raise fail(error, output) from None
    drains = {p.name: format_duration(p.drain_timeout) for p in result.loaded.model.proxies}
    if output is Format.json:
        emit_json({"ok": True, "changed": any(p.changed for p in plans),
                   "proxies": [{**p.as_dict(), "reload_cuts_connections_after": drains[p.proxy]} for p in plans]})
    else:
        for p in plans:
            _show(p, drains[p.proxy])
    if detailed_exitcode and any(p.changed for p in plans):
        raise typer.Exit(2)


def reload_note(proxy: str, drain: str) -> str:
    return (f"{proxy}: if this change reloads the proxy, connections still open {drain} after the reload are cut "
            "(drain_timeout)")


def _show(p: object, drain: str) -> None:
    from ctlplane.plan import ProxyPlan

    assert isinstance(p, ProxyPlan)
    if not p.changed:
        info(f"{p.proxy}: no changes")
        return
    typer.secho(f"{p.proxy}: {len(p.changes)} file(s) would change", bold=colour())
    info(reload_note(p.proxy, drain))
    for change in p.changes:
        for line in change.diff.splitlines():
            fg = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            typer.secho(line, fg=fg if colour() else None)
