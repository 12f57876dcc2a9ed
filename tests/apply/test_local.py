"""apply against real local NGINX and HAProxy on loopback ports: routing
changes seen by real requests, unchanged models leave the PIDs alone, bad
configs (refused by the binary, or failing only at reload) leave the old
config serving with zero failed requests, and HAProxy weight changes need
no reload."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctlplane.apply import apply_model
from ctlplane.drivers import driver_for
from ctlplane.errors import ApplyError, ConfigTestError
from ctlplane.model.load import load_file
from ctlplane.state.paths import proxy_dir
from tests.apply.local import Echo, Load, free_port, keepalive_race, who
from tests.helpers import need_binary

ENGINES = ["nginx", "haproxy"]


def model_text(engine: str, port: int, pools: dict[str, list[Echo]], default: str, weights: dict[str, int] | None = None,
               extra_server: str = "") -> str:
    weights = weights or {}
    lines = ["pools:"]
    for name, echoes in pools.items():
        lines.append(f"  - name: {name}\n    servers:")
        for e in echoes:
            lines.append(f"      - {{name: {e.name}, address: 127.0.0.1, port: {e.port}, weight: {weights.get(e.name, 1)}}}")
        if extra_server and name == default:
            lines.append(f"      - {extra_server}")
    lines.append(f"services:\n  - {{name: front, mode: http, listen: {{address: 127.0.0.1, port: {port}}}, "
                 f"default_pool: {default}}}")
    lines.append(f"proxies:\n  - {{name: lb, engine: {engine}, services: [front], workers: 1}}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def stop_after(tmp_path: Path) -> Iterator[list[Path]]:
    models: list[Path] = []
    yield models
    for model in models:
        loaded = load_file(model)
        for proxy in loaded.model.proxies:
            driver_for(loaded, proxy.name).control.stop()


def setup(engine: str, tmp_path: Path, echoes: dict[str, Echo], stop_after: list[Path]) -> tuple[Path, int]:
    need_binary(engine)
    port = free_port()
    model = tmp_path / "model.yaml"
    model.write_text(model_text(engine, port, {"a": [echoes["a1"], echoes["a2"]], "b": [echoes["b1"]]}, "a"))
    stop_after.append(model)
    assert [r.outcome for r in apply_model(str(model))] == ["started"]
    return model, port


def generation(model: Path):
    loaded = load_file(model)
    return driver_for(loaded, "lb").control.observe()


@pytest.mark.parametrize("engine", ENGINES)
def test_apply_changes_routing(engine: str, tmp_path: Path, echoes: dict[str, Echo], stop_after: list[Path]) -> None:
    model, port = setup(engine, tmp_path, echoes, stop_after)
    url = f"http://127.0.0.1:{port}/"
    assert {who(url) for _ in range(6)} == {"a1", "a2"}
    model.write_text(model.read_text().replace("default_pool: a", "default_pool: b"))
    with Load(url) as load:
        assert [r.outcome for r in apply_model(str(model))] == ["reloaded"]
    assert {who(url) for _ in range(6)} == {"b1"}
    if engine == "haproxy":
        assert load.failed == 0, load.errors[:5]
    else:
        # NGINX open source closes idle keep-alive connections of the old workers at reload; a request already
        # on its way on such a connection fails (measured and compared with a bare reload in bench/). Nothing
        # else may fail.
        assert all(keepalive_race(e) for e in load.errors), load.errors[:5]


@pytest.mark.parametrize("engine", ENGINES)
def test_unchanged_model_leaves_the_proxy_untouched(engine: str, tmp_path: Path, echoes: dict[str, Echo],
                                                    stop_after: list[Path]) -> None:
    model, _ = setup(engine, tmp_path, echoes, stop_after)
    before = generation(model)
    assert [r.outcome for r in apply_model(str(model))] == ["unchanged"]
    assert generation(model) == before


@pytest.mark.parametrize("engine", ENGINES)
def test_config_refused_by_the_binary_changes_nothing(engine: str, tmp_path: Path, echoes: dict[str, Echo],
                                                      stop_after: list[Path]) -> None:
    model, port = setup(engine, tmp_path, echoes, stop_after)
    before = generation(model)
    # valid for the model, refused by nginx -t / haproxy -c: a server host name that does not resolve
    model.write_text(model.read_text().replace("address: 127.0.0.1, port: " + str(echoes["a2"].port),
                                               "address: no-such-host.invalid, port: 80"))
    with Load(f"http://127.0.0.1:{port}/") as load, pytest.raises(ConfigTestError) as caught:
        apply_model(str(model))
    assert "no-such-host.invalid" in str(caught.value) or "host not found" in str(caught.value)
    assert generation(model) == before
    assert load.failed == 0 and load.ok > 0


@pytest.mark.parametrize("engine", ENGINES)
def test_failure_only_at_reload_rolls_back(engine: str, tmp_path: Path, echoes: dict[str, Echo],
                                           stop_after: list[Path]) -> None:
    model, port = setup(engine, tmp_path, echoes, stop_after)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        text = model.read_text()
        # a second service on a port someone else holds: the config test passes, the reload cannot bind
        text = text.replace("proxies:", f"  - {{name: extra, mode: http, listen: {{address: 127.0.0.1, port: {taken}}}, "
                                        "default_pool: b}\nproxies:").replace("services: [front]", "services: [front, extra]")
        model.write_text(text)
        with Load(f"http://127.0.0.1:{port}/") as load, pytest.raises(ApplyError) as caught:
            apply_model(str(model))
    assert caught.value.rolled_back
    message = str(caught.value)
    assert "reload failed" in message and "restored release" in message
    assert "Address already in use" in message or "cannot bind" in message or "bind" in message
    assert load.failed == 0 and load.ok > 0
    assert {who(f"http://127.0.0.1:{port}/") for _ in range(4)} == {"a1", "a2"}


def test_haproxy_weight_change_needs_no_reload(tmp_path: Path, echoes: dict[str, Echo],
                                               stop_after: list[Path]) -> None:
    model, port = setup("haproxy", tmp_path, echoes, stop_after)
    before = generation(model)
    model.write_text(model.read_text().replace(f"port: {echoes['a2'].port}, weight: 1",
                                               f"port: {echoes['a2'].port}, weight: 0"))
    results = apply_model(str(model))
    assert [r.outcome for r in results] == ["runtime"]
    assert results[0].commands == ["set server be_a/a2 weight 0"]
    assert generation(model) == before
    assert {who(f"http://127.0.0.1:{port}/") for _ in range(10)} == {"a1"}
    # the written config carries the same state: a later reload keeps it
    assert "weight 0" in (proxy_dir(load_file(model), "lb") / "config" / "haproxy.cfg").read_text()
