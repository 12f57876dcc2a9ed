"""Four HTTP services on one real proxy on loopback, both engines, the same outcome. On HAProxy three of them
take their first rules from one named ``defaults`` section (``haproxy_shared``) and the fourth, which hides one
more header, keeps its own inline: the request id reaches the server (the client's, else a generated one) and
is logged with the host and the user agent, and the hidden response headers stay hidden, the fourth
service's own included."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from ctlplane.apply import apply_model, down_model
from ctlplane.drivers import driver_for
from ctlplane.drivers.procfs import wait_for
from ctlplane.model.load import load_file
from tests.apply.local import Echo, free_port
from tests.helpers import need_binary

SERVICES = ("www", "api", "shop", "legacy")  # legacy also hides X-Runtime
ASKED = "/?set=X-Accel-Expires:60&set=X-Runtime:3"  # the echo backend adds these to its answer


def model_text(engine: str, ports: dict[str, int], echo: Echo) -> str:
    services = [f"  - {{name: {name}, mode: http, listen: {{address: 127.0.0.1, port: {port}}}, default_pool: a"
                + (", hide_response_headers: [X-Runtime]}" if name == "legacy" else "}") for name, port in ports.items()]
    return (f"pools:\n  - name: a\n    servers:\n      - {{name: a1, address: 127.0.0.1, port: {echo.port}}}\n"
            "services:\n" + "\n".join(services) +
            f"\nproxies:\n  - {{name: lb, engine: {engine}, services: [{', '.join(ports)}], workers: 1}}\n")


def log_line(log: Path, mark: str) -> str:
    """The access-log line naming ``mark`` (NGINX flushes its buffer every second: waited for up to 5 s)."""
    return wait_for(lambda: next((ln for ln in log.read_text(errors="replace").splitlines() if mark in ln), ""),
                    5.0, interval=0.2)


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_services_sharing_their_first_rules_keep_request_ids_logs_and_hidden_headers(
        engine: str, tmp_path: Path, echo: Echo) -> None:
    need_binary(engine)
    ports = {name: free_port() for name in SERVICES}
    model = tmp_path / "model.yaml"
    model.write_text(model_text(engine, ports, echo))
    try:
        apply_model(model)
        driver = driver_for(load_file(model), "lb")
        if engine == "haproxy":  # the path under test is taken
            config = driver.store.deployed()["haproxy.cfg"].decode()
            assert config.count(" from ctl_http_fe\n") == 3 and "frontend 'fe_legacy'\n" in config
        log = driver.store.state_dir / "logs" / ("access.log" if engine == "nginx" else "haproxy.log")
        for name, port in ports.items():
            url = f"http://127.0.0.1:{port}{ASKED}"
            kept = httpx.get(url + "&k=1", headers={"X-Request-ID": f"rid-{name}", "User-Agent": f"ua-{name}"},
                             timeout=5)
            made = httpx.get(url + "&k=2", timeout=5)
            assert {kept.status_code, made.status_code} == {200}
            got = [{k.lower(): v for k, v in r.json()["headers"].items()} for r in (kept, made)]
            assert got[0]["x-request-id"] == f"rid-{name}"
            assert re.fullmatch(r"[0-9a-f]{32}", got[1]["x-request-id"]), got[1]
            for answer in (kept, made):
                assert answer.headers.get("server") != "echo/1.0"
                assert "x-powered-by" not in answer.headers and "x-accel-expires" not in answer.headers
                assert ("x-runtime" in answer.headers) is (name != "legacy"), (name, dict(answer.headers))
            line = log_line(log, f"rid-{name}")
            assert f'"ua-{name}"' in line and "host=127.0.0.1 " in line, line
            assert f'request_id="{got[1]["x-request-id"]}"' in log_line(log, got[1]["x-request-id"])
    finally:
        down_model(load_file(model))
