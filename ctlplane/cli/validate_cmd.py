"""``ctlplane validate MODEL``: stage 1 (model and files) then stage 2 (the real binaries)."""

from __future__ import annotations

from pathlib import Path

import typer

from ctlplane.cli.output import Format, emit_json, fail, in_ci, warn
from ctlplane.errors import CtlplaneError

MODEL = typer.Argument(..., help="The model file (YAML).", exists=False)


def validate(
    model: Path = MODEL,
    output: Format = typer.Option(Format.text, "--output", "-o", help="text or json."),
    binaries: bool = typer.Option(True, "--binaries/--no-binaries", help="Run nginx -t / haproxy -c / keepalived."),
    require_binaries: bool = typer.Option(
        False, "--require-binaries", help="Fail when a proxy binary is missing (always on when CI=true)."
    ),
) -> None:
    """Check a model: exit 0 when valid, 1 with located messages otherwise."""
    from ctlplane.pipeline import binary_check, build, require_clean

    try:
        result = build(model)
        findings = binary_check(result) if binaries else []
        require_clean(findings, allow_skipped=not (require_binaries or in_ci()))
    except CtlplaneError as error:
        raise fail(error, output) from None
    skipped = [f for f in findings if f.message.startswith(("skipped", "warning"))]
    warn(skipped, output)
    proxies = sorted(result.outputs)
    if output is Format.json:
        emit_json({"ok": True, "model": str(model), "proxies": proxies, "findings": [f.as_dict() for f in skipped]})
    else:
        stage = "model and binaries" if binaries else "model"
        typer.echo(f"ok: {model} is valid ({stage}); proxies: {', '.join(proxies)}")
