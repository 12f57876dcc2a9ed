"""``ctlplane watch MODEL``: apply now, then again whenever the model or a file
it references changes; keep serving the last good configuration through bad
saves. This module prints each cycle (one line per proxy, errors as
``error: file:line:col: ...`` on stderr), turns SIGINT/SIGTERM into a clean
stop, and chooses the exit codes (0 on a signal; with ``--once``, 1 when the
apply failed). The loop itself is ``ctlplane.watch_loop``; watchdog is
imported only once the command runs.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ctlplane.cli.output import colour, finding_line, info
from ctlplane.watch import MAX_WAIT, QUIET, RECONCILE

if TYPE_CHECKING:
    from ctlplane.apply import Prepared
    from ctlplane.watch_loop import Cycle


def watch(
    model: Path = typer.Argument(..., help="The model file (YAML)."),
    quiet_period: float = typer.Option(QUIET, "--quiet-period", min=0.0,
                                       help="Seconds without changes before applying."),
    max_wait: float = typer.Option(MAX_WAIT, "--max-wait", min=0.0,
                                   help="Apply at least this often (seconds) while changes keep coming."),
    once: bool = typer.Option(False, "--once", help="Apply once and exit (1 when the apply failed)."),
    reconcile: float = typer.Option(RECONCILE, "--reconcile", min=0.0,
                                    help="Without changes, check the proxies this often (seconds; 0: never): one "
                                    "that was stopped by hand is started again."),
) -> None:
    """Apply MODEL, then re-apply whenever it or a certificate/key it references changes, and, for pools that
    discover members, whenever Docker's events say containers changed."""
    from ctlplane.watch_loop import Planner, apply_once, run_watch

    if once:
        cycle = apply_once(str(model))
        show_cycle(cycle)
        if cycle.error is not None:
            raise typer.Exit(1)
        return
    from ctlplane.discovery.watching import DockerEvents
    from ctlplane.gc_pause import resume_for_long_run

    resume_for_long_run()
    docker = DockerEvents()  # follows Docker's events only while the model discovers pool members

    told: set[str] = set()

    def notes(prepared: Prepared) -> None:
        from ctlplane.discovery.report import excluded_findings

        found = excluded_findings(prepared.build.loaded, prepared.build.discovered) + list(prepared.build.notes)
        for note in found:  # a container left out (an OCSP warning) is told once, not at every apply
            if note.one_line() not in told:
                _err(f"warning: {finding_line(note)}", "yellow")
        told.clear()
        told.update(n.one_line() for n in found)

    planner = Planner(discovery=docker.source, notes=notes)
    stop = threading.Event()
    with stop_on_signals(stop):
        run_watch(str(model), stop=stop, report=_reporter(), quiet=quiet_period, max_wait=max_wait,
                  reconcile=reconcile, apply=planner.apply, referenced=planner.referenced, events=docker)
    typer.echo("watch: stopped")


def _reporter() -> Callable[[Cycle], None]:
    """show_cycle, plus a line whenever the set of watched directories changes."""
    last: list[tuple[str, ...]] = [()]

    def report(cycle: Cycle) -> None:
        if cycle.watching != last[0]:
            last[0] = cycle.watching
            info(f"watching: {', '.join(cycle.watching)}")
        show_cycle(cycle)

    return report


def show_cycle(cycle: Cycle) -> None:
    """Print one cycle: what triggered it, one line per proxy, or the located error."""
    routine = cycle.trigger == "reconcile"
    if cycle.trigger not in ("start", "reconcile"):
        info(f"changed: {cycle.trigger}")
    for directory in cycle.unwatchable:
        _err(f"warning: cannot watch {directory} (missing?)", "yellow")
    for result in cycle.results:
        if not (routine and result.outcome == "unchanged"):
            typer.echo(result.summary())
    if cycle.error is not None:
        lines = [finding_line(f) for f in cycle.error.findings] or [cycle.error.message]
        for line in lines:
            _err(f"error: {line}", "red")
        _err("watch: the proxies keep their last good configuration; waiting for the next change", None)


def _err(text: str, fg: str | None) -> None:
    typer.secho(text, err=True, fg=fg if colour() else None)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (the current apply finishes first); a second signal acts as usual."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: Any) -> None:
        stop.set()
        for sig, old in previous.items():
            signal.signal(sig, old)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
