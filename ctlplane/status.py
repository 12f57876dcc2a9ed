"""Live status: what each proxy of a model is doing right now, read from the proxies themselves.

For every proxy it gathers the serving generation (master and worker pids),
the active release id (the digest of the configuration in use), whether the
rendered model still matches that release (*drift*), HAProxy's per-server
state from the runtime API (``show stat``: up/down, weight, current and total
sessions, last check) and NGINX's ``stub_status`` counters when the proxy has
an ``admin`` listener; for a member of an HA pair, the virtual IPs it holds and
its VRRP state (``ctlplane.pairs``). Parsing is pure (``parse_show_stat``,
``parse_stub_status``, ``drift_paths``); :func:`read_status` is the one place
that talks to sockets, and a probe that fails becomes a *problem* line, never
an exception. Returns plain frozen data; the CLI decides how to show it.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from ctlplane.drivers.base import STOPPED, Driver
from ctlplane.errors import CtlplaneError
from ctlplane.model.proxy import Admin
from ctlplane.pairs import NodeVrrp, pair_of, read_node
from ctlplane.render import Output

if TYPE_CHECKING:
    from ctlplane.pipeline import Build

HTTP_TIMEOUT = 2.0
SOCKET_TIMEOUT = 2.0
BACKEND_PREFIX = "be_"  # HAProxy backends are named be_<pool> (render/haproxy_backend.py)


@dataclass(frozen=True)
class ServerRow:
    """One HAProxy server as the runtime API reports it."""

    backend: str
    server: str
    status: str  # UP, DOWN, DRAIN, MAINT, no check, ...
    weight: int
    current_sessions: int
    total_sessions: int
    check_status: str  # L4OK, L7OK, L4CON, L7STS, ... ('' without checks)
    check_code: str
    check_duration_ms: int | None
    check_desc: str
    last_check: str
    address: str

    @property
    def pool(self) -> str:
        return self.backend[len(BACKEND_PREFIX):] if self.backend.startswith(BACKEND_PREFIX) else self.backend

    @property
    def up(self) -> bool:
        return self.status.startswith("UP") or self.status == "no check"

    def check(self) -> str:
        """A short last-check result for people: ``L7OK 200``, ``L4CON Connection refused``, ``-``."""
        if not self.check_status:
            return "-"
        return " ".join(p for p in (self.check_status, self.check_code or self.last_check) if p)

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "pool": self.pool, "up": self.up}


@dataclass(frozen=True)
class StubStatus:
    """NGINX ``stub_status`` counters."""

    active: int
    accepts: int
    handled: int
    requests: int
    reading: int
    writing: int
    waiting: int


@dataclass(frozen=True)
class ProxyStatus:
    """The live state of one proxy."""

    proxy: str
    engine: str
    runtime: str
    master: int | None
    workers: tuple[int, ...]
    release: str | None
    drift: tuple[str, ...]  # rendered files that differ from the active release (added, changed or removed)
    servers: tuple[ServerRow, ...] = ()
    stub: StubStatus | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)
    vrrp: NodeVrrp | None = None  # members of an HA pair: VIPs held and VRRP state

    @property
    def running(self) -> bool:
        return self.master is not None

    @property
    def state(self) -> str:
        """``stopped``, ``drift`` or ``in sync``."""
        if not self.running:
            return "stopped"
        return "drift" if self.drift else "in sync"

    def summary(self) -> str:
        if self.state == "drift":
            return f"drift: {len(self.drift)} file(s) differ (run ctlplane plan)"
        return self.state

    def as_dict(self) -> dict[str, object]:
        return {
            "proxy": self.proxy, "engine": self.engine, "runtime": self.runtime, "running": self.running,
            "state": self.state, "summary": self.summary(), "master": self.master, "workers": list(self.workers),
            "release": self.release, "drift": list(self.drift),
            "servers": [s.as_dict() for s in self.servers],
            "stub_status": asdict(self.stub) if self.stub else None, "problems": list(self.problems),
            "vrrp": self.vrrp.as_dict() if self.vrrp else None,
        }


def drift_paths(rendered: Output, deployed: dict[str, bytes]) -> tuple[str, ...]:
    """The relative paths whose bytes differ between the rendered model and the active release."""
    return tuple(sorted(p for p in set(rendered) | set(deployed)
                        if p not in rendered or deployed.get(p) != rendered[p].content))


def _int(value: str) -> int:
    return int(value) if value.strip().lstrip("-").isdigit() else 0


def parse_show_stat(text: str) -> tuple[ServerRow, ...]:
    """The server rows (not FRONTEND/BACKEND) of HAProxy's ``show stat`` CSV."""
    body = text.lstrip()
    if not body.startswith("# "):
        return ()
    rows = csv.DictReader(io.StringIO(body[2:]))
    servers = []
    for row in rows:
        name = row.get("svname") or ""
        if not name or name in ("FRONTEND", "BACKEND") or not row.get("pxname"):
            continue
        duration = (row.get("check_duration") or "").strip()
        servers.append(ServerRow(
            backend=row["pxname"], server=name, status=row.get("status") or "", weight=_int(row.get("weight") or ""),
            current_sessions=_int(row.get("scur") or ""), total_sessions=_int(row.get("stot") or ""),
            check_status=(row.get("check_status") or "").strip("* "), check_code=row.get("check_code") or "",
            check_duration_ms=int(duration) if duration.isdigit() else None,
            check_desc=row.get("check_desc") or "", last_check=row.get("last_chk") or "",
            address=row.get("addr") or "",
        ))
    return tuple(servers)


