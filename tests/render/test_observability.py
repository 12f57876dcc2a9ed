"""Opt-in observability on both engines: the metrics listener and the JSON
access log render, pass the real ``nginx -t``/``haproxy -c``, leave the default
output alone, and work for real — applied to local proxies on loopback,
/metrics answers (Prometheus text from HAProxy, stub_status from NGINX) and a
request leaves one JSON line with the same keys on both engines."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ctlplane.apply import apply_model
from ctlplane.state.paths import proxy_dir
from ctlplane.drivers import driver_for
from ctlplane.errors import CtlplaneError
from ctlplane.model.assets import Assets
from ctlplane.model.load import load_file
from ctlplane.model.root import Model
from ctlplane.render.access_log import FIELDS
from ctlplane.render.haproxy import render_haproxy
from ctlplane.render.nginx import render_nginx
from ctlplane.validate import check_output, errors_only
from tests.apply.local import Echo, free_port
from tests.helpers import need_binary

ENGINES = ["nginx", "haproxy"]
RENDER = {"nginx": render_nginx, "haproxy": render_haproxy}
ROOT_FILE = {"nginx": "nginx.conf", "haproxy": "haproxy.cfg"}


def model(engine: str, **proxy: Any) -> Model:
    return Model.model_validate({
        "pools": [{"name": "web", "servers": [{"name": "w1", "address": "127.0.0.1", "port": 8001}]},
                  {"name": "db", "servers": [{"name": "d1", "address": "127.0.0.1", "port": 5432}]}],
        "services": [{"name": "front", "mode": "http", "listen": {"address": "127.0.0.1", "port": 18080},
                      "default_pool": "web"},
                     {"name": "sql", "mode": "tcp", "listen": {"address": "127.0.0.1", "port": 15432},
                      "pool": "db"}],
        "proxies": [{"name": "lb", "engine": engine, "services": ["front", "sql"], **proxy}],
    })


def render(engine: str, m: Model) -> dict[str, Any]:
    return RENDER[engine](m, m.proxies[0], Assets(certs={}, static_roots={}))


def text(engine: str, m: Model) -> str:
    return render(engine, m)[ROOT_FILE[engine]].content.decode()


@pytest.mark.parametrize("engine", ENGINES)
def test_default_output_unchanged(engine: str) -> None:
    assert text(engine, model(engine)) == text(engine, model(engine, access_log="default"))
    assert "metrics" not in text(engine, model(engine))


@pytest.mark.parametrize("engine", ENGINES)
def test_rendered_and_accepted(engine: str) -> None:
    m = model(engine, metrics={"port": 9100}, access_log="json", admin={"port": 9000})
    conf = text(engine, m)
    assert "127.0.0.1:9100" in conf
    if engine == "haproxy":
        assert "use-service prometheus-exporter if { path /metrics }" in conf
        assert "log-format '{" in conf and "option httplog" not in conf
        assert "log stderr format raw local0 info" in conf
    else:
        assert "stub_status;" in conf and "escape=json" in conf
        assert "access_log logs/access.log ctlplane_json" in conf
    need_binary(engine)
    assert errors_only(check_output(engine, render(engine, m))) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_ipv6_metrics_accepted(engine: str) -> None:
    m = model(engine, metrics={"address": "::1", "port": 9100})
    need_binary(engine)
    assert errors_only(check_output(engine, render(engine, m))) == []


def test_metrics_socket_collides() -> None:
    with pytest.raises((CtlplaneError, ValueError), match="metrics listener"):
        model("nginx", metrics={"port": 18080})


# ---- real proxies on loopback


@pytest.fixture
def stop_after() -> Iterator[list[Path]]:
    models: list[Path] = []
    yield models
    for path in models:
        loaded = load_file(path)
        for proxy in loaded.model.proxies:
            driver_for(loaded, proxy.name).control.stop()


def _json_line(log: Path, deadline: float) -> dict[str, Any]:
    while time.monotonic() < deadline:
        if log.exists():
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    return dict(json.loads(line))
        time.sleep(0.2)
    raise AssertionError(f"no JSON line in {log}: {log.read_text() if log.exists() else 'missing'}")


@pytest.mark.parametrize("engine", ENGINES)
def test_live_metrics_and_json_log(engine: str, tmp_path: Path, echo: Echo, stop_after: list[Path]) -> None:
    need_binary(engine)
    port, metrics = free_port(), free_port()
    path = tmp_path / "model.yaml"
    path.write_text(
        f"pools:\n  - name: web\n    servers:\n      - {{name: e1, address: 127.0.0.1, port: {echo.port}}}\n"
        f"services:\n  - {{name: front, mode: http, listen: {{address: 127.0.0.1, port: {port}}}, default_pool: web}}\n"
        f"proxies:\n  - {{name: lb, engine: {engine}, services: [front], workers: 1, access_log: json,\n"
        f"      metrics: {{port: {metrics}}}}}\n")
    stop_after.append(path)
    assert [r.outcome for r in apply_model(str(path))] == ["started"]
    response = httpx.get(f"http://127.0.0.1:{port}/some/path?q=1", headers={"Host": "shop.example"}, timeout=5)
    assert response.status_code == 200
    scraped = httpx.get(f"http://127.0.0.1:{metrics}/metrics", timeout=5)
    assert scraped.status_code == 200
    if engine == "haproxy":
        assert "haproxy_process_" in scraped.text and "haproxy_frontend_" in scraped.text
    else:
        assert scraped.text.startswith("Active connections:")
    assert httpx.get(f"http://127.0.0.1:{metrics}/other", timeout=5).status_code == 404
    state = proxy_dir(load_file(path), "lb")
    log = state / "logs" / ("access.log" if engine == "nginx" else "haproxy.log")
    entry = _json_line(log, time.monotonic() + 10)
    assert tuple(entry) == FIELDS
    assert entry["client"] == "127.0.0.1"
    assert entry["host"] == "shop.example"
    assert entry["path"] == "/some/path"
    assert entry["status"] == 200
    assert entry["upstream"] == f"127.0.0.1:{echo.port}"
    assert isinstance(entry["upstream_time_ms"], int) and entry["upstream_time_ms"] >= 0
    # nginx rounds each time separately to whole milliseconds, so the total may read 1 ms under the upstream time
    assert isinstance(entry["total_time_ms"], int) and entry["total_time_ms"] >= entry["upstream_time_ms"] - 1
