"""Live status: what each proxy of a model is doing right now, read from the proxies themselves.

For every proxy it gathers the serving processes (master and worker pids),
the release the workers themselves report serving (never a file ctlplane
wrote), the release the ``config`` symlink names (an apply that was
interrupted or failed leaves them apart, and status says so), whether the
rendered model is that serving release (*in sync*) or not (*drift*, with
the files that differ), workers of a dead master still serving (*orphaned*),
a master that cannot be driven (*problem*), HAProxy's per-server state from
the runtime API (``show stat``) and NGINX's ``stub_status`` counters when
the proxy has an ``admin`` listener; for a member of an HA pair, the virtual
IPs it holds and its VRRP state (``ctlplane.pairs``). Parsing is pure
(``parse_show_stat``, ``parse_stub_status``, ``drift_paths``); every probe
goes through the proxy's driver, and one that fails becomes a *problem*
line, never an exception. Returns plain frozen data; the CLI decides how to
show it.
"""

from __future__ import annotations

import csv
import io
import ipaddress
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from ctlplane.drivers import Driver
from ctlplane.drivers.control import STOPPED, RuntimeApi
from ctlplane.errors import CtlplaneError
from ctlplane.model.proxy import Admin
from ctlplane.pairs import NodeVrrp, pair_of, read_node
from ctlplane.render import Output
from ctlplane.render.release import release_id
from ctlplane.transaction import serving_release

if TYPE_CHECKING:
    from ctlplane.pipeline import Build

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
    release: str | None  # what the workers serve (with recorded runtime changes); None: stopped or unknown
    drift: tuple[str, ...]  # rendered files that differ from the serving release (added, changed or removed)
    servers: tuple[ServerRow, ...] = ()
    stub: StubStatus | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)
    vrrp: NodeVrrp | None = None  # members of an HA pair: VIPs held and VRRP state
    rendered: str | None = None  # the release the model renders to
    active: str | None = None  # the release ``config`` names (what the next start or reload loads)
    orphans: tuple[int, ...] = ()  # workers of a dead master that still serve
    blocked: str | None = None  # a master ctlplane cannot drive (does not answer, stopped)

    @property
    def running(self) -> bool:
        return self.master is not None

    @property
    def state(self) -> str:
        """``problem``, ``orphaned``, ``stopped``, ``unknown``, ``drift`` or ``in sync``."""
        if self.blocked:
            return "problem"
        if not self.running:
            return "orphaned" if self.orphans else "stopped"
        if self.release is None:
            return "unknown"
        return "in sync" if self.release == self.rendered and not self.drift else "drift"

    def summary(self) -> str:
        text = {
            "problem": f"problem: {self.blocked}",
            "orphaned": f"orphaned: {len(self.orphans)} worker(s) of a dead master still serve (apply replaces them)",
            "stopped": "stopped",
            "unknown": "unknown: the workers do not say which release they serve (run ctlplane apply)",
            "drift": f"drift: {len(self.drift)} file(s) differ (run ctlplane plan)",
            "in sync": "in sync",
        }[self.state]
        if self.running and self.active and self.active != self.release:
            text += f"; release {self.active} was activated but never verified serving (an apply was interrupted " \
                    "or failed)"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "proxy": self.proxy, "engine": self.engine, "runtime": self.runtime, "running": self.running,
            "state": self.state, "summary": self.summary(), "master": self.master, "workers": list(self.workers),
            "release": self.release, "rendered": self.rendered, "active": self.active, "drift": list(self.drift),
            "orphans": list(self.orphans), "servers": [s.as_dict() for s in self.servers],
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
    except (IndexError, ValueError, KeyError) as exc:
        raise ValueError(f"not stub_status output: {text[:80]!r}") from exc


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


def read_status(driver: Driver, rendered: Output, admin: Admin | None, runtime: str = "local") -> ProxyStatus:
    """Probe one proxy: processes, the release its workers serve, drift, and its engine's live counters."""
    problems: list[str] = []
    try:
        seen = driver.control.observe()
    except CtlplaneError as error:  # e.g. Docker unreachable: report, do not fail the whole status
        problems.append(f"cannot read the processes: {error.message}")
        seen = STOPPED
    serving = serving_release(driver.store, seen)
    served = driver.store.read(serving)
    drift = drift_paths(rendered, {p: f.content for p, f in (served or {}).items()}) if serving else ()
    servers: tuple[ServerRow, ...] = ()
    stub: StubStatus | None = None
    if seen.running and not seen.problem and driver.control.runtime_api is not None:
        servers = _servers(driver.control.runtime_api, problems)
    if seen.running and not seen.problem and driver.engine == "nginx" and admin is not None:
        stub = _nginx_stub(driver, admin, problems)
    return ProxyStatus(
        proxy=driver.proxy, engine=driver.engine, runtime=runtime, master=seen.master,
        workers=tuple(sorted(seen.workers)), release=serving, drift=drift, servers=servers, stub=stub,
        problems=tuple(problems), rendered=release_id(rendered), active=driver.store.active_release(),
        orphans=tuple(sorted(seen.orphans)), blocked=seen.problem,
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


def _servers(api: RuntimeApi, problems: list[str]) -> tuple[ServerRow, ...]:
    try:
        return parse_show_stat(api.query("show stat"))
    except CtlplaneError as error:
        problems.append(f"runtime API: {error.message}")
        return ()


def _nginx_stub(driver: Driver, admin: Admin, problems: list[str]) -> StubStatus | None:
    url = admin_url(admin, "/status")
    try:
        status, body = driver.control.host.http_get(url)
        if status != 200:
            raise ValueError(f"HTTP {status}")
        return parse_stub_status(body)
    except CtlplaneError as error:
        problems.append(f"stub_status {url}: {error.message}")
    except ValueError as exc:
        problems.append(f"stub_status {url}: {exc}")
    return None
