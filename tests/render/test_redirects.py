"""Issue 13 item 6 in the model and the rendered configs: redirects, literal answers and path rewrites on a
route, their validation, their order against limits and access lists, and NGINX's refusal of a header route
acting otherwise than its fallback. The real ``nginx -t`` / ``haproxy -c`` judge the output; the traffic proof
is the parity suite (``scenarios_redirect.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ctlplane.model.service import Route
from ctlplane.render.nginx_actions import regex_literal
from tests.render.test_issue12 import ENGINES, binary_ok, model, refusal, render

ROUTES: list[dict[str, Any]] = [
    {"host": "example.com", "redirect": {"to_host": "www.example.com"}},
    {"path_prefix": "/old/", "redirect": {"to_path_prefix": "/new/", "status": 308}},
    {"path_prefix": "/promo", "redirect": {"to_path": "/offers", "status": 302, "keep_query": False}},
    {"path_prefix": "/api/v1/", "pool": "app", "rewrite": {"strip_prefix": True}},
    {"path_prefix": "/v1.0/", "pool": "app", "rewrite": {"replace_prefix": "/v2/"}},
    {"path_prefix": "/healthz", "respond": {"status": 200, "body": 'ok "fine"; {x} #1'}},
]
SERVICE = {"routes": ROUTES, "default_pool": "app", "access": {"deny": ["203.0.113.0/24"]},
           "limits": {"requests_per_second": 5}}


@pytest.mark.parametrize(("route", "message"), [
    ({"pool": "app", "respond": {"status": 200, "body": "ok"}}, "exactly one of pool, redirect and respond"),
    ({}, "exactly one of pool, redirect and respond"),
    ({"redirect": {"to_path": "/x"}, "rewrite": {"strip_prefix": True}}, "needs pool"),
    ({"pool": "app", "rewrite": {"strip_prefix": True}}, "changes nothing"),
    ({"pool": "app", "rewrite": {}}, "exactly one of strip_prefix"),
    ({"pool": "app", "rewrite": {"strip_prefix": True, "replace_prefix": "/x/"}}, "exactly one of strip_prefix"),
    ({"redirect": {"status": 301}}, "needs to_host, to_path or to_path_prefix"),
    ({"redirect": {"to_path": "/a", "to_path_prefix": "/b/"}}, "not both"),
    ({"redirect": {"to_host": "*.example.com"}}, "not a wildcard"),
    ({"host": "a.example.com", "redirect": {"to_host": "a.example.com"}}, "a loop"),
    ({"path_prefix": "/x/", "redirect": {"to_path_prefix": "/x/"}}, "a loop"),
    ({"redirect": {"to_path": "/x", "status": 303}}, "status"),
    ({"respond": {"status": 301, "body": "x"}}, "use redirect"),
    ({"respond": {"status": 204, "body": "x"}}, "carries no body"),
    ({"respond": {"status": 444, "body": "x"}}, "NGINX"),
    ({"respond": {"status": 200, "body": ""}}, "body"),
    ({"respond": {"status": 200, "body": "a$b"}}, "body"),
    ({"respond": {"status": 200, "body": "it's"}}, "body"),
    ({"respond": {"status": 200, "body": "a\nb"}}, "body"),
    ({"respond": {"status": 200, "body": "x" * 513}}, "body"),
])
def test_invalid_route_actions_are_refused(route: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Route.model_validate(route)
    assert message in str(caught.value)


def test_existing_routes_keep_their_meaning() -> None:
    route = Route.model_validate({"path_prefix": "/x/", "pool": "app"})
    assert (route.pool, route.redirect, route.respond, route.rewrite) == ("app", None, None, None)


def test_regex_literal_escapes_everything_but_letters_and_digits() -> None:
    assert regex_literal("/v1.0~x_y-z/") == "\\/v1\\.0\\~x\\_y\\-z\\/"


@pytest.mark.parametrize("engine", ENGINES)
def test_actions_render_and_pass_the_real_binary(engine: str) -> None:
    text, files = render(model(engine, service=SERVICE))
    if engine == "nginx":
        assert ('            set $ctl_to_host "www.example.com";\n'
                '            if ($request_uri ~ "^(?<ctl_rest>[^?]*)(?<ctl_query>.*)") {\n'
                '                return 301 "$scheme://$ctl_to_host$ctl_rest$ctl_query";\n') in text
        assert ('            if ($request_uri ~ "^\\\\/old\\\\/[/\\\\\\\\]*(?<ctl_rest>[^?]*)(?<ctl_query>.*)") {\n'
                '                return 308 "$ctl_to_path$ctl_rest$ctl_query";\n            }\n'
                '            return 308 "$ctl_to_path";\n') in text
        assert '            set $ctl_to_path "/offers";\n            return 302 "$ctl_to_path";\n' in text
        assert '            rewrite "(?s)^\\\\/api\\\\/v1\\\\/[/\\\\\\\\]*(.*)" "/$1" break;\n' in text
        assert ('            set $ctl_rw_prefix "/v2/";\n'
                '            rewrite "(?s)^\\\\/v1\\\\.0\\\\/[/\\\\\\\\]*(.*)" "$ctl_rw_prefix$1" break;\n') in text
        assert ('            types { }\n            default_type "text/plain";\n            gzip off;\n'
                '            return 200 "ok \\"fine\\"; {x} #1";\n') in text
        assert text.count("absolute_redirect off;") >= 3
    else:
        assert ("    http-request redirect location '%[ssl_fc,iif(https,http)]://www.example.com%[pathq]' code 301 "
                "if { var(txn.ctl_route) -m int 0 }\n") in text
        assert ("    http-request redirect location '/new/%[path,bytes(5),regsub(^[/\\\\\\\\]+,)]%[pathq,regsub(^[^?]*,)]' code 308 "
                "if { var(txn.ctl_route) -m int 1 }\n") in text
        assert "    http-request redirect location '/offers' code 302 if { var(txn.ctl_route) -m int 2 }\n" in text
        assert ("    http-request set-path '/%[path,bytes(8),regsub(^[/\\\\\\\\]+,)]' if { var(txn.ctl_route) -m int 3 }\n"
                in text)
        assert "    http-request set-path '/v2/%[path,bytes(6),regsub(^[/\\\\\\\\]+,)]' if { var(txn.ctl_route) -m int 4 }\n" in text
        assert ("    http-request return status 200 content-type 'text/plain' string 'ok \"fine\"; {x} #1' "
                "if { var(txn.ctl_route) -m int 5 }\n") in text
        assert "    use_backend 'be_app' if { var(txn.ctl_route) -m int '3' }\n" in text
    binary_ok(engine, files)


def test_haproxy_order_matches_nginx_phases() -> None:
    """The route pick first (it answers nothing; route headers need it before any answer), then the body limit,
    the answers (NGINX's rewrite phase), limits and access lists; the path rewrite after cache-use (the cache
    keyed on the request as sent)."""
    text, _ = render(model("haproxy", service={**SERVICE, "cache": {}}))
    answers = [text.index(s) for s in ("http-request redirect", "http-request return")]
    at = [text.index(s) for s in ("set-var(txn.ctl_route) int(0)", "deny_status 413")] + sorted(answers) + [
        text.index(s) for s in ("track-sc0", "deny_status 403", "cache-use", "http-request set-path")]
    assert at == sorted(at)
    picks = [line for line in text.splitlines() if "set-var(txn.ctl_route)" in line]
    assert picks[0].endswith("int(0) if { req.hdr(host),host_only -m str 'example.com' 'example.com.' }")
    assert "int(3)" in picks[-1] and "/api/v1/" in picks[-1]  # most specific last: the last match wins


def test_haproxy_log_path_is_saved_again_after_a_rewrite() -> None:
    text, _ = render(model("haproxy", service=SERVICE, access_log="json"))
    assert text.index("http-request set-path") < text.index("http-request set-var(txn.ctl_path) path\n",
                                                            text.index("http-request set-path"))


def test_services_without_actions_route_as_before() -> None:
    text, _ = render(model("haproxy", service={"routes": [{"path_prefix": "/a/", "pool": "app"}]}))
    assert "ctl_route" not in text and "use_backend 'be_app' if { path,url_dec,regsub(/+,/,g) -m beg '/a/' }" in text


def test_nginx_refuses_a_header_route_acting_otherwise_than_its_fallback() -> None:
    routes = [{"path_prefix": "/beta/", "pool": "app"},
              {"path_prefix": "/beta/", "header": {"name": "X-Beta", "value": "1"},
               "redirect": {"to_host": "beta.example.com"}}]
    line = refusal(model("nginx", service={"routes": routes}))
    assert line.startswith("model.yaml:") and "(services[0].routes[1].redirect)" in line
    assert "per host and path, not per header" in line and "engine haproxy" in line
    text, files = render(model("haproxy", service={"routes": routes}))
    binary_ok("haproxy", files)


def test_nginx_takes_a_header_route_doing_what_its_fallback_does() -> None:
    rewrite = {"replace_prefix": "/v2/"}
    routes = [{"path_prefix": "/v1/", "pool": "app", "rewrite": rewrite},
              {"path_prefix": "/v1/", "header": {"name": "X-Beta", "value": "1"}, "pool": "app",
               "rewrite": rewrite}]
    _, files = render(model("nginx", service={"routes": routes}))
    binary_ok("nginx", files)
