"""Drivers over the simulated host (``ctlplane.drivers.fake``) and a real release store in a temp dir:
the transaction, status and pairs run unchanged on them."""

from __future__ import annotations

from pathlib import Path

from ctlplane.drivers import Driver, control_for
from ctlplane.drivers.fake import FakeHost
from ctlplane.render import Output, text_file
from ctlplane.render.release import seal
from ctlplane.state.releases import ReleaseStore

HAPROXY_HEAD = "global\n    description ctlplane release ctlplane-release\n"
NGINX_HEAD = "working_directory releases/ctlplane-release;\n"


def files(engine: str, address: str = "10.0.0.1", weight: int = 1, extra: str = "") -> Output:
    """A sealed release of one proxy: a backend with one server (the part runtime changes may touch)."""
    if engine == "haproxy":
        body = f"{HAPROXY_HEAD}backend 'be_web'\n    server 'a' '{address}:80' weight {weight}\n{extra}"
        return seal({"haproxy.cfg": text_file(body)})
    body = f"{NGINX_HEAD}upstream pool_web {{ server {address}:80 weight={weight}; }}\n{extra}"
    return seal({"nginx.conf": text_file(body)})


def fake_driver(tmp_path: Path, engine: str = "haproxy", host: FakeHost | None = None,
                name: str = "p", vrrp: bool = False) -> tuple[Driver, FakeHost]:
    host = host or FakeHost()
    state = (tmp_path / name).resolve()
    return Driver(name, engine, ReleaseStore(state), control_for(engine, host, state, engine, vrrp)), host
