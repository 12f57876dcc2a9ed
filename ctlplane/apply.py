"""Apply: make one running proxy match its rendered files, as a small transaction.

Under the proxy's lock: if the active release already holds these bytes and
the proxy runs, nothing happens (no reload, same PIDs). Otherwise the new
release is staged, activated atomically, and then the proxy is started,
changed through its runtime API (HAProxy, when only server weights/states
differ), or reloaded and verified. On any failure the previous release —
the last-known-good — is activated again and the proxy reloaded onto it,
and the error says which step failed and whether the restore worked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from ctlplane.drivers.base import Driver, Generation
from ctlplane.errors import ApplyError, CtlplaneError, Finding
from ctlplane.render import Output
from ctlplane.runtime_plan import runtime_commands

Outcome = Literal["unchanged", "started", "runtime", "reloaded"]


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


def apply_proxy(driver: Driver, files: Output) -> ApplyResult:
    """Make ``driver``'s proxy serve ``files`` (already validated); raise ApplyError after a rollback."""
    started = time.monotonic()
    with driver.store.lock():
        deployed = driver.store.deployed()
        before = driver.control.generation()
        new = {rel: f.content for rel, f in files.items()}
        if deployed == new and before.running:
            return ApplyResult(driver.proxy, "unchanged", time.monotonic() - started, driver.store.active_release())
        commands = runtime_commands(driver.engine, deployed, new) if before.running else None
        previous = driver.store.active_release()
        step = "stage"
        try:
            release = driver.store.stage(files)
            step = "activate"
            driver.store.activate(release)
            step = "start" if not before.running else "reload" if commands is None else "runtime"
            outcome = _serve(driver, before, commands)
        except CtlplaneError as error:
            if step == "stage":  # nothing was activated: the proxy never saw the new files
                raise ApplyError(f"{driver.proxy}: staging the release failed; nothing changed",
                                 error.findings) from None
            raise _rolled_back(driver, step, error, previous, before) from None
        driver.store.prune({release} | ({previous} if previous else set()))
    return ApplyResult(driver.proxy, outcome, time.monotonic() - started, release, commands or [])


def _serve(driver: Driver, before: Generation, commands: list[str] | None) -> Outcome:
    if not before.running:
        driver.control.start()
        return "started"
    if commands is not None:
        driver.control.runtime(commands)
        return "runtime"
    driver.control.reload(before)
    return "reloaded"


def _rolled_back(driver: Driver, step: str, error: CtlplaneError, previous: str | None,
                 before: Generation) -> ApplyError:
    """Go back to the last-known-good release and say what happened."""
    where = f"{driver.proxy}: {step} failed"
    try:
        if previous is None:
            restore = "nothing to restore (first deploy)"
        elif driver.store.active_release() != previous:
            driver.store.activate(previous)
            restore = f"restored release {previous}"
        else:
            restore = f"release {previous} still active"
        now = driver.control.generation()
        if step == "activate":
            pass  # the processes never saw the new release
        elif step == "reload" and now.running and not now.workers - before.workers:
            restore += " (the old workers never stopped serving it)"  # rejected reload: reloading again would
            # only make NGINX drop its idle keep-alive connections once more
        elif before.running:
            if now.running:
                driver.control.reload(now)
                restore += " and reloaded onto it"
            else:
                driver.control.start()
                restore += " and started it again"
        elif driver.control.generation().running:
            driver.control.stop()
    except CtlplaneError as second:
        findings = [*error.findings, *second.findings,
                    Finding(f"{where}, and restoring last-known-good failed too: {second.message}", source="driver")]
        failed = ApplyError(f"{where}; restore failed", findings)
        failed.rolled_back = False
        return failed
    tail = driver.control.log_tail()
    findings = [*error.findings, Finding(f"{where}: {error.message}; {restore}", source="driver")]
    if tail:
        findings.append(Finding("proxy log:\n" + tail, source=driver.engine))
    result = ApplyError(f"{where}; {restore}", findings)
    result.rolled_back = True
    return result


def apply_model(path: str, *, proxies: list[str] | None = None, strict_binaries: bool = True) -> list[ApplyResult]:
    """Load, validate (both stages) and apply a model file to every proxy (or the named ones), in model order.

    The members of an HA pair are applied rolling, at the place of the pair's first member: the node that
    holds no virtual IP first, verified serving, then the other (``ctlplane.pairs``). Results come in the
    order the proxies were applied. Raises ModelError / ConfigTestError before anything is touched,
    ApplyError after a rollback. Proxies before a failed one keep their new configuration; later ones are
    not touched.
    """
    from ctlplane.drivers import driver_for
    from ctlplane.pairs import apply_groups, apply_pair
    from ctlplane.pipeline import binary_check, build, require_clean

    result = build(path)
    model = result.loaded.model
    names = [p.name for p in model.proxies if proxies is None or p.name in proxies]
    findings = [f for name in names for f in binary_check(result, name)]
    require_clean(findings, allow_skipped=not strict_binaries)
    applied: list[ApplyResult] = []
    for group in apply_groups(model, names):
        if isinstance(group, str):
            applied.append(apply_proxy(driver_for(result.loaded, group), result.outputs[group]))
            continue
        drivers = {n.proxy: driver_for(result.loaded, n.proxy) for n in group.nodes if n.proxy in names}
        applied += apply_pair(model, group, drivers, result.outputs, apply_proxy)
    return applied
