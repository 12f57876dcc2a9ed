"""``ctlplane agent run``, ``agent retire`` and ``agent check``: the fleet agent on a node (``ctlplane.fleet.agent``).

Swarm starts ``agent run`` as one service per node with the release's parts and keys mounted and the release
named in its environment (CTLPLANE_FLEET, CTLPLANE_NODE, CTLPLANE_RELEASE, CTLPLANE_SOAK_MS, CTLPLANE_GATE,
CTLPLANE_PARTS: the sha256 of each part, so that a corrupted part is refused by name).
It prints one JSON object per line (``applied``, ``serving`` every few seconds while healthy, ``failed``) and
exits 1 when the node could not take the release (it then serves last-known-good); while it serves, it keeps
the release in a health file (``--health-file``) that the service's HEALTHCHECK tests every second without
starting Python. ``agent retire`` is the last task of a node that left the fleet: it stops and removes the
node's proxies (``ctlplane.fleet.retire``). ``agent check`` is the same question asked in full, for an
operator: exit 0 only once the release soaked and the proxies' workers report serving it. The directories
default to the ones the service mounts and can be moved for tests (options or environment).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import typer

from ctlplane.cli.output import Format, fail
from ctlplane.errors import CtlplaneError

app = typer.Typer(help="The fleet agent on a Swarm node (started by the fleet controller).", no_args_is_help=True)
SERVING_EVERY = 5.0

PARTS = typer.Option(Path("/run/ctlplane/release"), "--parts", envvar="CTLPLANE_RELEASE_DIR",
                     help="Directory of the release's parts (part-1 ... part-n).")
SECRETS = typer.Option(Path("/run/secrets"), "--secrets", envvar="CTLPLANE_SECRETS_DIR",
                       help="Directory of the release's key secrets.")
HEALTH = typer.Option(Path("/run/ctlplane/healthy"), "--health-file", envvar="CTLPLANE_HEALTH_FILE",
                      help="File that holds the release while the proxies serve it (the service's healthcheck).")
ROOT = typer.Option(Path("/var/lib/ctlplane"), "--root", envvar="CTLPLANE_AGENT_ROOT",
                    help="The node-local state root (bundles and proxies under fleet/<fleet>/).")


def _emit(event: dict[str, object]) -> None:
    typer.echo(json.dumps(event, sort_keys=True))


@app.command("run")
def run(parts: Path = PARTS, secrets: Path = SECRETS, root: Path = ROOT, health_file: Path = HEALTH,
        once: bool = typer.Option(False, "--once", help="Exit 0 after the soak instead of serving on.")) -> None:
    """Apply the release to this node's proxies, soak it against the gate, then keep reporting it."""
    from ctlplane.fleet.agent import Seams, run as run_agent, settings_from_env
    from ctlplane.fleet.pause import pause_step
    from ctlplane.gc_pause import resume_for_long_run

    resume_for_long_run()

    def serve() -> bool:
        time.sleep(SERVING_EVERY)
        return True

    try:
        settings = settings_from_env(os.environ, parts_dir=parts, secrets_dir=secrets, root=root,
                                     health_file=health_file)
        step = pause_step(os.environ, settings.home, _emit, time.sleep, time.monotonic)  # test hook, off unless set
        run_agent(settings, Seams(log=_emit, step=step), serve=None if once else serve)
    except CtlplaneError as error:
        raise fail(error, Format.text) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command("retire")
def retire(parts: Path = PARTS, secrets: Path = SECRETS, root: Path = ROOT) -> None:
    """Stop and remove this node's fleet proxies: the node no longer matches the fleet's selector."""
    from ctlplane.fleet.agent import Seams, settings_from_env
    from ctlplane.fleet.retire import retire as retire_node

    try:
        retire_node(settings_from_env(os.environ, parts_dir=parts, secrets_dir=secrets, root=root), Seams(log=_emit))
    except CtlplaneError as error:
        raise fail(error, Format.text) from None


@app.command("check")
def check(root: Path = ROOT) -> None:
    """Exit 0 when this node serves CTLPLANE_RELEASE (soaked, and reported by the proxies), 1 otherwise."""
    from ctlplane.fleet.agent import Seams, check as check_agent, settings_from_env

    try:
        ok, why = check_agent(settings_from_env(os.environ, root=root), Seams())
    except CtlplaneError as error:
        raise fail(error, Format.text) from None
    typer.echo(why, err=not ok)
    if not ok:
        raise typer.Exit(1)
