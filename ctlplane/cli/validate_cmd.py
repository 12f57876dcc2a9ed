"""``ctlplane validate MODEL...``: stage 1 (model and files) then stage 2 (the real binaries).

Several models may be given (as pre-commit passes the staged files): each is
checked on its own, every problem is reported, and the exit code is 1 when
any model is invalid. With one model, ``--output json`` prints that model's
object; with several, ``{"ok": ..., "models": [...]}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ctlplane.cli.output import Format, emit_json, error_payload, in_ci, info, print_error, progress, warn
from ctlplane.errors import CtlplaneError

MODELS = typer.Argument(..., help="One or more model files (YAML).", exists=False)


def validate(
    models: list[Path] = MODELS,
    output: Format = typer.Option(Format.text, "--output", "-o", help="text or json."),
    binaries: bool = typer.Option(True, "--binaries/--no-binaries", help="Run nginx -t / haproxy -c / keepalived."),
    require_binaries: bool = typer.Option(
        False, "--require-binaries", help="Fail when a proxy binary is missing (always on when CI=true)."
    ),
) -> None:
    """Check models: exit 0 when all are valid, 1 with located messages otherwise."""
    payloads = [_one(model, output, binaries, require_binaries) for model in models]
    ok = all(p["ok"] for p in payloads)
    if output is Format.json:
        emit_json(payloads[0] if len(payloads) == 1 else {"ok": ok, "models": payloads})
    if not ok:
        raise typer.Exit(1)


def _one(model: Path, output: Format, binaries: bool, require_binaries: bool) -> dict[str, Any]:
    """Validate one model, print its text result, and return its JSON object."""
    from dataclasses import replace

    from ctlplane.model.assets import worker_reach
    from ctlplane.pipeline import binary_check, build, require_clean

    try:
        result = build(model, progress=progress)
        findings = binary_check(result) if binaries else []
        require_clean(findings, allow_skipped=not (require_binaries or in_ci()))
        # on the machine the proxies run on, apply refuses these; anywhere else they only inform
        findings += [replace(f, severity="warning") for f in worker_reach(result.loaded, result.assets)]
    except CtlplaneError as error:
        if output is Format.text:
            print_error(error)
        return {**error_payload(error), "model": str(model)}
    skipped = [f for f in findings if not f.is_error]
    warn(skipped, output)
    proxies = sorted(result.outputs)
    if output is Format.text:
        stage = "model and binaries" if binaries else "model"
        info(f"ok: {model} is valid ({stage}); proxies: {', '.join(proxies)}")
    return {"ok": True, "model": str(model), "proxies": proxies, "findings": [f.as_dict() for f in skipped]}
