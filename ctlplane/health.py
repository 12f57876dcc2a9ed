"""After an apply: does each proxy have healthy servers behind it? Read from the proxy.

HAProxy says it itself: per backend, the servers its checks hold up, and the
last check of a down one (``L7STS 403``); servers whose first check has not
run yet are *pending*, so a report can wait for them. NGINX open source has no
checks to ask, so each plain-HTTP service gets one probe request through the
proxy's own listener (from its host): a 502/503/504 means its pool answered
nothing, a 403 usually a file the workers may not read. The result is plain
data; the CLI prints it and decides the exit code (``--wait-healthy``).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from ctlplane.drivers import Driver
from ctlplane.errors import CtlplaneError
from ctlplane.model.root import Model
from ctlplane.model.service import HttpService
from ctlplane.status import ServerRow, parse_show_stat

BAD_PROBE = {403, 500, 502, 503, 504}


@dataclass(frozen=True)
class PoolHealth:
    """One pool as a proxy sees it: servers up, servers in all, why the first down one is down."""

    pool: str
    up: int
    total: int
    pending: int = 0  # servers whose first check has not run yet
    detail: str = ""

    def summary(self) -> str:
        why = f" ({self.detail})" if self.detail and self.up < self.total else ""
        return f"pool {self.pool} has {self.up} of {self.total} servers up{why}"


@dataclass(frozen=True)
class ProxyHealth:
    proxy: str
    pools: tuple[PoolHealth, ...] = ()
    problems: tuple[str, ...] = ()  # probe answers that mean the service does not work

    @property
    def pending(self) -> bool:
        return any(p.pending for p in self.pools)

    @property
    def healthy(self) -> bool:
        return not self.problems and all(p.up > 0 for p in self.pools)

    def summary(self) -> str:
        """The bad news in one clause ('' when healthy)."""
        bad = [p.summary() for p in self.pools if p.up == 0] + list(self.problems)
        return ", ".join(bad)


def _pools(rows: tuple[ServerRow, ...]) -> tuple[PoolHealth, ...]:
    pools: dict[str, list[ServerRow]] = {}
    for row in rows:
        pools.setdefault(row.pool, []).append(row)
    found = []
    for pool, servers in pools.items():
        down = next((s for s in servers if not s.up), None)
        pending = sum(s.check_status in ("INI", "") and s.status != "no check" for s in servers)
        found.append(PoolHealth(pool, sum(s.up for s in servers), len(servers), pending, down.check() if down else ""))
    return tuple(found)


def _probe_url(address: str, port: int) -> str:
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address, address)
    if ipaddress.ip_address(host).version == 6:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def _probes(driver: Driver, model: Model) -> tuple[str, ...]:
    problems = []
    for name in model.proxy(driver.proxy).services:
        svc = model.service(name)
        if not isinstance(svc, HttpService) or svc.tls is not None:
            continue
        url = _probe_url(svc.listen.address, svc.listen.port)
        try:
            status, _ = driver.control.host.http_get(url)
        except CtlplaneError as error:
            problems.append(f"service {name} does not answer ({error.message})")
            continue
        if status in BAD_PROBE:
            hint = " (can the workers read its files?)" if status == 403 and svc.static else ""
            problems.append(f"service {name} answers {status} on /{hint}")
    return tuple(problems)


def proxy_health(driver: Driver, model: Model) -> ProxyHealth:
    """One look at a proxy's pools (HAProxy) or one probe per HTTP service (NGINX)."""
    api = driver.control.runtime_api
    if api is None:
        return ProxyHealth(driver.proxy, problems=_probes(driver, model))
    try:
        return ProxyHealth(driver.proxy, _pools(parse_show_stat(api.query("show stat"))))
    except CtlplaneError as error:
        return ProxyHealth(driver.proxy, problems=(f"runtime API: {error.message}",))


def wait_health(driver: Driver, model: Model, timeout: float, *, until_healthy: bool = False) -> ProxyHealth:
    """Look until no first check is pending (and, with ``until_healthy``, every pool has a server up),
    or ``timeout`` seconds pass; return the last look."""
    deadline = time.monotonic() + timeout
    while True:
        found = proxy_health(driver, model)
        settled = not found.pending and (found.healthy or not until_healthy)
        if settled or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)
