"""How the CLI shows results: plain lines for people (colour only on a
terminal, never with NO_COLOR), JSON for machines, and the mapping from
errors to exit codes.
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from typing import Any

import typer

from ctlplane.errors import CtlplaneError, Finding


class Format(str, Enum):
    text = "text"
    json = "json"


def colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def emit_json(payload: dict[str, Any]) -> None:
    typer.echo(json.dumps(payload, indent=2, sort_keys=True))


def finding_line(finding: Finding) -> str:
    prefix = "" if finding.source == "model" else f"[{finding.source}] "
    return prefix + finding.one_line()


def fail(error: CtlplaneError, fmt: Format, code: int = 1) -> typer.Exit:
    """Print an error as text (stderr) or JSON (stdout) and return the Exit to raise."""
    if fmt is Format.json:
        emit_json({"ok": False, "error": error.message, "findings": [f.as_dict() for f in error.findings]})
    else:
        lines = [finding_line(f) for f in error.findings] or [error.message]
        for line in lines:
            typer.secho(f"error: {line}", err=True, fg="red" if colour() else None)
    return typer.Exit(code)


def warn(findings: list[Finding], fmt: Format) -> None:
    if fmt is Format.text:
        for f in findings:
            typer.secho(f"warning: {finding_line(f)}", err=True, fg="yellow" if colour() else None)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"
