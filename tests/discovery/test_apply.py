"""Discovered members through the real pipeline and transaction on the simulated host: on HAProxy they join
and leave through the runtime API (checks enabled on added servers, drain before delete) while the written
config carries the same state; NGINX reloads; an unreachable engine changes nothing; plan shows the members."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctlplane.cli import app
from ctlplane.discovery.fake import FakeDocker
from ctlplane.errors import DriverError
from ctlplane.pipeline import build
from ctlplane.transaction import apply_proxy
from tests.apply.fakes import fake_driver
from tests.discovery.helpers import container

MODEL = """pools:
  - name: web
    health: {active: {type: tcp, interval: 2s, rise: 2, fall: 3}}
    servers:
      - {name: static1, address: 10.0.0.11, port: 8080}
    discover:
      docker: {labels: {ctlplane.pool: web}, network: app-net, port: 8080}
services:
  - {name: front, mode: http, listen: {port: 18080}, default_pool: web}
proxies:
  - {name: lb, engine: ENGINE, services: [front]}
"""


def model(tmp_path: Path, engine: str) -> Path:
    path = tmp_path / "model.yaml"
    text = MODEL.replace("ENGINE", engine)
    if engine == "nginx":
        text = text.replace("active: {type: tcp, interval: 2s, rise: 2, fall: 3}", "passive: {max_fails: 2}")
    path.write_text(text)
    return path


def test_haproxy_members_join_and_leave_at_runtime(tmp_path: Path) -> None:
    path, docker = model(tmp_path, "haproxy"), FakeDocker([container("web-1")])
    driver, host = fake_driver(tmp_path)
    assert apply_proxy(driver, build(path, discovery=docker).outputs["lb"]).outcome == "started"
    docker.start(container("web-2", "10.1.0.6"))
    joined = apply_proxy(driver, build(path, discovery=docker).outputs["lb"])
    assert joined.outcome == "runtime" and joined.commands == [
        "add server be_web/web-2 10.1.0.6:8080 weight 1 inter 2s rise 2 fall 3 observe layer4 error-limit 3 on-error mark-down check",
        "enable health be_web/web-2", "enable server be_web/web-2"]
    docker.stop(container("web-1").id)
    left = apply_proxy(driver, build(path, discovery=docker).outputs["lb"])
    assert left.outcome == "runtime" and left.commands == ["set server be_web/web-1 state drain",
                                                           "del server be_web/web-1"]
    assert host.runtime_log[-3:] == ["set server be_web/web-1 state drain", "set server be_web/web-1 state maint",
                                     "del server be_web/web-1"]  # maintenance first, as del server requires
    written = (driver.store.state_dir / "config" / "haproxy.cfg").read_text()
    assert "server 'web-2' '10.1.0.6:8080' weight 1 check" in written and "web-1" not in written
    assert apply_proxy(driver, build(path, discovery=docker).outputs["lb"]).outcome == "unchanged"


def test_an_empty_discovered_pool_fills_and_empties_at_runtime(tmp_path: Path) -> None:
    """The pool's 503 page belongs to the model, not to its current members: the first member joining and the
    last one leaving change only server lines, so HAProxy takes both without a reload."""
    path, docker = model(tmp_path, "haproxy"), FakeDocker([])
    path.write_text(path.read_text().replace("      - {name: static1, address: 10.0.0.11, port: 8080}\n", "")
                    .replace("    servers:\n", "    servers: []\n"))
    driver, _ = fake_driver(tmp_path)
    assert apply_proxy(driver, build(path, discovery=docker).outputs["lb"]).outcome == "started"
    docker.start(container("web-1"))
    assert apply_proxy(driver, build(path, discovery=docker).outputs["lb"]).outcome == "runtime"
    docker.stop(container("web-1").id)
    assert apply_proxy(driver, build(path, discovery=docker).outputs["lb"]).outcome == "runtime"
    written = (driver.store.state_dir / "config" / "haproxy.cfg").read_text()
    assert "errorfile 503 'config/errors/503-empty-pool.http'" in written and "web-1" not in written


def test_nginx_members_join_by_reload(tmp_path: Path) -> None:
    path, docker = model(tmp_path, "nginx"), FakeDocker([])
    driver, _ = fake_driver(tmp_path, "nginx")
    assert apply_proxy(driver, build(path, discovery=docker).outputs["lb"]).outcome == "started"
    docker.start(container("web-1"))
    assert apply_proxy(driver, build(path, discovery=docker).outputs["lb"]).outcome == "reloaded"
    assert "10.1.0.5:8080" in (driver.store.state_dir / "config" / "nginx.conf").read_text()


def test_an_engine_that_cannot_be_asked_is_an_error_never_an_empty_pool(tmp_path: Path) -> None:
    docker = FakeDocker([container("web-1")])
    docker.go_down()
    with pytest.raises(DriverError, match="engine down"):
        build(model(tmp_path, "haproxy"), discovery=docker)
    assert "10.1.0.5" not in build(model(tmp_path, "haproxy")).outputs["lb"]["haproxy.cfg"].content.decode()


def test_plan_shows_members_their_containers_and_whether_a_reload_is_needed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docker = FakeDocker([container("web-1", health="healthy"), container("web-2", "10.1.0.6", weight="3"),
                         container("bad", "10.1.0.7", port="80;x")])
    monkeypatch.setattr("ctlplane.apply.docker_discovery", lambda _: docker)
    path = model(tmp_path, "haproxy")
    result = CliRunner().invoke(app, ["plan", str(path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "pool web: 2 discovered member(s) (docker ctlplane.pool=web, network app-net)" in out
    assert f"  web-1  10.1.0.5:8080  container {container('web-1').id[:12]}  healthy" in out
    assert "  web-2  10.1.0.6:8080" in out and "weight 3" in out
    assert "left out: container 'bad' (" in out and "label ctlplane.port: '80;x' is not a whole number" in out
    assert f"{path}:" in out and "(pools[0].discover.docker.labels)" in out  # the warning is located
    assert "lb: start" in out
    as_json = json.loads(CliRunner().invoke(app, ["plan", str(path), "-o", "json"]).output)
    (pool,) = as_json["discovered"]
    assert [m["name"] for m in pool["members"]] == ["web-1", "web-2"] and pool["left_out"][0]["refused"]
