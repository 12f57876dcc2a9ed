"""keepalived.conf for one node of an HA pair (keepalived 2.2.7, VRRPv2).

The view decides everything, the templates only print it. One ``vrrp_instance``
per virtual IP: the VIP's owner starts ``MASTER`` with ``priority_owner``, the
other node ``BACKUP`` with ``priority_peer``; active-active is simply two such
instances with mirrored roles. With ``preempt: false`` both nodes start
``BACKUP`` with ``nopreempt`` (keepalived ignores nopreempt on a MASTER), so the
higher priority only decides the first election and a recovered owner does not
take its VIP back. A ``vrrp_script`` runs curl (absolute path, argv without a
shell, built from an IP and integers and checked against a regex) on the
proxy's admin ``/healthz``; a failing check moves the instance to FAULT (weight
0), which releases the VIP. ``enable_script_security`` with ``script_user root``:
keepalived must run as root for VRRP anyway, and 2.2.7's config test kills itself
(SIGTERM) when it has to switch to another script user. ``max_auto_priority`` is
not set: real-time scheduling needs CAP_SYS_NICE and is not needed at 1s
adverts. Times are whole seconds in keepalived: anything else is refused rather
than rounded. Unicast VRRP names this node's address and the peer's. The file
is 0600 when it holds a VRRP password.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

from ctlplane.errors import Finding, RenderError
from ctlplane.model.proxy import Pair, PairNode, Proxy
from ctlplane.model.root import Model
from ctlplane.render import RenderedFile, text_file
from ctlplane.render.env import render_template

CURL = "/usr/bin/curl"
_SCRIPT = re.compile(
    r"/usr/bin/curl -fsS -o /dev/null --noproxy [0-9a-f.:]+ --max-time [1-9][0-9]{0,4} "
    r"http://(?:[0-9.]+|\[[0-9a-f.:]+\]):[1-9][0-9]{0,4}/healthz"
)


class TrackScript(NamedTuple):
    """The health check keepalived runs against the local proxy."""

    name: str
    command: str  # built here from an IP and integers, checked by _SCRIPT; printed inside "..."
    interval: int  # seconds
    timeout: int  # seconds
    fall: int
    rise: int


class Instance(NamedTuple):
    """One VRRP instance (one virtual IP) as seen from this node."""

    name: str
    state: str  # MASTER | BACKUP
    nopreempt: bool
    interface: str
    router_id: int
    priority: int
    advert_int: int  # seconds
    auth_pass: str | None
    unicast_src: str | None
    unicast_peer: str | None
    vip: str
    track: str


class KeepalivedView(NamedTuple):
    """Everything keepalived.conf prints for one node."""

    proxy: str
    pair: str
    script: TrackScript
    instances: tuple[Instance, ...]


def render_keepalived_for(model: Model, proxy: Proxy) -> dict[str, RenderedFile]:
    """``{"keepalived.conf": ...}`` when ``proxy`` is a node of a pair, else ``{}``."""
    found = _pair_of(model, proxy.name)
    if found is None:
        return {}
    index, pair = found
    view = keepalived_view(pair, index, proxy)
    mode = 0o600 if pair.auth_password else 0o644  # the VRRP password stays readable by root only
    return {"keepalived.conf": text_file(render_template("keepalived/keepalived.conf.j2", v=view), mode)}


def keepalived_view(pair: Pair, index: int, proxy: Proxy) -> KeepalivedView:
    """Every decision for ``proxy``'s node of ``pair`` (``index``: the pair's position in the model)."""
    node, peer = _node_and_peer(pair, proxy.name)
    script = _track_script(pair, index, proxy)
    instances = tuple(_instance(pair, index, node, peer, vip_index, script.name)
                      for vip_index in range(len(pair.virtual_ips)))
    return KeepalivedView(proxy=proxy.name, pair=pair.name, script=script, instances=instances)


def _pair_of(model: Model, name: str) -> tuple[int, Pair] | None:
    for i, pair in enumerate(model.pairs):
        if any(n.proxy == name for n in pair.nodes):
            return i, pair
    return None


def _node_and_peer(pair: Pair, name: str) -> tuple[PairNode, PairNode]:
    first, second = pair.nodes
    return (first, second) if first.proxy == name else (second, first)


def _seconds(ms: int, path: str) -> int:
    if ms % 1000:
        raise RenderError(
            "keepalived takes whole seconds",
            [Finding(f"{ms}ms is not a whole number of seconds (keepalived would refuse or round it)",
                     path=path, source="keepalived")],
        )
    return ms // 1000


def _health_url(proxy: Proxy, index: int) -> tuple[str, str]:
    """(host for --noproxy, URL) of the proxy's /healthz; a wildcard listener is reached on loopback."""
    if proxy.admin is None:  # the model's cross-checks require admin on pair members
        raise RenderError("no admin listener", [Finding(f"proxy {proxy.name!r} has no 'admin' listener",
                                                        path=f"pairs[{index}].nodes", source="keepalived")])
    ip = ipaddress.ip_address(proxy.admin.address)
    if ip.is_unspecified:
        ip = ipaddress.ip_address("127.0.0.1" if ip.version == 4 else "::1")
    host = str(ip) if ip.version == 4 else f"[{ip}]"
    return str(ip), f"http://{host}:{proxy.admin.port}/healthz"


def _track_script(pair: Pair, index: int, proxy: Proxy) -> TrackScript:
    timeout = _seconds(pair.check.timeout, f"pairs[{index}].check.timeout")
    interval = _seconds(pair.check.interval, f"pairs[{index}].check.interval")
    noproxy, url = _health_url(proxy, index)
    command = f"{CURL} -fsS -o /dev/null --noproxy {noproxy} --max-time {timeout} {url}"
    if not _SCRIPT.fullmatch(command):
        raise RenderError("refusing to print an unexpected check command",
                          [Finding(f"unexpected command {command!r}", path=f"pairs[{index}]", source="keepalived")])
    return TrackScript(name=f"chk_{proxy.name}", command=command, interval=interval, timeout=timeout,
                       fall=pair.check.fall, rise=pair.check.rise)


def _instance(pair: Pair, index: int, node: PairNode, peer: PairNode, vip_index: int, track: str) -> Instance:
    vip = pair.virtual_ips[vip_index]
    owner = vip.owner == node.proxy
    return Instance(
        name=f"{pair.name}_vrid{vip.router_id}",
        state="MASTER" if owner and pair.preempt else "BACKUP",
        nopreempt=not pair.preempt,
        interface=node.interface,
        router_id=vip.router_id,
        priority=pair.priority_owner if owner else pair.priority_peer,
        advert_int=_seconds(pair.advert_interval, f"pairs[{index}].advert_interval"),
        auth_pass=pair.auth_password,
        unicast_src=node.address if pair.unicast else None,
        unicast_peer=peer.address if pair.unicast else None,
        vip=vip.address,
        track=track,
    )
