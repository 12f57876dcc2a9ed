"""``apply`` and ``down`` for a whole model: validate, plan, then apply proxy by proxy.

:func:`prepare` builds the model (or takes a built one), runs the real
binaries' config tests, and plans every selected proxy (what serves now, what
would change). :func:`apply_prepared` applies the plan in model order, each
proxy as a transaction (``transaction.apply_proxy``) that is a compare-and-swap
on what was planned: when a proxy changed between the plan and its turn (a
concurrent apply), it is left alone with a clear error. The two members of an
HA pair are applied rolling under the pair's one lock (``pairs``). Results are
reported as they come, so the CLI can print them. :func:`down_model` stops
proxies under the same locks, so a rollback never restarts what ``down`` just
stopped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ctlplane.decide import Change
from ctlplane.drivers import Driver, driver_for
from ctlplane.drivers.control import Step, no_step
from ctlplane.errors import ModelError
from ctlplane.gc_pause import paused_gc
from ctlplane.model.assets import worker_reach
from ctlplane.model.load import Loaded
from ctlplane.pipeline import Build, binary_check, build, require_clean
from ctlplane.render import Output
from ctlplane.state.locks import file_lock
from ctlplane.state.paths import proxy_dir
from ctlplane.transaction import ApplyResult, Planned, apply_proxy, plan_change

if TYPE_CHECKING:
    from ctlplane.discovery import Source
    from ctlplane.ocsp import Responder


def docker_discovery(discovery: Source | None) -> Source:
    """``discovery``, or the Docker engine DOCKER_HOST names (only asked when the model discovers members)."""
    if discovery is not None:
        return discovery
    from ctlplane.discovery.docker import DockerSource

    return DockerSource()


def ocsp_responder(ocsp: Responder | None) -> Responder:
    """``ocsp``, or the network (asked only for certificates to staple whose response is due)."""
    if ocsp is not None:
        return ocsp
    from ctlplane.ocsp.responder import HttpResponder

    return HttpResponder()


@dataclass(frozen=True)
class Prepared:
    """A built, binary-checked model and the plan of each selected proxy."""

    build: Build
    names: tuple[str, ...]
    drivers: dict[str, Driver]
    plans: dict[str, Planned]

    @property
    def changed(self) -> bool:
        return any(p.change.kind != "none" for p in self.plans.values())


@paused_gc
def prepare(source: str | Path | Build, *, proxies: list[str] | None = None, strict_binaries: bool = True,
            progress: Callable[[str], None] | None = None, discovery: Source | None = None,
            ocsp: Responder | None = None, driver: Callable[[Loaded, str], Driver] | None = None) -> Prepared:
    """Load (unless built already) with the members of discovered pools (``discovery``, by default the Docker
    engine) and the OCSP responses to staple (``ocsp``, by default asked over the network), check that the
    workers can read what they serve on this machine, plan, and have the real binaries check what will reach a
    proxy; raise before anything is touched. ``driver`` builds each proxy's driver (``driver_for`` by default;
    a fleet agent's tests give fakes)."""
    built = source if isinstance(source, Build) else build_for_apply(source, progress, discovery, ocsp)
    names = tuple(p.name for p in built.loaded.model.proxies if not proxies or p.name in proxies)
    unreachable = worker_reach(built.loaded, built.assets, names)
    if unreachable:
        raise ModelError("the proxies' workers cannot read what they serve", unreachable)
    drivers = {name: (driver or driver_for)(built.loaded, name) for name in names}
    plans = {name: plan_change(drivers[name], built.outputs[name]) for name in names}
    checked = [name for name in names if needs_binary_check(plans[name].change)]
    require_clean([f for name in checked for f in binary_check(built, name)], allow_skipped=not strict_binaries)
    return Prepared(built, names, drivers, plans)


