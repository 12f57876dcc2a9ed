"""HA pairs at run time: who holds the virtual IPs now, and the rolling apply across a pair.

:func:`rolling_order` is the pure rule: while a node holds VIPs, the node
holding fewer (the passive one) is applied first and the active one last;
when nobody holds any (first deploy, both down), the VIPs' owner goes first
so it wins the first election even without preemption. :func:`read_node` is
the effectful reader: through the member's ``vrrp`` capability (keepalived on
its Host) it reads ``ip -o addr show`` and keepalived's JSON state dump, and
:func:`parse_snapshot` turns that into :class:`NodeVrrp` (the VIPs the
kernel carries, each VRRP instance's state). :func:`apply_pair` applies
the two nodes one after the other under the pair's one lock (whichever
members are selected): the first is applied,
its keepalived brought in line, and its admin ``/healthz`` must answer
before the second is touched; any failure stops there. The two nodes are
never reloading at the same time.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ctlplane.errors import ApplyError, CtlplaneError, Finding
from ctlplane.model.proxy import Pair, Proxy
from ctlplane.state.layout import PAIR_LOCK
from ctlplane.state.locks import file_lock

if TYPE_CHECKING:
    from ctlplane.drivers import Driver
    from ctlplane.model.root import Model
    from ctlplane.render import Output

R = TypeVar("R")
KEEPALIVED_STATES = {0: "INIT", 1: "BACKUP", 2: "MASTER", 3: "FAULT"}
SERVING_TIMEOUT = 15.0


@dataclass(frozen=True)
class VrrpInstance:
    """One VRRP instance as keepalived reports it."""

    name: str
    state: str  # INIT | BACKUP | MASTER | FAULT
    priority: int
    vips: tuple[str, ...]


@dataclass(frozen=True)
class NodeVrrp:
    """One pair member right now: is keepalived running, which of the pair's VIPs it holds, its instances."""

    pair: str
    proxy: str
    keepalived: bool
    held: tuple[str, ...] = ()  # the pair's VIPs (as in the model) carried by this node's interfaces
    instances: tuple[VrrpInstance, ...] = ()
    problem: str | None = None

    @property
    def state(self) -> str:
        """``MASTER``/``BACKUP``/``FAULT`` (``name STATE, ...`` when instances differ), or why it is unknown."""
        if self.problem:
            return "unknown"
        if not self.keepalived:
            return "keepalived not running"
        states = [i.state for i in self.instances]
        if not states:
            return "unknown"
        if len(set(states)) == 1:
            return states[0]
        return ", ".join(f"{i.name} {i.state}" for i in self.instances)

    def as_dict(self) -> dict[str, object]:
        return {"pair": self.pair, "keepalived": self.keepalived, "state": self.state, "vips": list(self.held),
                "instances": [{"name": i.name, "state": i.state, "priority": i.priority, "vips": list(i.vips)}
                              for i in self.instances], "problem": self.problem}


# --- pure -----------------------------------------------------------------------------------------


def pair_of(model: Model, proxy: str) -> Pair | None:
    return next((p for p in model.pairs if any(n.proxy == proxy for n in p.nodes)), None)


def rolling_order(pair: Pair, held: Mapping[str, int]) -> tuple[str, str]:
    """The order to apply ``pair``'s nodes given how many VIPs each holds now (passive first)."""
    names = [n.proxy for n in pair.nodes]
    if any(held.get(n, 0) for n in names):
        ranked = sorted(names, key=lambda n: (held.get(n, 0), names.index(n)))
    else:
        owned = {n: sum(v.owner == n for v in pair.virtual_ips) for n in names}
        ranked = sorted(names, key=lambda n: (-owned[n], names.index(n)))
    return ranked[0], ranked[1]


def apply_groups(model: Model, names: list[str]) -> list[str | Pair]:
    """The selected proxies in model order, a pair taking the place of its first selected member."""
    groups: list[str | Pair] = []
    for name in names:
        pair = pair_of(model, name)
        if pair is None:
            groups.append(name)
        elif pair not in groups:
            groups.append(pair)
    return groups


def _ip(text: str) -> str:
    return str(ipaddress.ip_interface(text).ip)


def parse_addresses(text: str) -> set[str]:
    """Every address (without prefix) in ``ip -o addr show`` output."""
    found = set()
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 4 and words[2] in ("inet", "inet6"):
            with contextlib.suppress(ValueError):
                found.add(_ip(words[3]))
    return found


def parse_instances(text: str) -> tuple[VrrpInstance, ...]:
    """keepalived's JSON dump (``[{"data": {"iname", "state", "effective_priority", "vips"}}, ...]``)."""
    entries = json.loads(text)
    found = []
    for entry in entries:
        data = entry.get("data") or {}
        vips = tuple(str(v).split()[0] for v in data.get("vips") or [])
        state = KEEPALIVED_STATES.get(int(data.get("state", -1)), "UNKNOWN")
        found.append(VrrpInstance(str(data.get("iname", "?")), state, int(data.get("effective_priority", 0)), vips))
    return tuple(sorted(found, key=lambda i: i.name))


