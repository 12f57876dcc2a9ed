"""The command-line interface: a thin typer app. Each verb lives in its own
module; this one wires them and the global options (``--version``,
``-v/--verbose``, ``-q/--quiet``; shell completion is typer's), and only the
CLI chooses exit codes and formats. Heavy packages (docker, watchdog,
pydantic, jinja2) are never imported for ``--help`` or ``--version``.
"""

from __future__ import annotations

import typer

from ctlplane.cli import (agent_cmd, apply_cmd, output, plan_cmd, render_cmd, schema_cmd, status_cmd, validate_cmd,
                          watch_cmd)

PYDANTIC_LOADER = "pydantic.plugin._loader"
PLUGINS_OFF = ("__all__", "1", "true")  # the values of PYDANTIC_DISABLE_PLUGINS that turn every plugin off

app = typer.Typer(
    name="ctlplane",
    help="One declarative model for NGINX and HAProxy: validate, render, plan, apply, status.",
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
app.command("status")(status_cmd.status)
app.command("watch")(watch_cmd.watch)
app.add_typer(agent_cmd.app, name="agent")


def version_text() -> str:
    """``ctlplane <version>``: the installed distribution's, else the source tree's."""
    from importlib import metadata

    try:
        version = metadata.version("ctlplane")
    except metadata.PackageNotFoundError:
        from ctlplane import __version__ as version
    return f"ctlplane {version}"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def global_options(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, show_default=False, help="Say more (details, error summaries)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only results and errors: no progress or warnings."),
) -> None:
    """One declarative model for NGINX and HAProxy: validate, render, plan, apply, status."""
    if verbose and quiet:
        raise typer.BadParameter("-v and -q exclude each other")
    output.set_verbosity(-1 if quiet else verbose)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    """SIGTERM acts like Ctrl-C: an apply rolls back, temporary files are removed (``watch`` stops cleanly).
    The cyclic collector is paused for the command (``gc_pause.command_paused``); ``watch``, the fleet agent and
    a fleet rollout, which run long, resume it; the process's last collection skips what lives until exit."""
    import signal

    from ctlplane.gc_pause import command_paused, freeze_at_exit

    _without_pydantic_plugins()
    signal.signal(signal.SIGTERM, _interrupt)
    freeze_at_exit()
    with command_paused():
        app()


def _without_pydantic_plugins() -> None:
    """ctlplane uses no pydantic plugin. Looking for them reads every installed distribution's metadata (about
    35 ms of a 300 ms start-up), and even with PYDANTIC_DISABLE_PLUGINS set pydantic's loader module imports
    ``importlib.metadata`` (about 12 ms). So plugins are off unless the operator set the variable, and while
    they are all off the loader is stood in for by one that finds none, which is what pydantic's own does then
    (``tests/test_cli_startup.py`` holds the two to the same answer)."""
    import os
    import sys
    import types

    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] in PLUGINS_OFF and PYDANTIC_LOADER not in sys.modules:
        loader = types.ModuleType(PYDANTIC_LOADER, "pydantic's plugin loader while plugins are off: none")
        loader.get_plugins = tuple  # type: ignore[attr-defined]
        sys.modules[PYDANTIC_LOADER] = loader
