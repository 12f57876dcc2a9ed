"""Issue 13 item 8 in the model, the assets and the rendered configs: custom error pages per service and
``intercept_errors``. The page files are read through ``assets`` (confined, bounded, watched) and copied into
the release; the real ``nginx -t`` / ``haproxy -c`` judge the output; the traffic proof is the parity suite
(``scenarios_errors.py``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from ctlplane.errors import ModelError
from ctlplane.model.assets import Assets, read_assets
from ctlplane.model.load import load_file
from ctlplane.model.engines import engine_problems
from ctlplane.model.root import Model
from ctlplane.model.service import HttpService
from ctlplane.render import render_proxy
from ctlplane.render.error_pages import http_response
from tests.render.test_issue12 import ENGINES, binary_ok, model, refusal

PAGE = b"<html><body><h1>Sorry</h1></body></html>\n"
PAGES = [{"status": [502, 503, 504], "file": "errors/5xx.html"}, {"status": [404, 403, 429], "file": "errors/4xx.html"}]


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    (tmp_path / "errors").mkdir(exist_ok=True)
    for name in ("5xx.html", "4xx.html"):
        if not (tmp_path / "errors" / name).exists():
            (tmp_path / "errors" / name).write_bytes(PAGE.replace(b"Sorry", name.encode()))
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _render(tmp_path: Path, data: dict[str, Any]) -> tuple[str, dict[str, bytes], Assets]:
    loaded = load_file(_write(tmp_path, data))
    assets = read_assets(loaded)
    assets = replace(assets, root_masters=frozenset({"lb"}))
    files = render_proxy(loaded.model, "lb", assets)
    engine = loaded.model.proxies[0].engine
    text = files["nginx.conf" if engine == "nginx" else "haproxy.cfg"].content.decode()
    return text, {k: v.content for k, v in files.items()}, assets


def test_a_status_has_one_page_and_interception_needs_pages() -> None:
    with pytest.raises(ValidationError, match="status 502 has two pages"):
        HttpService.model_validate({"name": "w", "mode": "http", "listen": {"port": 80}, "default_pool": "p",
                                    "error_pages": [{"status": [502], "file": "a.html"},
                                                    {"status": [502, 504], "file": "b.html"}]})
    with pytest.raises(ValidationError, match="intercept_errors needs error_pages"):
        HttpService.model_validate({"name": "w", "mode": "http", "listen": {"port": 80}, "default_pool": "p",
                                    "intercept_errors": True})


@pytest.mark.parametrize("status", [200, 401, 408, 407, 425, 418, 599])
def test_only_statuses_both_engines_answer_with_a_page(status: int) -> None:
    with pytest.raises(ValidationError):
        HttpService.model_validate({"name": "w", "mode": "http", "listen": {"port": 80}, "default_pool": "p",
                                    "error_pages": [{"status": [status], "file": "a.html"}]})


@pytest.mark.parametrize("engine", ENGINES)
def test_pages_are_copied_into_the_release_and_watched(engine: str, tmp_path: Path) -> None:
    text, files, assets = _render(tmp_path, model(engine, service={"error_pages": PAGES}))
    assert str(tmp_path / "errors" / "5xx.html") in assets.watched
    assert str(tmp_path / "errors" / "4xx.html") in assets.watched
    five = PAGE.replace(b"Sorry", b"5xx.html")
    if engine == "nginx":
        assert files["errors/pages/web-0.html"] == five
        assert '        error_page 502 503 504 "/__ctlplane_error/web-0";\n' in text
        assert '        error_page 403 404 429 "/__ctlplane_error/web-1";\n' in text
        assert ('        location = "/__ctlplane_error/web-0" {\n            internal;\n            allow all;\n'
                "            types { }\n            default_type text/html;\n            etag off;\n"
                '            add_header Cache-Control "no-store" always;\n'
                '            alias "config/errors/pages/web-0.html";\n        }\n') in text
        assert "intercept_errors" not in text
        assert str(tmp_path) not in text  # never the model's own path
    else:
        assert files["errors/pages/web-503.http"] == http_response(503, five)
        assert files["errors/pages/web-503.http"].startswith(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Length: 44\r\n"
            b"Cache-Control: no-store\r\n\r\n<html>")
        assert "    errorfile 502 'config/errors/pages/web-502.http'\n" in text
        assert "    errorfile 503 'config/errors/pages/web-502.http'\n" in text  # HAProxy's "no server": 502
        assert "    errorfile 504 'config/errors/pages/web-504.http'\n" in text
        assert "    http-error status 503 default-errorfiles\n" in text  # the backend defers to the frontend
        assert "http-response return" not in text
    binary_ok(engine, {k: render_file(v, k) for k, v in files.items()})


def render_file(content: bytes, path: str) -> Any:
    from ctlplane.render import RenderedFile

    return RenderedFile(content, 0o600 if path.endswith(".key") else 0o644)


@pytest.mark.parametrize("engine", ENGINES)
def test_intercept_errors_replaces_the_backends_answers(engine: str, tmp_path: Path) -> None:
    service = {"error_pages": PAGES, "intercept_errors": True, "limits": {"requests_per_second": 5}}
    text, files, _ = _render(tmp_path, model(engine, service=service))
    if engine == "nginx":
        assert "        proxy_intercept_errors on;\n        grpc_intercept_errors on;\n" in text
    else:
        for status in (403, 404, 429, 502, 503, 504):
            assert (f"    http-response return status {status} errorfile 'config/errors/pages/web-{status}.http' "
                    f"if {{ status {status} }}\n") in text
        assert ("http-request deny deny_status 429 errorfile 'config/errors/pages/web-429.http' "
                "if { sc_gpc0_rate(0) ge 11 }") in text
    binary_ok(engine, {k: render_file(v, k) for k, v in files.items()})


def test_nginx_repeats_the_pages_where_a_location_has_its_own_error_pages(tmp_path: Path) -> None:
    service = {"error_pages": [*PAGES, {"status": [400], "file": "errors/4xx.html"}],
               "timeouts": {"tunnel": "10m"}}
    text, files, _ = _render(tmp_path, model("nginx", service=service))
    assert ('            error_page 418 = @ctlplane_upgrade_1;\n            if ($ctl_upgrade) {\n'
            '                return 418;\n            }\n            recursive_error_pages on;\n'
            '            error_page 502 503 504 "/__ctlplane_error/web-0";\n') in text
    assert '        error_page 494 495 496 =400 "/__ctlplane_error/web-2";\n' in text
    binary_ok("nginx", {k: render_file(v, k) for k, v in files.items()})


@pytest.mark.parametrize("engine", ENGINES)
def test_a_discovered_pool_answers_its_503_with_the_page(engine: str, tmp_path: Path) -> None:
    data = model(engine, service={"error_pages": PAGES},
                 pool={"servers": [], "discover": {"docker": {"labels": {"ctlplane.pool": "app"}, "port": 80}}})
    text, files, _ = _render(tmp_path, data)
    if engine == "nginx":
        assert '            error_page 502 =503 /__ctlplane_error/web-0;\n' in text
        assert '            error_page 503 504 "/__ctlplane_error/web-0";\n' in text  # 502 is its own here
    else:
        assert "    errorfile 503 'config/errors/pages/web-503.http'\n" in text.split("\nbackend 'be_app'")[1]
        assert "http-error status 503" not in text
    binary_ok(engine, {k: render_file(v, k) for k, v in files.items()})


def test_nginx_refuses_interception_in_front_of_a_discovered_pool() -> None:
    data = model("nginx", service={"error_pages": PAGES, "intercept_errors": True},
                 pool={"servers": [], "discover": {"docker": {"labels": {"ctlplane.pool": "app"}, "port": 80}}})
    line = refusal(data)
    assert "(services[0].intercept_errors)" in line and "nginx" in line and "engine haproxy" in line


def test_haproxy_refuses_two_503_pages_for_one_discovered_pool() -> None:
    data = model("haproxy", service={"error_pages": PAGES},
                 pool={"servers": [], "discover": {"docker": {"labels": {"ctlplane.pool": "app"}, "port": 80}}})
    data["services"].append({"name": "other", "mode": "http", "listen": {"port": 18121}, "default_pool": "app"})
    data["proxies"][0]["services"].append("other")
    line = refusal(data)
    assert "(services[1].error_pages)" in line and "haproxy" in line and "engine nginx" in line
    data["proxies"][0]["engine"] = "nginx"
    assert list(engine_problems(Model.model_validate(data))) == []  # NGINX answers per service


def test_a_page_outside_the_allowed_directories_or_too_large_is_refused(tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.html"
    outside.write_bytes(PAGE)
    data = model("nginx", service={"error_pages": [{"status": [404], "file": str(outside)}]})
    with pytest.raises(ModelError) as caught:
        read_assets(load_file(_write(tmp_path, data)))
    found = caught.value.findings[0]
    assert found.path == "services[0].error_pages[0].file" and "outside the allowed directories" in found.message
    (tmp_path / "errors" / "big.html").write_bytes(b"x" * (12 * 1024 + 1))
    data = model("nginx", service={"error_pages": [{"status": [404], "file": "errors/big.html"}]})
    with pytest.raises(ModelError, match="more than 12288"):
        read_assets(load_file(_write(tmp_path, data)))
    data = model("nginx", service={"error_pages": [{"status": [404], "file": "errors/missing.html"}]})
    with pytest.raises(ModelError, match="does not exist"):
        read_assets(load_file(_write(tmp_path, data)))
