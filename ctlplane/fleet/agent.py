"""The fleet agent on one node: join and check the release, apply it with the normal transaction, soak it
against the gate, and report through its exit status, its health check and one JSON line per event.

:func:`run` reads the release's parts (``part-<k>`` in :attr:`Settings.parts_dir`), checks them against the
digest ``CTLPLANE_RELEASE`` names, unpacks the bundle once into ``<root>/fleet/<fleet>/bundles/<digest>/``
(keys from the secrets, 0600; its ``.ctlplane`` links to the node's ``state/`` so every release drives the same
proxy container) and applies the fleet's proxies with ``apply_model`` (once more when it changed nothing
because the proxy read as changed since its plan). It then soaks for ``CTLPLANE_SOAK_MS``: the 5xx share of
each proxy's access log since the apply against before it, and healthy pools (``fleet.gate``). A failed apply
(the transaction already restored what served) or a breached gate (the agent applies the last-known-good
bundle it kept) logs ``{"event": "failed", ...}`` and raises :class:`AgentError`; success records the release
as soaked in ``agent.json`` (what :func:`check` reads, with the releases the proxies must report) and logs
``{"event": "serving", ...}`` (``proxy_reports``: per proxy the bundle its workers' config release belongs to,
see :func:`as_bundles`; ``proxy_configs``: the config releases themselves); while it serves, it keeps the
health file (:attr:`Settings.health_file`, the service's cheap HEALTHCHECK reads it) holding the release
whenever the proxies' workers report what it applied. Every effect goes through :class:`Seams` (drivers,
health, clock, sleep, log), so tests run it on the simulated host.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

from ctlplane.drivers import Driver
from ctlplane.drivers.control import Step, no_step
from ctlplane.errors import CtlplaneError, Finding
from ctlplane.fleet.bundle import join_parts, part_name, read_manifest, unpack
from ctlplane.fleet.gate import Answers, count, judge
from ctlplane.health import ProxyHealth
from ctlplane.model.fleet import Gate
from ctlplane.model.load import Loaded
from ctlplane.model.root import Model

if TYPE_CHECKING:
    from ctlplane.transaction import ApplyResult

RELEASE_DIR = Path("/run/ctlplane/release")
SECRETS_DIR = Path("/run/secrets")
ROOT = Path("/var/lib/ctlplane")
STATUS_FILE = "agent.json"
BASELINE_BYTES = 256 * 1024  # the access log before an apply is judged on its last 256 KiB
APPLY_TRIES = 2  # an apply that changed nothing because the proxy read as changed since its plan is tried again
MISSES = 2  # consecutive looks at proxies that do not report the release before the health file goes
_PART = re.compile(r"part-([1-9][0-9]{0,3})")
_DIGEST = re.compile(r"[0-9a-f]{64}")


class AgentError(CtlplaneError):
    """The agent could not make its node serve the release (the node serves last-known-good, if it has one)."""


@dataclass(frozen=True)
class Settings:
    """What one agent run is about, from its environment (``from_env``) and options."""

    fleet: str
    node: str
    release: str
    soak_ms: int = 0
    gate: Gate = field(default_factory=Gate)
    parts_dir: Path = RELEASE_DIR
    secrets_dir: Path = SECRETS_DIR
    root: Path = ROOT
    part_shas: tuple[str, ...] | None = None
    health_file: Path | None = None  # holds the release while the proxies serve it (None: not kept)

    @property
    def home(self) -> Path:
        return self.root / "fleet" / self.fleet

    def bundle_dir(self, digest: str) -> Path:
        return self.home / "bundles" / digest


def settings_from_env(env: Mapping[str, str], **paths: Path) -> Settings:
    """The settings the controller gives an agent service: CTLPLANE_FLEET, CTLPLANE_NODE, CTLPLANE_RELEASE,
    CTLPLANE_SOAK_MS, CTLPLANE_GATE (JSON) and, optionally, CTLPLANE_PARTS (JSON list of the parts' sha256)."""
    missing = [k for k in ("CTLPLANE_FLEET", "CTLPLANE_NODE", "CTLPLANE_RELEASE") if not env.get(k)]
    if missing:
        raise AgentError("the agent's environment is incomplete", [Finding(f"{k} is not set", source="fleet")
                                                                   for k in missing])
    release = env["CTLPLANE_RELEASE"]
    try:
        if not _DIGEST.fullmatch(release):
            raise ValueError(f"CTLPLANE_RELEASE {release[:80]!r} is not a sha256 digest")
        gate = Gate.model_validate_json(env.get("CTLPLANE_GATE") or "{}")
        soak = int(env.get("CTLPLANE_SOAK_MS") or 0)
        shas = tuple(json.loads(env["CTLPLANE_PARTS"])) if env.get("CTLPLANE_PARTS") else None
    except ValidationError as exc:
        problems = [f"CTLPLANE_GATE: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise AgentError("the agent's environment is invalid", [Finding(p, source="fleet") for p in problems]) from exc
    except ValueError as exc:
        raise AgentError("the agent's environment is invalid", [Finding(str(exc).splitlines()[0][:300],
                                                                        source="fleet")]) from exc
    return Settings(env["CTLPLANE_FLEET"], env["CTLPLANE_NODE"], release, soak, gate, part_shas=shas, **paths)


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


def read_status(settings: Settings) -> dict[str, Any]:
    """What the agent last recorded on this node ({} before its first run)."""
    try:
        data = json.loads((settings.home / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_status(settings: Settings, **record: Any) -> None:
    from ctlplane.state.fsio import write_atomic

    write_atomic(settings.home / STATUS_FILE, json.dumps(record, sort_keys=True).encode() + b"\n", dir_mode=0o755)


def fetch(settings: Settings) -> Path:
    """The release's model directory on this node: the parts joined and checked, unpacked once."""
    final = settings.bundle_dir(settings.release)
    if (final / "model.yaml").is_file():
        return final
    found = sorted((int(m.group(1)), p) for p in _listing(settings.parts_dir) if (m := _PART.fullmatch(p.name)))
    if [k for k, _ in found] != list(range(1, len(found) + 1)) or not found:
        raise AgentError("the release's parts are incomplete", [Finding(
            f"{settings.parts_dir} holds parts {[k for k, _ in found]}, not part-1 ... part-n", source="fleet")])
    shas = settings.part_shas if settings.part_shas and len(settings.part_shas) == len(found) else None
    n = len(found)
    tar = join_parts([(part_name(settings.fleet, settings.release, k, n), p.read_bytes(), shas[k - 1] if shas else None)
                      for k, p in found], settings.release)
    secrets = {}
    for entry in read_manifest(tar).get("secrets", {}).values():
        path = settings.secrets_dir / str(entry["secret"])
        if path.is_file():
            secrets[str(entry["secret"])] = path.read_bytes()
    (settings.home / "state").mkdir(mode=0o755, parents=True, exist_ok=True)
    final.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    staging = final.with_name(f".unpack-{settings.release[:16]}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    unpack(tar, secrets, staging)
    (staging / ".ctlplane").symlink_to(settings.home / "state")
    os.rename(staging, final)
    return final


def _listing(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except OSError as exc:
        raise AgentError("the release's parts cannot be read", [Finding(f"{directory}: {exc.strerror}",
                                                                        source="fleet")]) from exc


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


def _prune(settings: Settings, keep: set[str | None]) -> None:
    """Remove the bundles other than the serving and last-known-good ones."""
    bundles = settings.home / "bundles"
    for path in bundles.iterdir() if bundles.is_dir() else []:
        if _DIGEST.fullmatch(path.name) and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


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
