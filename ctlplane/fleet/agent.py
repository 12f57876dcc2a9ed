"""The fleet agent on one node: join and check the release, apply it with the normal transaction, soak it
against the gate, and report through its exit status, its health check and one JSON line per event.

:func:`run` reads the release's parts (``part-<k>`` in :attr:`Settings.parts_dir`), checks them against the
digest ``CTLPLANE_RELEASE`` names, unpacks the bundle once into ``<root>/fleet/<fleet>/bundles/<digest>/`` (keys
from the secrets, 0600; its ``.ctlplane`` links to the node's ``state/`` so every release drives the same proxy
container; see ``agent_files``) and applies the fleet's proxies with ``apply_model`` (once more when it changed
nothing because the proxy read as changed since its plan). It then soaks for ``CTLPLANE_SOAK_MS``: the 5xx share
of each proxy's access log since the apply against before it, and healthy pools (``fleet.gate``). A failed apply
(the transaction already restored what served) or a breached gate (the agent applies the last-known-good bundle
it kept) logs ``{"event": "failed", ...}`` and raises :class:`AgentError`; success records the release as soaked
in ``agent.json`` (what :func:`check` reads, with the releases the proxies must report) and logs ``{"event":
"serving", ...}`` (``proxy_reports``: per proxy the bundle its workers' config release belongs to, see
:func:`as_bundles`; ``proxy_configs``: the config releases themselves); while it serves, it keeps the health
file (:attr:`Settings.health_file`, the service's cheap HEALTHCHECK reads it) holding the release whenever the
proxies' workers report what it applied. Every effect goes through :class:`Seams` (drivers, health, clock,
sleep, log), so tests run it on the simulated host.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ctlplane.drivers import Driver
from ctlplane.drivers.control import Step, no_step
from ctlplane.errors import CtlplaneError, Finding
from ctlplane.fleet.agent_files import (AgentError, Settings, _prune, _write_status, fetch, read_status,
                                        settings_from_env)
from ctlplane.fleet.gate import Answers, count, judge
from ctlplane.health import ProxyHealth
from ctlplane.model.load import Loaded
from ctlplane.model.root import Model

if TYPE_CHECKING:
    from ctlplane.transaction import ApplyResult

__all__ = ["AgentError", "Seams", "Settings", "check", "fetch", "proxy_reports", "read_status", "run",
           "settings_from_env"]

BASELINE_BYTES = 256 * 1024  # the access log before an apply is judged on its last 256 KiB
APPLY_TRIES = 2  # an apply that changed nothing because the proxy read as changed since its plan is tried again
MISSES = 2  # consecutive looks at proxies that do not report the release before the health file goes


def _log_nothing(event: dict[str, object]) -> None:
    return None


@dataclass
class Seams:
    """The agent's effects: proxy drivers (None: the real ones), pool health, time and its event log."""

    driver: Callable[[Loaded, str], Driver] | None = None
    health: Callable[[Driver, Model], ProxyHealth] | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    log: Callable[[dict[str, object]], None] = _log_nothing
    strict_binaries: bool = True
    step: Step = no_step  # the transaction's step observer (a test hook: ctlplane.fleet.pause)

    def drivers(self, loaded: Loaded) -> dict[str, Driver]:
        from ctlplane.drivers import driver_for

        proxies = loaded.model.fleet.proxies if loaded.model.fleet else []
        return {name: (self.driver or driver_for)(loaded, name) for name in proxies}

    def pool_health(self, driver: Driver, model: Model) -> ProxyHealth:
        from ctlplane.health import proxy_health

        return (self.health or proxy_health)(driver, model)


def access_log(driver: Driver) -> Path:
    from ctlplane.drivers.haproxy import LOG
    from ctlplane.drivers.nginx import LOGS

    return driver.control.state_dir / (LOG if driver.engine == "haproxy" else LOGS[1])


def proxy_reports(drivers: Mapping[str, Driver]) -> dict[str, str | None]:
    """The release each proxy's workers themselves report serving (as ``ctlplane status`` reads it)."""
    from ctlplane.transaction import serving_release

    reports: dict[str, str | None] = {}
    for name, driver in drivers.items():
        try:
            reports[name] = serving_release(driver.store, driver.control.observe())
        except CtlplaneError:
            reports[name] = None
    return reports


def run(settings: Settings, seams: Seams, *, serve: Callable[[], bool] | None = None) -> None:
    """Apply, soak and report the release; raise AgentError after restoring last-known-good. With ``serve``,
    keep logging ``serving`` lines while it returns True."""
    from ctlplane.model.load import load_file

    record = read_status(settings)
    lkg = record.get("lkg") if isinstance(record.get("lkg"), str) else None
    _mark_healthy(settings, False)
    _write_status(settings, release=settings.release, state="applying", lkg=lkg)
    try:
        directory = fetch(settings)
        loaded = load_file(directory / "model.yaml")
        if loaded.model.fleet is None or loaded.model.fleet.name != settings.fleet:
            raise AgentError("not this fleet's release", [Finding(f"the release's model is not fleet "
                                                                  f"{settings.fleet!r}", source="fleet")])
        proxies = list(loaded.model.fleet.proxies)
        drivers = seams.drivers(loaded)
        offsets = {n: d.control.host.size(access_log(d)) for n, d in drivers.items()}
        before = sum((count(d.control.host.read_since(access_log(d), max(0, offsets[n] - BASELINE_BYTES)))
                      for n, d in drivers.items()), Answers())
        results = _apply(settings, seams, directory / "model.yaml", proxies)
    except CtlplaneError as error:
        _fail(settings, seams, lkg, lkg, f"apply failed: {_one_line(error)}", error)
    seams.log({"event": "applied", "node": settings.node, "release": settings.release,
               "outcomes": {r.proxy: r.outcome for r in results}})
    expected = {r.proxy: r.release for r in results}
    breach = _soak(settings, seams, loaded.model, drivers, offsets, before)
    if breach is not None:
        serving = _restore(settings, seams, lkg, proxies)
        _fail(settings, seams, lkg, serving, f"gate breached during the soak: {breach}", None)
    _write_status(settings, release=settings.release, state="soaked", lkg=settings.release, previous=lkg,
                  expected=expected)
    _prune(settings, {settings.release, lkg})
    misses = 0
    while True:
        reports = proxy_reports(drivers)
        misses = 0 if all(reports.get(n) == want for n, want in expected.items()) else misses + 1
        _mark_healthy(settings, misses < MISSES)
        seams.log({"event": "serving", "node": settings.node, "release": settings.release,
                   "proxy_reports": as_bundles(settings.release, reports, expected), "proxy_configs": reports})
        if serve is None or not serve():
            return


