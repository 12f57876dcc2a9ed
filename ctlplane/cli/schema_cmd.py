"""``ctlplane schema``: write (or print) the model's JSON Schema."""

from __future__ import annotations

from pathlib import Path

import typer


def schema(
    out: Path = typer.Option(Path("schemas/ctlplane.schema.json"), "--out", help="Where to write; '-' prints."),
) -> None:
    """Write the JSON Schema generated from the model."""
    from ctlplane.schema import schema_text

    text = schema_text()
    if str(out) == "-":
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    typer.echo(f"wrote {out}")