def build_for_apply(source: str | Path, progress: Callable[[str], None] | None = None,
                    discovery: Source | None = None, ocsp: Responder | None = None) -> Build:
    """The build apply works from: discovered pools' members from the Docker engine and OCSP responses asked for
    unless given."""
    return build(source, progress, docker_discovery(discovery), ocsp_responder(ocsp))


def needs_binary_check(change: Change) -> bool:
    """Whether the real binary must judge the new files before they reach the proxy: not when they are the
    release it already serves, nor when only server weights, states or limits change, servers leave or
    servers join at an IP address (runtime commands on a config whose every other line is the serving one,
    already judged; HAProxy's runtime parser judges an added server's line, and a later start or reload
    judges the whole file). A new server named by a host name (the binary might not resolve it) or anything
    else is checked."""
    if change.kind == "none":
        return False
    return change.kind != "runtime" or any(c.startswith("add server ") and not _ip_literal(c.split()[3])
                                           for c in change.commands)


def _ip_literal(address: str) -> bool:
    """Whether ``host:port`` (``[v6]:port`` for IPv6) names its host by an IP address."""
    import ipaddress

    try:
        ipaddress.ip_address(address.rsplit(":", 1)[0].removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return True


@paused_gc
def apply_prepared(prepared: Prepared, *, report: Callable[[ApplyResult], None] | None = None,
                   step: Step = no_step) -> list[ApplyResult]:
    """Apply every planned proxy in model order (pairs rolling); raise ApplyError at the first failure."""
    from ctlplane.pairs import apply_groups, apply_pair, pair_lock_path

    model, outputs = prepared.build.loaded.model, prepared.build.outputs
    results: list[ApplyResult] = []

    def apply_one(driver: Driver, files: Output) -> ApplyResult:
        plan = prepared.plans[driver.proxy]
        result = apply_proxy(driver, files, expect=plan.serving, step=step, planned_seen=plan.observation)
        results.append(result)
        if report is not None:
            report(result)
        return result

    for group in apply_groups(model, list(prepared.names)):
        if isinstance(group, str):
            apply_one(prepared.drivers[group], outputs[group])
            continue
        members = {n.proxy: prepared.drivers[n.proxy] for n in group.nodes if n.proxy in prepared.drivers}
        state_dirs = {n.proxy: proxy_dir(prepared.build.loaded, n.proxy).resolve() for n in group.nodes}
        apply_pair(model, group, members, outputs, apply_one, pair_lock_path(state_dirs, group))
    return results


def apply_model(source: str | Path | Build, *, proxies: list[str] | None = None, strict_binaries: bool = True,
                step: Step = no_step, discovery: Source | None = None, ocsp: Responder | None = None,
                driver: Callable[[Loaded, str], Driver] | None = None) -> list[ApplyResult]:
    """Validate (both stages), plan and apply a model to every proxy (or the named ones), in model order.

    Raises ModelError / ConfigTestError before anything is touched, ApplyError after a rollback. Proxies
    before a failed one keep their new configuration; later ones are not touched.
    """
    return apply_prepared(prepare(source, proxies=proxies, strict_binaries=strict_binaries, discovery=discovery,
                                  ocsp=ocsp, driver=driver), step=step)


def down_model(loaded: Loaded, proxies: list[str] | None = None) -> list[tuple[str, bool]]:
    """Stop the selected proxies (each under its lock, pair members under the pair's); (name, was running)."""
    from ctlplane.pairs import pair_lock_path, pair_of

    stopped = []
    for proxy in loaded.model.proxies:
        if proxies and proxy.name not in proxies:
            continue
        driver = driver_for(loaded, proxy.name)
        pair = pair_of(loaded.model, proxy.name)
        lock = None
        if pair is not None:
            lock = pair_lock_path({n.proxy: proxy_dir(loaded, n.proxy).resolve() for n in pair.nodes}, pair)
        with file_lock(lock) if lock else contextlib.nullcontext(), driver.store.lock():
            was = driver.control.observe().running
            driver.control.stop()
        stopped.append((proxy.name, was))
    return stopped

