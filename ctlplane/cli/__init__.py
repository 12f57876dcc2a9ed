"""The command-line interface: a thin typer app. Each verb lives in its own
module; this one wires them, and only the CLI chooses exit codes and formats.
Heavy packages (docker, watchdog) are never imported for ``--help``.
"""

from __future__ import annotations

import typer

from ctlplane.cli import apply_cmd, plan_cmd, render_cmd, schema_cmd, validate_cmd, watch_cmd

app = typer.Typer(
    name="ctlplane",
    help="One declarative model for NGINX and HAProxy: validate, render, plan, apply.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
app.command("validate")(validate_cmd.validate)
app.command("render")(render_cmd.render)
app.command("plan")(plan_cmd.plan)
app.command("schema")(schema_cmd.schema)
app.command("apply")(apply_cmd.apply)
app.command("down")(apply_cmd.down)
app.command("watch")(watch_cmd.watch)


def main() -> None:
    app()
