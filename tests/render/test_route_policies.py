"""Issue 13 item 9 in the model and the rendered configs: per-route access lists, limits, timeouts and the
cache switch, their validation, NGINX's refusal of a header route whose policies differ from its location's
fallback, and both renders under the real ``nginx -t`` / ``haproxy -c``. The traffic proof is the parity
suite (``scenarios_policies.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ctlplane.model.service import HttpService, Route
from tests.render.test_issue12 import ENGINES, binary_ok, model, refusal, render

ROUTES: list[dict[str, Any]] = [
    {"path_prefix": "/login", "pool": "app", "limits": {"requests_per_second": 1, "burst": 0, "status": 503}},
    {"path_prefix": "/upload/", "pool": "app", "limits": {"connections_per_client": 2}},
    {"path_prefix": "/health", "pool": "app", "limits": {}, "access": {}},
    {"path_prefix": "/slow/", "pool": "app", "timeouts": {"server": "2s", "tunnel": "5m"}},
    {"path_prefix": "/admin/", "pool": "app", "access": {"allow": ["10.0.0.0/8"], "deny": ["10.9.0.0/16"]}},
    {"path_prefix": "/live/", "pool": "app", "cache": False},
]
SERVICE = {"routes": ROUTES, "cache": {}, "access": {"deny": ["203.0.113.0/24"]},
           "limits": {"requests_per_second": 20, "connections_per_client": 10}}


@pytest.mark.parametrize("route", [
    {"redirect": {"to_path": "/x"}, "access": {}},
    {"respond": {"status": 200, "body": "ok"}, "limits": {"requests_per_second": 1}},
    {"respond": {"status": 200, "body": "ok"}, "timeouts": {"server": "1s"}},
    {"redirect": {"to_path": "/x"}, "cache": False},
])
def test_a_route_that_answers_itself_takes_no_policy(route: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        Route.model_validate({"path_prefix": "/p/", **route})
    assert "need a pool" in str(caught.value)


def test_route_timeouts_offer_no_connect_timeout() -> None:
    with pytest.raises(ValidationError):
        Route.model_validate({"path_prefix": "/p/", "pool": "app", "timeouts": {"connect": "1s"}})


def test_cache_off_needs_the_service_cache() -> None:
    with pytest.raises(ValidationError) as caught:
        HttpService.model_validate({"name": "w", "mode": "http", "listen": {"port": 80}, "default_pool": "app",
                                    "routes": [{"path_prefix": "/x/", "pool": "app", "cache": False}]})
    assert "routes[0].cache" in str(caught.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_both_engines_render_every_policy(engine: str) -> None:
    text, files = render(model(engine, SERVICE))
    binary_ok(engine, files)
    if engine == "haproxy":
        assert "http-request track-sc0 src if !{ var(txn.ctl_route) -m int 0 1 2 }" in text
        assert "http-request track-sc1 src table 'st_web_0' if { var(txn.ctl_route) -m int 0 }" in text
        assert "if { var(txn.ctl_route) -m int 0 } { sc_gpc0_rate(1) ge 1 }" in text
        assert "backend 'st_web_0'\n    stick-table type ip size 100k expire 30s store gpc0_rate(1s) peers" in text
        assert "backend 'st_web_1'\n    stick-table type ip size 100k expire 30s store conn_cur\n" in text
        assert "'st_web_2'" not in text  # an exempt route is tracked nowhere
        assert "http-request deny deny_status 403 if deny_src !{ var(txn.ctl_route) -m int 2 4 }" in text
        assert "http-request set-var(txn.ctl_timeout_server) int(2000) if { var(txn.ctl_route) -m int 3 }" in text
        assert "http-request set-timeout server var(txn.ctl_timeout_server) if" in text
        assert "http-request set-var(txn.ctl_no_cache) bool(true) if { var(txn.ctl_route) -m int 5 }" in text
    else:
        assert 'limit_req_zone "" zone=ctl_off_req:64k' in text
        login = text[text.index('location "/login"'):]
        assert "limit_req zone=rreq_web_0 nodelay;" in login[:400] and "limit_req_status 503;" in login[:400]
        health = text[text.index('location "/health"'):]
        assert "allow \"all\";" in health[:300] and "limit_req zone=ctl_off_req nodelay;" in health[:300]
        assert "proxy_read_timeout 2s;" in text and "proxy_cache off;" in text


@pytest.mark.parametrize("field,value,message", [
    ("access", {"deny": ["10.0.0.0/8"]}, "NGINX sets access lists per host and path, not per header"),
    ("limits", {"requests_per_second": 1}, "NGINX sets limits per host and path, not per header"),
    ("timeouts", {"server": "1s"}, "NGINX sets timeouts per host and path, not per header"),
    ("cache", False, "NGINX sets caching per host and path, not per header"),
])
def test_nginx_refuses_a_header_route_with_policies_of_its_own(field: str, value: Any, message: str) -> None:
    routes = [{"path_prefix": "/b/", "header": {"name": "X-Beta", "value": "1"}, "pool": "app", field: value},
              {"path_prefix": "/b/", "pool": "app"}]
    service = {"routes": routes, "cache": {}}
    found = refusal(model("nginx", service))
    assert message in found and f"services[0].routes[0].{field}" in found and "haproxy" in found
    render(model("haproxy", service))


def test_a_header_route_sharing_its_location_policies_is_taken() -> None:
    same = {"access": {"deny": ["10.0.0.0/8"]}, "timeouts": {"server": "3s"}}
    routes = [{"path_prefix": "/b/", "header": {"name": "X-Beta", "value": "1"}, "pool": "app", **same},
              {"path_prefix": "/b/", "pool": "app", **same}]
    text, files = render(model("nginx", {"routes": routes}))
    binary_ok("nginx", files)


def test_engine_bounds_apply_to_routes() -> None:
    big = {"routes": [{"path_prefix": "/x/", "pool": "app", "limits": {"connections_per_client": 70_000}}]}
    assert "at most 65535" in refusal(model("nginx", big))
    long = {"routes": [{"path_prefix": "/x/", "pool": "app", "timeouts": {"server": "30d"}}]}
    assert "HAProxy timers stop at 24 days" in refusal(model("haproxy", long))
