"""The apply transaction: make one running proxy serve a release, and never lie about it.

Under the proxy's lock, the truth comes first: which processes run and which
release their workers report having loaded (plus HAProxy runtime changes
recorded for the current master). ``decide`` turns that into nothing, a
start, runtime commands or a reload. Otherwise the release is staged,
activated (the ``config`` symlink), started, changed through the runtime API
or reloaded, and verified by the new workers reporting it. On *any* failure,
Ctrl-C and SIGTERM included, the release that served before (the
last-known-good; when the proxy was down, the release it was last given) is
activated again and the proxy brought back onto it: reloaded when it serves
something else, started when nothing serves. If ctlplane itself is killed at
any point, nothing is recorded that could mislead: the next run reads what
the workers serve and converges. A caller may pass the release it planned
against (``expect``): when the proxy changed since, nothing is applied
(compare-and-swap).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from ctlplane.decide import Change, decide
from ctlplane.drivers import Driver
from ctlplane.drivers.control import Observation, Step, no_step
from ctlplane.errors import ApplyError, CtlplaneError, Finding
from ctlplane.render import Output
from ctlplane.state.releases import ReleaseStore, RuntimeRecord

Outcome = Literal["unchanged", "started", "runtime", "reloaded"]
ANY = "*any*"  # expect: apply whatever serves now
LOG_MAX_BYTES = 64 * 1024 * 1024  # a proxy log larger than this is rotated at the next apply or reconcile
LOG_KEEP = 3
KNOWN_WAIT = 15.0  # a running proxy whose workers' release cannot be read is looked at again for this long


@dataclass(frozen=True)
class ApplyResult:
    """What one apply did to one proxy."""

    proxy: str
    outcome: Outcome
    seconds: float
    release: str | None
    commands: list[str] = field(default_factory=list)

    def summary(self) -> str:
        what = {"unchanged": "unchanged", "started": "started", "reloaded": "reloaded",
                "runtime": f"{len(self.commands)} runtime change(s), no reload"}[self.outcome]
        return f"{self.proxy}: {what} ({self.seconds * 1000:.0f} ms)"

    def as_dict(self) -> dict[str, object]:
        return {"proxy": self.proxy, "outcome": self.outcome, "seconds": round(self.seconds, 4),
                "release": self.release, "commands": self.commands}


@dataclass(frozen=True)
class Planned:
    """A proxy's state now and what applying ``files`` to it would do."""

    observation: Observation
    serving: str | None  # the release the workers serve (with recorded runtime changes), None: stopped/unknown
    change: Change


class ChangedSincePlan(ApplyError):
    """The proxy did not serve what the plan saw (or could not be read as serving it): nothing was changed."""


def serving_release(store: ReleaseStore, seen: Observation) -> str | None:
    """The release the running workers serve: what they loaded, or the newer one their recorded runtime
    changes describe (only while the master that took them runs the release they were made on)."""
    if not seen.running:
        return None
    record = store.runtime_record()
    if record is not None and record.base == seen.release and record.worker == seen.master:
        return record.now
    return seen.release


def unreadable(seen: Observation) -> bool:
    """A master runs and can be driven, but which release its workers serve could not be read (a reload's
    changeover, or a listing or a worker too slow to answer under load): unknown, which is not "nothing"."""
    return seen.running and seen.release is None and not seen.problem


def observe_known(driver: Driver) -> Observation:
    """The proxy now; while its workers' release is unreadable, looked at again
    (each look already has the driver's own short patience), so that a slow read under load is not taken for a
    changed or stopped proxy. Still unreadable after KNOWN_WAIT seconds: returned as it is, unknown."""
    deadline = time.monotonic() + KNOWN_WAIT
    seen = driver.control.observe()
    while unreadable(seen) and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = driver.control.observe()
    return seen


def describe_serving(serving: str | None, seen: Observation) -> str:
    """What the proxy serves, in words for a message: the release, "nothing", or why it is unknown."""
    if serving is not None:
        return serving
    if unreadable(seen):
        return f"a release its workers did not report within {KNOWN_WAIT:g}s (master {seen.master})"
    return "nothing"


def planned_against(expect: str | None, seen: Observation | None) -> str:
    """What a plan saw serving, in words: with its observation, as :func:`describe_serving` says it."""
    if seen is None:
        return expect or "nothing or an unreadable release"
    said = describe_serving(expect, seen)
    return f"{said}: {seen.problem}" if expect is None and seen.problem else said


def plan_change(driver: Driver, files: Output) -> Planned:
    """Observe the proxy and decide how ``files`` would reach it (no change is made)."""
    seen = observe_known(driver)
    serving = serving_release(driver.store, seen)
    why = f"{len(seen.orphans)} orphaned worker(s) of a dead master are stopped first" if seen.orphans else ""
    change = decide(driver.store.read(serving), files, seen.running, driver.engine, why=why)
    return Planned(seen, serving, change)


