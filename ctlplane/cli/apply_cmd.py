"""``ctlplane apply MODEL`` and ``ctlplane down MODEL``: make the running proxies match the model, or stop them.

apply shows what will change per proxy (start, runtime or reload), asks on a
terminal unless ``--yes`` (never waits in a pipeline), then applies each proxy
as a transaction (a compare-and-swap on what was shown) and prints one line
per proxy, with the bad news about its pools when it has servers down
(``--wait-healthy SECONDS`` waits for every pool to have a server up and
exits 3 otherwise). Ctrl-C and SIGTERM roll the proxy being applied back and
exit 130. The two members of an HA pair are applied rolling, passive node
first (``ctlplane.pairs``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ctlplane.cli.output import Format, emit_json, fail, in_ci, info, progress, warn
from ctlplane.errors import ApplyError, CtlplaneError

if TYPE_CHECKING:
    from ctlplane.apply import Prepared
    from ctlplane.transaction import ApplyResult

HEALTH_GLANCE = 3.0  # seconds a plain apply waits for the first health checks of what it started or reloaded
UNHEALTHY = 3


def apply(
    model: Path = typer.Argument(..., help="The model file (YAML)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    proxy: list[str] = typer.Option(None, "--proxy", help="Apply only this proxy (repeatable)."),
    output: Format = typer.Option(Format.text, "--output", "-o", help="text or json."),
    wait_healthy: float = typer.Option(
        0.0, "--wait-healthy", min=0.0, help="Wait up to SECONDS for every pool to have a server up; exit 3 if not."),
) -> None:
    """Validate, then make every proxy of the model serve it (hot reload, verify, rollback on failure)."""
    from ctlplane.apply import apply_prepared, build_for_apply, prepare

    results: list[ApplyResult] = []
    try:
        built = build_for_apply(model, progress)
        fleet = built.loaded.model.fleet
        if fleet is not None:
            from ctlplane.cli.fleet_cmd import apply_fleet_cli

            local = [p.name for p in built.loaded.model.proxies if p.name not in fleet.proxies]
            return apply_fleet_cli(built, output, [p for p in local if not proxy or p in proxy])
        prepared = prepare(built, proxies=proxy or None, progress=progress)
        from ctlplane.discovery.report import excluded_findings

        warn(excluded_findings(prepared.build.loaded, prepared.build.discovered) + list(prepared.build.notes), output)
        if output is Format.text:
            for name, planned in prepared.plans.items():
                info(f"{name}: {planned.change.describe()}")
        pairs = bool(prepared.build.loaded.model.pairs)
        if not prepared.changed and output is Format.text and not pairs and not wait_healthy:
            return  # pair members go on even so: apply brings a keepalived that died back
        if prepared.changed and not yes and sys.stdin.isatty() and not in_ci() and not typer.confirm(
                "Apply these changes?"):
            raise typer.Exit(1)
        apply_prepared(prepared, report=lambda r: _report(r, results, output))
        healthy = _health(prepared, results, wait_healthy, output)
    except ApplyError as error:
        if output is Format.json:
            emit_json({"ok": False, "applied": [r.as_dict() for r in results], "error": error.message,
                       "rolled_back": error.rolled_back, "findings": [f.as_dict() for f in error.findings]})
            raise typer.Exit(1) from None
        raise fail(error, output) from None
    except CtlplaneError as error:
        raise fail(error, output) from None
    except KeyboardInterrupt as interrupt:
        for note in getattr(interrupt, "__notes__", []):
            typer.secho(f"interrupted: {note}", err=True)
        raise typer.Exit(130) from None
    if output is Format.json:
        emit_json({"ok": True, "applied": [r.as_dict() for r in results], "healthy": healthy})
    if wait_healthy and not healthy:
        raise typer.Exit(UNHEALTHY)


def _report(result: ApplyResult, results: list[ApplyResult], output: Format) -> None:
    results.append(result)
    if output is Format.text and result.outcome == "unchanged":
        info(result.summary())
    elif output is Format.text:
        typer.echo(result.summary())


def _health(prepared: Prepared, results: list[ApplyResult], wait_healthy: float, output: Format) -> bool:
    """Report pools without a server up on the proxies this apply touched (all, with --wait-healthy)."""
    from ctlplane.health import wait_health

    touched = {r.proxy for r in results if r.outcome != "unchanged"}
    healthy = True
    for name in prepared.names:
        if name not in touched and not wait_healthy:
            continue
        found = wait_health(prepared.drivers[name], prepared.build.loaded.model, wait_healthy or HEALTH_GLANCE,
                            until_healthy=bool(wait_healthy))
        if not found.healthy:
            healthy = False
            if output is Format.text:
                typer.secho(f"{name}: but {found.summary()}", err=True, fg="yellow")
    return healthy


def down(
    model: Path = typer.Argument(..., help="The model file (YAML)."),
    proxy: list[str] = typer.Option(None, "--proxy", help="Stop only this proxy (repeatable)."),
) -> None:
    """Stop the proxies that apply started for this model."""
    from ctlplane.apply import down_model
    from ctlplane.model.load import load_file

    try:
        for name, was in down_model(load_file(model), proxy or None):
            info(f"{name}: {'stopped' if was else 'not running'}")
    except CtlplaneError as error:
        raise fail(error, Format.text) from None
