"""``ctlplane apply MODEL`` and ``ctlplane down MODEL``: make the running proxies match the model, or stop them.

apply shows what will change per proxy (runtime or reload), asks on a terminal
unless ``--yes`` (never waits in a pipeline), then applies each proxy as a
transaction and prints one line per proxy; the two members of an HA pair are
applied rolling, passive node first (``ctlplane.pairs``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ctlplane.cli.output import Format, emit_json, fail, in_ci, info, progress
from ctlplane.errors import ApplyError, CtlplaneError


def apply(
    model: Path = typer.Argument(..., help="The model file (YAML)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    proxy: list[str] = typer.Option(None, "--proxy", help="Apply only this proxy (repeatable)."),
    output: Format = typer.Option(Format.text, "--output", "-o", help="text or json."),
) -> None:
    """Validate, then make every proxy of the model serve it (hot reload, verify, rollback on failure)."""
    from ctlplane.apply import ApplyResult, apply_proxy
    from ctlplane.drivers import driver_for
    from ctlplane.drivers.base import Driver
    from ctlplane.pairs import apply_groups, apply_pair
    from ctlplane.pipeline import binary_check, build, require_clean
    from ctlplane.plan import change_kind
    from ctlplane.render import Output

    results = []
    try:
        result = build(model, progress=progress)
        names = [p.name for p in result.loaded.model.proxies if not proxy or p.name in proxy]
        require_clean([f for n in names for f in binary_check(result, n)], allow_skipped=False)
        drivers = {n: driver_for(result.loaded, n) for n in names}
        kinds = {n: change_kind(drivers[n], result.outputs[n]) for n in names}
        if output is Format.text:
            for name in names:
                info(f"{name}: {kinds[name]}")
        groups = apply_groups(result.loaded.model, names)
        unchanged = all(k == "no change" for k in kinds.values())
        if unchanged and output is Format.text and all(isinstance(g, str) for g in groups):
            return  # pair members go on even so: apply brings a keepalived that died back
        if not unchanged and not yes and sys.stdin.isatty() and not in_ci() and not typer.confirm(
                "Apply these changes?"):
            raise typer.Exit(1)

        def apply_one(driver: Driver, files: Output) -> ApplyResult:
            results.append(apply_proxy(driver, files))
            if output is Format.text:
                typer.echo(results[-1].summary())
            return results[-1]

        for group in groups:  # HA pairs: rolling, passive node first
            if isinstance(group, str):
                apply_one(drivers[group], result.outputs[group])
            else:
                members = {n.proxy: drivers[n.proxy] for n in group.nodes if n.proxy in drivers}
                apply_pair(result.loaded.model, group, members, result.outputs, apply_one)
    except ApplyError as error:
        if output is Format.json:
            emit_json({"ok": False, "applied": [r.as_dict() for r in results], "error": error.message,
                       "rolled_back": error.rolled_back, "findings": [f.as_dict() for f in error.findings]})
            raise typer.Exit(1) from None
        raise fail(error, output) from None
    except CtlplaneError as error:
        raise fail(error, output) from None
    if output is Format.json:
        emit_json({"ok": True, "applied": [r.as_dict() for r in results]})


def down(
    model: Path = typer.Argument(..., help="The model file (YAML)."),
    proxy: list[str] = typer.Option(None, "--proxy", help="Stop only this proxy (repeatable)."),
) -> None:
    """Stop the proxies that apply started for this model."""
    from ctlplane.drivers import driver_for
    from ctlplane.model.load import load_file

    try:
        loaded = load_file(model)
        for p in loaded.model.proxies:
            if proxy and p.name not in proxy:
                continue
            control = driver_for(loaded, p.name).control
            was = control.generation().running
            control.stop()
            info(f"{p.name}: {'stopped' if was else 'not running'}")
    except CtlplaneError as error:
        raise fail(error, Format.text) from None
