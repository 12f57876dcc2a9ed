"""The agent with a real HAProxy on this machine (the fleet proxy's driver is the local one, on 127.0.0.1): a
release is applied, soaked and served; a release whose reload cannot bind exits with an AgentError while the
last-known-good keeps serving every request."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctlplane.drivers import Driver, control_for, workers_gid
from ctlplane.drivers.local import LocalHost
from ctlplane.drivers.process import find_binary
from ctlplane.fleet.agent import AgentError, Seams, check, run
from ctlplane.model.load import Loaded, load_file
from ctlplane.state.paths import proxy_dir
from ctlplane.state.releases import ReleaseStore
from tests.apply.local import Echo, Load, free_port, who
from tests.fleet.agent_kit import fleet_model, publish, settings
from tests.helpers import need_binary


def local_driver(loaded: Loaded, name: str) -> Driver:
    """The fleet proxy as a process on this machine instead of a container on a node."""
    proxy = loaded.model.proxy(name)
    state = proxy_dir(loaded, name).resolve()
    binary = find_binary(proxy.engine) or proxy.engine
    return Driver(name, proxy.engine, ReleaseStore(state, workers_gid(proxy)),
                  control_for(proxy.engine, LocalHost(), state, binary))


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "root"
    for bundle in (tmp_path / "root" / "fleet" / "edge" / "bundles").glob("*/model.yaml"):
        local_driver(load_file(bundle), "edge").control.stop()
        break


def test_agent_applies_then_keeps_the_last_known_good_when_a_release_fails(tmp_path: Path, root: Path,
                                                                          echoes: dict[str, Echo]) -> None:
    need_binary("haproxy")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    events: list[dict[str, object]] = []
    seams = Seams(driver=local_driver, log=events.append)
    one = settings(tmp_path / "out", root, publish(tmp_path / "m1", tmp_path / "out",
                                                   fleet_model(port, echoes["a1"].port, tls=False)), soak_ms=1000)
    run(one, seams)
    assert [e["event"] for e in events] == ["applied", "serving"]
    assert who(url) == "a1"
    assert check(one, seams) == (True, "serving")

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        data = fleet_model(port, echoes["a1"].port, tls=False)
        data["services"].append({"name": "extra", "mode": "http", "default_pool": "app",
                                 "listen": {"address": "127.0.0.1", "port": squatter.getsockname()[1]}})
        data["proxies"][0]["services"] = ["web", "extra"]
        two = settings(tmp_path / "out", root, publish(tmp_path / "m2", tmp_path / "out", data), soak_ms=1000)
        events.clear()
        with Load(url, max_seconds=30) as load, pytest.raises(AgentError) as caught:
            run(two, seams)
    assert caught.value.message.startswith("apply failed: ")
    assert [e["event"] for e in events] == ["failed"] and events[0]["serving"] == one.release
    assert load.failed == 0 and load.ok > 0, load.errors[:5]
    assert who(url) == "a1"
    assert check(two, seams)[0] is False