def parse_stub_status(text: str) -> StubStatus:
    """NGINX ``stub_status`` output (``Active connections: N`` / accepts handled requests / Reading ...)."""
    lines = [line.split() for line in text.strip().splitlines()]
    try:
        active = int(lines[0][-1])
        accepts, handled, requests = (int(v) for v in lines[2][:3])
        words = lines[3]
        values = {words[i].rstrip(":").lower(): int(words[i + 1]) for i in range(0, len(words) - 1, 2)}
        return StubStatus(active, accepts, handled, requests, values["reading"], values["writing"], values["waiting"])
    except (IndexError, ValueError, KeyError):
        raise ValueError(f"not stub_status output: {text[:80]!r}") from None


def admin_url(admin: Admin, path: str) -> str:
    """The loopback-reachable URL of an admin listener (a wildcard address is reached on loopback)."""
    host = admin.address
    if host in ("0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ipaddress.ip_address(host).version == 6:
        host = f"[{host}]"
    return f"http://{host}:{admin.port}{path}"


def fetch(url: str, timeout: float = HTTP_TIMEOUT) -> str:
    """GET ``url`` directly (stdlib only, never through an http_proxy); raise OSError/ValueError on failure."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as response:  # noqa: S310 - our own admin listener
        return str(response.read(65536).decode("utf-8", "replace"))


def read_status(driver: Driver, rendered: Output, admin: Admin | None, runtime: str = "local") -> ProxyStatus:
    """Probe one proxy: generation, active release, drift, and its engine's live counters."""
    problems: list[str] = []
    try:
        gen = driver.control.generation()
    except CtlplaneError as error:  # e.g. Docker unreachable: report, do not fail the whole status
        problems.append(f"cannot read the processes: {error.message}")
        gen = STOPPED
    servers: tuple[ServerRow, ...] = ()
    stub: StubStatus | None = None
    if gen.running and driver.engine == "haproxy":
        servers = _haproxy_servers(driver, problems)
    if gen.running and driver.engine == "nginx" and admin is not None:
        stub = _nginx_stub(driver, admin, problems)
    return ProxyStatus(
        proxy=driver.proxy, engine=driver.engine, runtime=runtime, master=gen.master,
        workers=tuple(sorted(gen.workers)), release=driver.store.active_release(),
        drift=drift_paths(rendered, driver.store.deployed()), servers=servers, stub=stub, problems=tuple(problems),
    )


def model_status(result: Build, proxies: list[str] | None = None) -> list[ProxyStatus]:
    """The status of every proxy of a built model (or only ``proxies``), in model order."""
    from ctlplane.drivers import driver_for

    found = []
    for proxy in result.loaded.model.proxies:
        if proxies and proxy.name not in proxies:
            continue
        try:
            driver = driver_for(result.loaded, proxy.name)
        except CtlplaneError as error:
            found.append(ProxyStatus(proxy.name, proxy.engine, proxy.runtime.kind, None, (), None, (),
                                     problems=(f"no driver: {error.message}",)))
            continue
        status = read_status(driver, result.outputs[proxy.name], proxy.admin, proxy.runtime.kind)
        pair = pair_of(result.loaded.model, proxy.name)
        if pair is not None:
            status = replace(status, vrrp=read_node(driver, pair) if status.running else NodeVrrp(
                pair.name, proxy.name, False))
        found.append(status)
    return found


def _haproxy_servers(driver: Driver, problems: list[str]) -> tuple[ServerRow, ...]:
    from ctlplane.drivers import haproxy_api

    sock = getattr(driver.control, "admin_sock", None)
    if sock is None:
        problems.append("no runtime API socket known for this proxy")
        return ()
    try:
        return parse_show_stat(haproxy_api.send(sock, "show stat", timeout=SOCKET_TIMEOUT))
    except CtlplaneError as error:
        problems.append(f"runtime API: {error.message}")
        return ()


def _nginx_stub(driver: Driver, admin: Admin, problems: list[str]) -> StubStatus | None:
    url = admin_url(admin, "/status")
    inside = getattr(driver.control, "fetch", None)  # docker: the admin listener is on the container's loopback
    try:
        return parse_stub_status(inside(url) if inside else fetch(url))
    except CtlplaneError as error:
        problems.append(f"stub_status {url}: {error}")
        return None
    except (OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        problems.append(f"stub_status {url}: {reason}")
        return None
