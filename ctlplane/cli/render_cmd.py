"""``ctlplane render MODEL``: write each proxy's rendered files to a directory."""

from __future__ import annotations

from pathlib import Path

import typer

from ctlplane.cli.output import Format, fail, info, progress
from ctlplane.errors import CtlplaneError


def render(
    model: Path = typer.Argument(..., help="The model file (YAML)."),
    out: Path = typer.Option(Path("out"), "--out", help="Directory that receives one folder per proxy."),
    proxy: str | None = typer.Option(None, "--proxy", help="Render only this proxy."),
) -> None:
    """Render the configs of every proxy (or one) into OUT/<proxy>/."""
    from ctlplane.state.fsio import write_tree
    from ctlplane.pipeline import build

    try:
        result = build(model, progress=progress)
        if proxy is not None and proxy not in result.outputs:
            raise CtlplaneError(f"no proxy named {proxy!r} in {model}")
        for name, files in result.only(proxy).items():
            write_tree(out / name, files)
            info(f"rendered {name}: {len(files)} file(s) in {out / name}")
    except CtlplaneError as error:
        raise fail(error, Format.text) from None
