"""Drivers: everything that touches a proxy's processes, sockets and containers.

A :class:`Driver` pairs a proxy's release store (``ctlplane.state.releases``)
with its engine control (``nginx``, ``haproxy``; ``keepalived`` beside pair
members), written once on the Host seam (``host``): ``local`` for this
machine, ``container`` for a Docker container (the SDK is imported only when a
model uses it), ``fake`` for tests. ``process`` is the single place in the
package that starts a subprocess. :func:`driver_for` builds the driver a
model's proxy needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from ctlplane.drivers.container_data import ContainerSpec
    from ctlplane.drivers.control import Control
    from ctlplane.drivers.host import Host
    from ctlplane.model.load import Loaded
    from ctlplane.model.proxy import PairNode, Proxy
    from ctlplane.state.releases import ReleaseStore


@dataclass
class Driver:
    """Everything apply needs for one proxy: its releases on disk and its serving processes."""

    proxy: str
    engine: str
    store: ReleaseStore
    control: Control


def control_for(engine: str, host: Host, state_dir: Path, binary: str, vrrp: bool = False) -> Control:
    """The engine control of one proxy on ``host`` (with keepalived beside it for a pair member)."""
    from ctlplane.drivers.haproxy import HaproxyControl
    from ctlplane.drivers.keepalived import KeepalivedControl
    from ctlplane.drivers.nginx import NginxControl

    keepalived = KeepalivedControl(host, state_dir) if vrrp else None
    cls = NginxControl if engine == "nginx" else HaproxyControl
    return cls(host, state_dir, binary, keepalived)


def driver_for(loaded: Loaded, proxy_name: str) -> Driver:
    """The driver of one proxy of a loaded model."""
    from ctlplane.drivers.process import find_binary
    from ctlplane.state.paths import proxy_dir
    from ctlplane.state.releases import ReleaseStore

    proxy = loaded.model.proxy(proxy_name)
    state = proxy_dir(loaded, proxy_name).resolve()
    node = next((n for pair in loaded.model.pairs for n in pair.nodes if n.proxy == proxy_name), None)
    host: Host
    binary: str
    if proxy.runtime.kind == "docker":
        from ctlplane.drivers.container import ContainerHost

        host = ContainerHost(container_spec(proxy, state, _static_roots(loaded, proxy_name), node), proxy.name)
        binary = proxy.engine
    else:
        from ctlplane.drivers.local import LocalHost

        host = LocalHost()
        binary = find_binary(proxy.engine) or proxy.engine
    vrrp = node is not None and proxy.runtime.kind == "docker"  # local pair members: keepalived is not run
    return Driver(proxy.name, proxy.engine, ReleaseStore(state, workers_gid(proxy)),
                  control_for(proxy.engine, host, state, binary, vrrp))


def workers_gid(proxy: Proxy) -> int | None:
    """The group id the workers of ``proxy`` run as, when ctlplane runs as root and can give them files (None
    otherwise: the workers run as ctlplane's own user, or the group is unknown here). A container's group is
    looked up by name on the host: the same id for Debian's nogroup (65534) and the system groups."""
    import grp

    from ctlplane.model.assets import effective_uid

    if effective_uid() != 0:
        return None
    try:
        return grp.getgrnam(proxy.group).gr_gid
    except KeyError:
        return None


def container_spec(proxy: Proxy, state_dir: Path, read_only: tuple[str, ...] = (),
                   node: PairNode | None = None) -> ContainerSpec:
    """The container a docker-runtime proxy runs in (``node``: its place in an HA pair, if any).

    Mounts, capabilities and the address are fixed when the container is created: a changed set of static
    roots, or a proxy that joins a pair, needs ``ctlplane down`` and a new apply.
    """
    from ctlplane.drivers.container import LABEL_ENGINE, LABEL_PROXY, LABEL_STATE, STOP_SIGNALS, VRRP_CAPS
    from ctlplane.drivers.container_data import ContainerSpec
    from ctlplane.model.proxy import DockerRuntime

    runtime = proxy.runtime
    assert isinstance(runtime, DockerRuntime)
    address = node.address if node is not None and runtime.network else None
    return ContainerSpec(
        name=runtime.container, image=runtime.image, mount=str(state_dir), network=runtime.network,
        labels={LABEL_PROXY: proxy.name, LABEL_ENGINE: proxy.engine, LABEL_STATE: str(state_dir)},
        stop_signal=STOP_SIGNALS.get(proxy.engine, "SIGTERM"), read_only=tuple(sorted(set(read_only))),
        cap_add=VRRP_CAPS if node is not None else (), address=address if address and ":" not in address else None,
    )


def _static_roots(loaded: Loaded, proxy_name: str) -> tuple[str, ...]:
    """The static directories a proxy serves (absolute), for container mounts."""
    from ctlplane.model.assets import resolve_path
    from ctlplane.model.service import HttpService

    proxy = loaded.model.proxy(proxy_name)
    roots = []
    for svc in loaded.model.services:
        if svc.name in proxy.services and isinstance(svc, HttpService):
            roots += [str(resolve_path(loaded.base_dir, s.root).resolve()) for s in svc.static]
    return tuple(roots)