def apply_proxy(driver: Driver, files: Output, *, expect: str | None = ANY, step: Step = no_step,
                planned_seen: Observation | None = None) -> ApplyResult:
    """Make ``driver``'s proxy serve ``files`` (already validated); raise ApplyError after a rollback. With
    ``expect`` (what the plan saw serving), a proxy serving anything else is left alone (ChangedSincePlan),
    its message saying what the plan saw (``planned_seen``, the plan's observation) and what serves now."""
    started = time.monotonic()
    with driver.store.lock():
        planned = plan_change(driver, files)
        seen = planned.observation
        if seen.problem:
            raise ApplyError(f"{driver.proxy}: {seen.problem}; nothing changed",
                             [Finding(f"{driver.proxy}: {seen.problem}; nothing changed", source=driver.engine)])
        if expect != ANY and planned.serving != expect:
            why = (f"{driver.proxy}: changed since the plan (serving {describe_serving(planned.serving, seen)}, "
                   f"planned against {planned_against(expect, planned_seen)}); nothing changed, run apply again")
            raise ChangedSincePlan(why, [Finding(why, source="driver")])
        if planned.change.kind == "none":
            if planned.serving and driver.store.active_release() != planned.serving:
                driver.store.activate(planned.serving)  # a killed run's link: a restart must load what serves
            driver.control.rotate_logs(LOG_MAX_BYTES, LOG_KEEP)
            return ApplyResult(driver.proxy, "unchanged", time.monotonic() - started, planned.serving)
        good = planned.serving or _readable(driver.store, driver.store.active_release())
        at = "stage"
        try:
            release = driver.store.stage(files)
            step("staged")
            at = "activate"
            driver.store.activate(release)
            step("activated")
            at = planned.change.kind
            outcome = _serve(driver, planned, release, step)
            step("verified")
        except BaseException as exc:
            error = _rolled_back(driver, at, exc, good, seen)
            if isinstance(exc, Exception):
                raise error from exc
            exc.add_note(error.message)  # Ctrl-C / SIGTERM / exit: rolled back, now stop as asked
            raise
        driver.store.prune({release} | ({good} if good else set()))
        driver.control.rotate_logs(LOG_MAX_BYTES, LOG_KEEP)
    return ApplyResult(driver.proxy, outcome, time.monotonic() - started, release, list(planned.change.commands))


def _readable(store: ReleaseStore, rid: str | None) -> str | None:
    return rid if store.read(rid) is not None else None


def _serve(driver: Driver, planned: Planned, release: str, step: Step) -> Outcome:
    control, seen = driver.control, planned.observation
    if planned.change.kind == "start":
        driver.store.record_runtime(None)
        control.start(release)
        return "started"
    if planned.change.kind == "runtime" and control.runtime_api is not None and seen.release and seen.master:
        control.runtime_api.send(list(planned.change.commands))
        driver.store.record_runtime(RuntimeRecord(seen.release, release, seen.master))
        return "runtime"
    control.reload(seen, release, step)
    driver.store.record_runtime(None)
    return "reloaded"


def _rolled_back(driver: Driver, at: str, exc: BaseException, good: str | None, before: Observation) -> ApplyError:
    """Go back to the last-known-good release and say what happened."""
    where = f"{driver.proxy}: {at} failed"
    cause = (exc.findings if isinstance(exc, CtlplaneError)
             else [Finding(f"{type(exc).__name__}: {exc}", source="driver")])
    reason = exc.message if isinstance(exc, CtlplaneError) else type(exc).__name__
    if at == "stage":
        return ApplyError(f"{where}: {reason}; nothing changed", cause)
    try:
        restore = _restore(driver, at, good, before)
    except CtlplaneError as second:
        failed = ApplyError(f"{where}; restore failed", [*cause, *second.findings, Finding(
            f"{where}, and restoring last-known-good failed too: {second.message}", source="driver")])
        failed.rolled_back = False
        return failed
    findings = [*cause, Finding(f"{where}: {reason}; {restore}", source="driver")]
    tail = driver.control.log_tail()
    if tail:
        findings.append(Finding("proxy log:\n" + tail, source=driver.engine))
    result = ApplyError(f"{where}; {restore}", findings)
    result.rolled_back = good is not None
    return result


def _restore(driver: Driver, at: str, good: str | None, before: Observation) -> str:
    store, control = driver.store, driver.control
    if good is None:
        if control.observe().running and not before.running:
            control.stop()  # a first start that half worked: nothing is better than an unverified release
        return "nothing to restore (first deploy)"
    restore = f"release {good} still active"
    if store.active_release() != good:
        store.activate(good)
        restore = f"restored release {good}"
    now = control.observe()
    if now.problem:
        raise ApplyError(now.problem, [Finding(now.problem, source=driver.engine)])
    if now.running and at != "runtime" and serving_release(store, now) == good:
        return restore + " (the old workers never stopped serving it)"  # reloading again would only make
        # NGINX drop its idle keep-alive connections once more
    store.record_runtime(None)
    if now.running:
        control.reload(now, good)
        return restore + " and reloaded onto it"
    control.start(good)
    return restore + " and started it"

