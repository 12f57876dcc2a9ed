"""Drivers: everything that touches the world outside the pure model/render core.

``process`` is the single place in the package that starts a subprocess;
``releases`` keeps a proxy's files as atomic releases; ``local_nginx`` and
``local_haproxy`` control proxies on this host, ``docker`` in containers
(imported only when a model uses it), and ``fake`` scripts failures for tests.
``driver_for`` picks the driver a model's proxy needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ctlplane.drivers.base import Driver
    from ctlplane.model.load import Loaded


def driver_for(loaded: Loaded, proxy_name: str) -> Driver:
    """The driver of one proxy of a loaded model (docker is imported only when needed)."""
    from ctlplane.drivers.base import Driver
    from ctlplane.drivers.releases import ReleaseStore
    from ctlplane.statedir import proxy_dir

    proxy = loaded.model.proxy(proxy_name)
    state = proxy_dir(loaded, proxy_name)
    store = ReleaseStore(state)
    if proxy.runtime.kind == "docker":
        from ctlplane.drivers.docker import docker_control

        node = next((n for pair in loaded.model.pairs for n in pair.nodes if n.proxy == proxy_name), None)
        return Driver(proxy.name, proxy.engine, store,
                      docker_control(proxy, state, _static_roots(loaded, proxy_name), node))
    if proxy.engine == "nginx":
        from ctlplane.drivers.local_nginx import LocalNginx

        return Driver(proxy.name, proxy.engine, store, LocalNginx(state))
    from ctlplane.drivers.local_haproxy import LocalHaproxy

    return Driver(proxy.name, proxy.engine, store, LocalHaproxy(state))


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
