"""How the CLI shows results: plain lines for people (colour only on a
terminal, never with NO_COLOR), tables (rich on a terminal, plain aligned
text otherwise), JSON for machines, the global verbosity set by ``-v``/``-q``,
and the mapping from errors to exit codes.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import typer

from ctlplane.errors import CtlplaneError, Finding


class Format(StrEnum):
    text = "text"
    json = "json"


_verbosity = 0  # -1 quiet, 0 normal, 1+ verbose; set once by the CLI callback


def set_verbosity(level: int) -> None:
    global _verbosity
    _verbosity = level


def verbosity() -> int:
    return _verbosity


def colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def info(message: str) -> None:
    """A line for people that ``-q`` silences."""
    if _verbosity >= 0:
        typer.echo(message)


def progress(message: str) -> None:
    """A progress line on stderr for long work: shown on a terminal or with ``-v``, never with ``-q``."""
    if _verbosity > 0 or (_verbosity == 0 and sys.stderr.isatty()):
        typer.echo(f"... {message}", err=True)


@dataclass(frozen=True)
class Table:
    """A titled table of text cells."""

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]


def show_tables(tables: Sequence[Table], style: Callable[[str], str | None] = lambda _: None) -> None:
    """Rich tables on a terminal (coloured unless NO_COLOR; ``style`` maps a cell to a colour name or None),
    plain aligned text otherwise."""
    if sys.stdout.isatty():
        _rich_tables(tables, style)
        return
    for index, table in enumerate(tables):
        if index:
            typer.echo("")
        typer.echo(table.title)
        typer.echo(plain_table(table.headers, table.rows))


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns aligned with two spaces, no trailing blanks."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [headers, *rows]]
    return "\n".join(lines)


def _rich_tables(tables: Sequence[Table], style: Callable[[str], str | None]) -> None:
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    console = Console(no_color=not colour(), highlight=False)
    for table in tables:
        rich = RichTable(title=table.title, title_justify="left", title_style="bold")
        for header in table.headers:
            rich.add_column(header)
        for row in table.rows:
            rich.add_row(*(Text(str(c), style=style(str(c)) or "") for c in row))
        console.print(rich)


def emit_json(payload: dict[str, Any]) -> None:
    typer.echo(json.dumps(payload, indent=2, sort_keys=True))


def finding_line(finding: Finding) -> str:
    prefix = "" if finding.source == "model" else f"[{finding.source}] "
    return prefix + finding.one_line()


def error_payload(error: CtlplaneError) -> dict[str, Any]:
    return {"ok": False, "error": error.message, "findings": [f.as_dict() for f in error.findings]}


def print_error(error: CtlplaneError) -> None:
    """One ``error:`` line per finding on stderr (``-v`` adds the error's summary first)."""
    lines = [finding_line(f) for f in error.findings] or [error.message]
    if _verbosity > 0 and error.findings:
        lines.insert(0, error.message)
    for line in lines:
        typer.secho(f"error: {line}", err=True, fg="red" if colour() else None)


def fail(error: CtlplaneError, fmt: Format, code: int = 1) -> typer.Exit:
    """Print an error as text (stderr) or JSON (stdout) and return the Exit to raise."""
    if fmt is Format.json:
        emit_json(error_payload(error))
    else:
        print_error(error)
    return typer.Exit(code)


def warn(findings: list[Finding], fmt: Format) -> None:
    """Warnings and skipped checks on stderr, each saying which (text only; ``-q`` silences them)."""
    if fmt is Format.text and _verbosity >= 0:
        for f in findings:
            typer.secho(finding_line(f), err=True, fg="yellow" if colour() else None)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"
