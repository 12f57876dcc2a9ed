"""NGINX answers that do not come from a backend keep the model's response headers, and authenticated answers
stay out of the cache (an expert review of the rendered configs; HAProxy's ``http-after-response`` rules are
the reference: they apply to every answer).

* An error page is an internal location, which inherits none of the server's ``add_header`` lines: each page
  location repeats the service's response headers, and a location whose route has response headers of its own
  points its ``error_page`` lines at copies of the pages carrying the route's set.
* A ``respond`` or ``redirect`` route's location adds the route's effective response headers, as a proxy
  location does.
* A location asking an authorization service (``auth_request``) never uses the service's cache; basic-auth
  answers are kept out by the cache's Authorization predicates.
* The authorization sub-request keeps its pool connection alive and carries the request id.

The real ``nginx -t`` judges every output; the traffic proof is the parity suite (``errors-headers-*``,
``redirect-headers``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from ctlplane.model.assets import read_assets
from ctlplane.model.load import load_file
from ctlplane.render import render_proxy
from integration.harness.auth_lab import hashed
from tests.render.test_issue12 import binary_ok, model

PAGES = [{"status": [502, 503, 504], "file": "errors/5xx.html"}, {"status": [404, 403, 413], "file": "errors/4xx.html"}]
RESPONSE = {"set": [{"name": "X-Frame-Options", "value": "DENY"}],
            "add": [{"name": "X-Request-ID", "value_from": "request_id"}]}
ROUTE_RESPONSE = {"set": [{"name": "X-Route", "value": "api"}], "remove": ["X-Frame-Options"]}


def _render(tmp_path: Path, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (tmp_path / "errors").mkdir(exist_ok=True)
    for name in ("5xx.html", "4xx.html"):
        (tmp_path / "errors" / name).write_text(f"<html>{name}</html>\n")
    (tmp_path / "users.htpasswd").write_text(f"ann:{hashed('$6$')}\n")
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(data))
    loaded = load_file(path)
    assets = replace(read_assets(loaded), root_masters=frozenset({"lb"}))
    files = render_proxy(loaded.model, "lb", assets)
    return files["nginx.conf"].content.decode(), files


def _block(text: str, start: str) -> str:
    """The text of the block opening with ``start`` up to its first closing brace."""
    block = text[text.index(start):]
    return block[:block.index("\n        }")]


def _service(**extra: Any) -> dict[str, Any]:
    return {"headers": {"response": RESPONSE}, "error_pages": PAGES, **extra}


def test_every_error_page_carries_the_services_response_headers(tmp_path: Path) -> None:
    text, files = _render(tmp_path, model("nginx", service=_service()))
    for n in (0, 1):
        page = _block(text, f'location = "/__ctlplane_error/web-{n}" {{')
        assert 'add_header X-Frame-Options "DENY" always;' in page
        assert "add_header X-Request-ID $ctl_request_id always;" in page
        assert 'add_header Cache-Control "no-store" always;' in page
    binary_ok("nginx", files)


def test_a_routes_own_response_headers_reach_its_error_pages(tmp_path: Path) -> None:
    routes = [{"path_prefix": "/api/", "pool": "app", "headers": {"response": ROUTE_RESPONSE}},
              {"path_prefix": "/plain/", "pool": "app"}]
    text, files = _render(tmp_path, model("nginx", service=_service(routes=routes)))
    api = _block(text, 'location "/api/" {')
    assert 'error_page 502 503 504 "/__ctlplane_error/web-0-r0";' in api
    assert 'error_page 403 404 413 "/__ctlplane_error/web-1-r0";' in api
    assert 'error_page 494 495 496 =400' not in api  # no 400 page in this model
    page = _block(text, 'location = "/__ctlplane_error/web-0-r0" {')
    assert 'add_header X-Route "api" always;' in page and "X-Frame-Options" not in page
    assert "add_header X-Request-ID $ctl_request_id always;" in page
    assert 'add_header Cache-Control "no-store" always;' in page
    plain = _block(text, 'location "/plain/" {')  # the service's pages (repeated for the upgrade hand-over)
    assert '"/__ctlplane_error/web-0";' in plain and "-r0" not in plain
    twin = _block(text, "location @ctlplane_upgrade_2 {")  # /api/'s twin: its errors get the route's pages too
    assert 'add_header X-Route "api" always;' in twin and 'error_page 502 503 504 "/__ctlplane_error/web-0-r0";' in twin
    binary_ok("nginx", files)


def test_respond_and_redirect_locations_add_the_routes_response_headers(tmp_path: Path) -> None:
    routes = [{"path_prefix": "/healthz", "respond": {"status": 200, "body": "ok"}},
              {"path_prefix": "/old/", "redirect": {"to_path_prefix": "/new/"},
               "headers": {"response": ROUTE_RESPONSE}}]
    text, files = _render(tmp_path, model("nginx", service={"headers": {"response": RESPONSE}, "routes": routes}))
    respond = _block(text, 'location "/healthz" {')
    assert 'add_header X-Frame-Options "DENY" always;' in respond
    assert "add_header X-Request-ID $ctl_request_id always;" in respond
    redirect = _block(text, 'location "/old/" {')
    assert 'add_header X-Route "api" always;' in redirect and "X-Frame-Options" not in redirect
    assert "add_header X-Request-ID $ctl_request_id always;" in redirect
    binary_ok("nginx", files)


def test_an_auth_request_location_never_uses_the_cache(tmp_path: Path) -> None:
    routes = [{"path_prefix": "/sso/", "pool": "app", "auth": {"request": {"pool": "app", "path": "/check"}}},
              {"path_prefix": "/nocache/", "pool": "app", "cache": False,
               "auth": {"request": {"pool": "app", "path": "/check"}}}]
    text, files = _render(tmp_path, model("nginx", service={"cache": {}, "routes": routes}))
    sso = _block(text, 'location "/sso/" {')
    assert "auth_request /_ctlplane_auth_1;" in sso and "proxy_cache off;" in sso
    assert _block(text, 'location "/nocache/" {').count("proxy_cache off;") == 1  # once: a duplicate is an error
    assert "proxy_cache off;" not in _block(text, 'location "/" {')
    binary_ok("nginx", files)


def test_a_basic_auth_answer_is_never_cached(tmp_path: Path) -> None:
    routes = [{"path_prefix": "/private/", "pool": "app",
               "auth": {"htpasswd": "users.htpasswd", "realm": "Private"}}]
    text, files = _render(tmp_path, model("nginx", service={"cache": {}, "routes": routes}))
    private = _block(text, 'location "/private/" {')
    assert 'auth_basic "Private";' in private
    assert "proxy_cache" not in private and "proxy_no_cache" not in private  # the server's predicates hold
    server = text[text.index("    server {"):text.index('location "/private/" {')]
    bypass = next(ln for ln in server.splitlines() if "proxy_cache_bypass" in ln)
    no_store = next(ln for ln in server.splitlines() if "proxy_no_cache" in ln)
    assert "$http_authorization" in bypass.split() and "$http_authorization" in no_store.split()
    binary_ok("nginx", files)


def test_the_authorization_subrequest_keeps_the_connection_and_the_request_id(tmp_path: Path) -> None:
    data = model("nginx", service={"auth": {"request": {"pool": "app", "path": "/check"}}})
    text, files = _render(tmp_path, data)
    endpoint = _block(text, "location = /_ctlplane_auth_1 {")
    assert "proxy_http_version 1.1;" in endpoint
    assert 'proxy_set_header Connection "";' in endpoint
    assert "proxy_set_header X-Request-ID $ctl_request_id;" in endpoint
    binary_ok("nginx", files)
