"""The floor under an edit's latency at scale: what the proxy and the design's libraries take on their own.

After ctlplane's edits on the large model (the watcher stopped, the proxy still serving), the same pool
switch is made again without ctlplane's code in the way, as an operator with both configs already rendered
would make it: the proxy's own config test of the other release (``nginx -t`` / ``haproxy -c``, as ctlplane
runs it), the ``config`` symlink pointed at that release (one rename), the reload signal (NGINX: SIGHUP to
the master; HAProxy: ``reload`` on the master CLI), then a new connection every 10 ms until the other pool
answers (the same probe as ctlplane's rows). To that proxy-alone time the libraries the design fixes add
their own share of building the model (:func:`scale_floor.library_times`: libyaml's events, pydantic's own
validation, Jinja printing the view). Their sum is the least any edit of that model could take with the
design's libraries, whatever ctlplane's own Python did; set beside the target it says whether the target is
reachable on this host, and how much time it leaves ctlplane's own work.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from common import percentile
from scale_floor import library_times, library_validator

from ctlplane.drivers.haproxy import HaproxyControl
from ctlplane.drivers.nginx import NginxControl
from ctlplane.pipeline import build
from ctlplane.render import Output
from ctlplane.render.release import release_id, seal
from ctlplane.state.releases import ReleaseStore
from ctlplane.validate import check_output, is_error

FLOOR_HEADERS = ["engine", "ctlplane p50 ms", "proxy check p50 ms", "reload to answer p50 ms",
                 "proxy alone p50 ms", "libraries ms", "floor ms", "target ms", "own ms the target leaves",
                 "ctlplane's own ms"]
POLL_S = 0.010
Bare = tuple[float, float]  # one pool switch by the proxy alone: its config test, and the whole switch (seconds)


def rendered(model: Path, text: str) -> Output:
    """The sealed files of proxy ``lb`` for the model ``text`` (written beside ``model`` for the build)."""
    path = model.with_name("floor.yaml")
    path.write_text(text)
    try:
        return seal(build(path).outputs["lb"])
    finally:
        path.unlink()


def _signal_reload(control: HaproxyControl | NginxControl) -> None:
    if isinstance(control, HaproxyControl):
        control.host.request(control.master_sock, "reload")
        return
    master = control.observe().master
    if master is None:
        raise RuntimeError("nginx is not running")
    os.kill(master, signal.SIGHUP)


def proxy_edits(control: HaproxyControl | NginxControl, engine: str, releases: Sequence[tuple[str, Output]], port: int,
                who: Callable[[int], str | None], timeout: float, spacing: float) -> list[Bare]:
    """(config test, whole edit) seconds of each pool switch made by the proxy alone: ``releases`` are
    (pool that answers, sealed files) in the order to switch to; each must already be staged."""
    store = ReleaseStore(control.state_dir)
    times = []
    for pool, files in releases:
        rid = release_id(files)
        if not (store.releases / rid).is_dir():
            raise RuntimeError(f"release {rid} of pool {pool} is not staged")
        started = time.monotonic()
        problems = [f for f in check_output(engine, files) if is_error(f)]
        if problems:
            raise RuntimeError(f"{engine} rejected release {rid}: {problems[0].message}")
        checked = time.monotonic()
        store.activate(rid)
        _signal_reload(control)
        deadline = started + timeout
        while not (who(port) or "").startswith(pool):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{engine}: pool {pool} did not answer within {timeout:g}s of a bare reload")
            time.sleep(POLL_S)
        times.append((checked - started, time.monotonic() - started))
        time.sleep(spacing)
    return times


def floor_row(engine: str, model: Path, ours: Sequence[float], bare: Sequence[Bare],
              target: float, runs: int = 5) -> list[str]:
    """One row of :data:`FLOOR_HEADERS`: ctlplane's edits ``ours`` and the proxy's ``bare`` ones (seconds)."""
    libraries = sum(library_times(engine, "yaml", model, runs, library_validator()))
    check = percentile([c for c, _ in bare], 50) or 0.0
    reload = percentile([t - c for c, t in bare], 50) or 0.0
    alone = percentile([t for _, t in bare], 50) or 0.0
    mine = percentile(list(ours), 50) or 0.0
    floor = alone + libraries
    return [engine, *(f"{t * 1000:.0f}" for t in (mine, check, reload, alone, libraries, floor, target)),
            f"{max(0.0, target - floor) * 1000:.0f}", f"{(mine - floor) * 1000:.0f}"]


def floor_verdict(row: list[str]) -> str:
    engine, floor, target, left, own = row[0], int(row[6]), int(row[7]), row[8], row[9]
    if floor >= target:
        return (f"{engine}: the proxy alone and the libraries take {floor} ms for this edit, above the {target} ms "
                f"target: it cannot be met on this host whatever ctlplane's own code does (ctlplane's own work "
                f"adds {own} ms)")
    return (f"{engine}: the proxy alone and the libraries take {floor} ms for this edit; the target leaves "
            f"ctlplane's own work {left} ms, it takes {own} ms")