def as_bundles(release: str, reports: Mapping[str, str | None],
               expected: Mapping[str, str | None]) -> dict[str, str | None]:
    """What each proxy reports, in the fleet's terms: ``release`` (the bundle digest) when its workers report the
    config release this bundle gave it, else ``config <id>`` of what they do report (None: nothing readable).
    The fleet's status compares these with the bundle a node should serve."""
    out: dict[str, str | None] = {}
    for name, want in expected.items():
        got = reports.get(name)
        out[name] = release if got == want else (f"config {got}" if got else None)
    return out


def _mark_healthy(settings: Settings, healthy: bool) -> None:
    """Keep the health file holding the release (healthy) or remove it."""
    from ctlplane.state.fsio import write_atomic

    if settings.health_file is None:
        return
    if healthy:
        write_atomic(settings.health_file, settings.release.encode() + b"\n", dir_mode=0o755)
    else:
        settings.health_file.unlink(missing_ok=True)


def _apply(settings: Settings, seams: Seams, model: Path, proxies: list[str]) -> list[ApplyResult]:
    """``apply_model``, tried once more when it changed nothing because the proxy could not be read as serving
    what its plan saw a moment before (a busy worker under load): the agent is the node's only writer, so the
    second look decides."""
    from ctlplane.apply import apply_model
    from ctlplane.transaction import ChangedSincePlan

    for attempt in range(APPLY_TRIES):
        try:
            return apply_model(model, proxies=proxies, strict_binaries=seams.strict_binaries, driver=seams.driver,
                               step=seams.step)
        except ChangedSincePlan as error:
            if attempt == APPLY_TRIES - 1:
                raise
            seams.log({"event": "retry", "node": settings.node, "release": settings.release,
                       "reason": _one_line(error)})
            seams.sleep(1.0)
    raise AssertionError("unreachable")


def _soak(settings: Settings, seams: Seams, model: Model, drivers: Mapping[str, Driver],
          offsets: Mapping[str, int], before: Answers) -> str | None:
    end = seams.clock() + settings.soak_ms / 1000
    while True:
        since = sum((count(d.control.host.read_since(access_log(d), offsets[n])) for n, d in drivers.items()),
                    Answers())
        unhealthy = []
        if settings.gate.pools_healthy:
            for name, driver in drivers.items():
                found = seams.pool_health(driver, model)
                if not found.healthy and not found.pending:
                    unhealthy.append(f"{name}: {found.summary()}")
        breach = judge(settings.gate, before, since, unhealthy)
        left = end - seams.clock()
        if breach is not None or left <= 0:
            return breach
        seams.sleep(min(1.0, left))


def _restore(settings: Settings, seams: Seams, lkg: str | None, proxies: list[str]) -> str | None:
    """Apply the last-known-good bundle kept on disk; the release now serving (the new one if there is none)."""
    from ctlplane.apply import apply_model

    if lkg is None or lkg == settings.release or not (settings.bundle_dir(lkg) / "model.yaml").is_file():
        return settings.release
    try:
        apply_model(settings.bundle_dir(lkg) / "model.yaml", proxies=proxies, strict_binaries=seams.strict_binaries,
                    driver=seams.driver)
    except CtlplaneError as error:
        seams.log({"event": "restore-failed", "node": settings.node, "release": lkg, "reason": _one_line(error)})
        return settings.release
    return lkg


def _fail(settings: Settings, seams: Seams, lkg: str | None, serving: str | None, reason: str,
          cause: CtlplaneError | None) -> NoReturn:
    _write_status(settings, release=settings.release, state="failed", lkg=lkg, serving=serving, reason=reason)
    seams.log({"event": "failed", "node": settings.node, "release": settings.release, "serving": serving,
               "reason": reason})
    error = AgentError(reason, list(cause.findings) if cause else [Finding(reason, source="fleet")])
    if cause is not None:
        raise error from cause
    raise error


def _one_line(error: CtlplaneError) -> str:
    first = error.findings[0].one_line() if error.findings else ""
    return f"{error.message}: {first}"[:500] if first else error.message[:500]


def check(settings: Settings, seams: Seams) -> tuple[bool, str]:
    """Whether this node serves ``settings.release``: soaked, and every proxy's workers report what it applied."""
    record = read_status(settings)
    if record.get("release") != settings.release or record.get("state") != "soaked":
        return False, f"release {settings.release[:16]} is {record.get('state', 'not applied')} on this node"
    from ctlplane.model.load import load_file

    loaded = load_file(settings.bundle_dir(settings.release) / "model.yaml")
    reports = proxy_reports(seams.drivers(loaded))
    expected = record.get("expected", {})
    wrong = [f"{name} serves {reports.get(name)}, not {want}" for name, want in expected.items()
             if reports.get(name) != want]
    return (not wrong, "; ".join(wrong) or "serving")