def parse_snapshot(pair: Pair, proxy: str, text: str) -> NodeVrrp:
    """A node's state from the driver's snapshot (``== addr`` / ``== pid N`` / ``== json`` sections)."""
    sections: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith("== "):
            key = line[3:].split()[0]
            sections[key] = ""
        elif key:
            sections[key] += line + "\n"
    addresses = parse_addresses(sections.get("addr", ""))
    held = tuple(v.address for v in pair.virtual_ips if _ip(v.address) in addresses)
    running = "pid" in sections
    problem = None if "addr" in sections else "container not running"
    instances: tuple[VrrpInstance, ...] = ()
    if running:
        try:
            instances = parse_instances(sections.get("json", ""))
        except (ValueError, TypeError, AttributeError):
            problem = "keepalived gave no readable state dump"
    return NodeVrrp(pair.name, proxy, running, held, instances, problem)


# --- effects --------------------------------------------------------------------------------------


def read_node(driver: Driver, pair: Pair) -> NodeVrrp:
    """What one pair member's host says now (a failure is a ``problem``, never an exception)."""
    vrrp = driver.control.vrrp
    if vrrp is None:
        return NodeVrrp(pair.name, driver.proxy, False, problem="keepalived is run by ctlplane in docker proxies only")
    for attempt in (0, 1):  # the JSON dump may be read while keepalived still writes it: once more
        try:
            node = parse_snapshot(pair, driver.proxy, vrrp.snapshot())
        except CtlplaneError as error:
            return NodeVrrp(pair.name, driver.proxy, False, problem=error.message)
        if node.problem is None or attempt:
            return node
    return node


def health_url(proxy: Proxy) -> str:
    from ctlplane.status import admin_url

    assert proxy.admin is not None  # the model requires admin on pair members
    return admin_url(proxy.admin, "/healthz")


def serving(driver: Driver, proxy: Proxy) -> bool:
    """One GET of the proxy's admin ``/healthz`` from its own host (inside its container for docker)."""
    try:
        status, _ = driver.control.host.http_get(health_url(proxy))
    except CtlplaneError:
        return False
    return status == 200


def wait_serving(driver: Driver, proxy: Proxy, timeout: float = SERVING_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not serving(driver, proxy):
        if time.monotonic() >= deadline:
            raise ApplyError(f"{proxy.name}: applied, but its /healthz does not answer", [Finding(
                f"{proxy.name} does not serve {health_url(proxy)} within {timeout:g}s", source="driver")])
        time.sleep(0.2)


def sync_keepalived(driver: Driver) -> None:
    """Bring a pair member's keepalived in line with its active release (also after 'unchanged')."""
    if driver.control.vrrp is None:
        return
    try:
        driver.control.vrrp.sync()
    except CtlplaneError as error:
        raise ApplyError(f"{driver.proxy}: keepalived failed", error.findings) from error


def pair_lock_path(state_dirs: Mapping[str, Path], pair: Pair) -> Path:
    """One lock per pair, whichever members an apply selects: in the run/ of its first node in model order."""
    return state_dirs[pair.nodes[0].proxy] / PAIR_LOCK


def apply_pair(model: Model, pair: Pair, drivers: Mapping[str, Driver], outputs: Mapping[str, Output],
               apply_one: Callable[[Driver, Output], R], lock: Path, *,
               read: Callable[[Driver, Pair], NodeVrrp] = read_node,
               verify: Callable[[Driver, Proxy], None] = wait_serving) -> list[R]:
    """Apply the selected members of ``pair`` (keys of ``drivers``) one at a time, passive first.

    Each node is applied, its keepalived synced and its ``/healthz`` verified before the next is touched;
    an ApplyError on the first stops before the second (which is named in the error). Results in apply order.
    """
    with file_lock(lock):
        held = {name: len(read(driver, pair).held) for name, driver in drivers.items()}
        order = [n for n in rolling_order(pair, held) if n in drivers]
        results: list[R] = []
        for i, name in enumerate(order):
            try:
                results.append(apply_one(drivers[name], outputs[name]))
                sync_keepalived(drivers[name])
                verify(drivers[name], model.proxy(name))
            except ApplyError as error:
                raise _stopped(pair, error, order[i + 1:]) from error
    return results


def _stopped(pair: Pair, error: ApplyError, untouched: list[str]) -> ApplyError:
    if not untouched:
        return error
    note = Finding(f"pair {pair.name}: stopped before {', '.join(untouched)}, which was not touched", source="driver")
    stopped = ApplyError(error.message, [*error.findings, note])
    stopped.rolled_back = error.rolled_back
    return stopped

