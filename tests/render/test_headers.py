"""Issue 13 item 5 in the model and the rendered configs: request and response headers per service and route,
the request id, the refused names, and the filters that print a literal value (``nl``, ``hf``). The real
``nginx -t`` / ``haproxy -c`` judge the output; the traffic proof is the parity suite (``scenarios_headers.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from ctlplane.errors import RenderError
from ctlplane.model.headers import HeaderOps, Op, effective
from ctlplane.render.filters import haproxy_format_literal, nginx_literal
from tests.helpers import need_binary
from tests.render.test_issue12 import ENGINES, binary_ok, model, refusal, render

LIT = "a$b ${x} %[src] 100% 'q' \"dq\" back\\slash"
SERVICE = {"headers": {"request": {"set": [{"name": "X-Lit", "value": LIT}],
                                   "add": [{"name": "X-Via", "value": "lb"}], "remove": ["X-Secret"]},
                       "response": {"set": [{"name": "X-Frame-Options", "value": "DENY"}],
                                    "add": [{"name": "X-Request-ID", "value_from": "request_id"}],
                                    "remove": ["X-Debug"]}},
           "routes": [{"path_prefix": "/api/", "pool": "app",
                       "headers": {"request": {"set": [{"name": "X-Via", "value": "api"}]},
                                   "response": {"remove": ["X-Frame-Options"]}}}]}


def test_filters_print_literals() -> None:
    assert nginx_literal(LIT) == '"a${ctl_dollar}b ${ctl_dollar}{x} %[src] 100% \'q\' \\"dq\\" back\\\\slash"'
    assert haproxy_format_literal(LIT) == "'a$b ${x} %%[src] 100%% '\\''q'\\'' \"dq\" back\\slash'"
    for bad in ("a\nb", "a\x00", "\x7f"):
        with pytest.raises(RenderError):
            nginx_literal(bad)
        with pytest.raises(RenderError):
            haproxy_format_literal(bad)


def test_route_entries_replace_the_service_entries_by_name() -> None:
    service = HeaderOps.model_validate({"set": [{"name": "X-A", "value": "1"}, {"name": "X-B", "value": "2"}],
                                        "remove": ["X-C"]})
    route = HeaderOps.model_validate({"add": [{"name": "x-a", "value": "3"}], "remove": ["X-B"]})
    assert effective(service, route) == (Op("remove", "X-C"), Op("remove", "X-B"), Op("add", "x-a", "3"))
    assert effective(service, None) == (Op("remove", "X-C"), Op("set", "X-A", "1"), Op("set", "X-B", "2"))


@pytest.mark.parametrize("engine", ENGINES)
def test_service_and_route_headers(engine: str) -> None:
    text, files = render(model(engine, service=SERVICE))
    if engine == "nginx":
        assert '    map $http_x_request_id $ctl_request_id {\n        "" $request_id;\n' in text
        assert '        proxy_set_header "X-Lit" "a${ctl_dollar}b ${ctl_dollar}{x}' in text
        assert '        proxy_set_header "X-Via" $http_x_via;\n        proxy_set_header "X-Via" "lb";\n' in text
        api = text[text.index('location "/api/"'):]
        api = api[:api.index("proxy_pass")]
        assert "proxy_set_header X-Forwarded-For $remote_addr;" in api  # the server's list, repeated
        assert 'proxy_set_header "X-Via" "api";' in api and "$http_x_via" not in api
        assert "add_header X-Frame-Options" not in api and "proxy_hide_header" not in api  # the server's hides it
        assert 'add_header X-Frame-Options "DENY" always;' in text
        assert "add_header X-Request-ID $ctl_request_id always;" in api
        assert 'request_id="$ctl_request_id"' in text
    else:
        assert "    http-request set-var(txn.ctl_route) int(0) if { path,url_dec,regsub(/+,/,g) -m beg '/api/' }\n" in text
        assert "    http-request set-header X-Request-ID %[var(txn.ctl_rid)]\n" in text
        assert ("    http-request set-header 'X-Lit' 'a$b ${x} %%[src] 100%% '\\''q'\\'' \"dq\" back\\slash' "
                "if !{ var(txn.ctl_route) -m int 0 }\n") in text
        assert "    http-request set-header 'X-Via' 'api' if { var(txn.ctl_route) -m int 0 }\n" in text
        assert "    http-after-response del-header 'X-Frame-Options' if { var(txn.ctl_route) -m int 0 }\n" in text
        assert 'request_id="%{+E}[var(txn.ctl_rid)]"' in text
    binary_ok(engine, files)


@pytest.mark.parametrize("engine", ENGINES)
def test_response_headers_need_no_route_mark_without_route_headers(engine: str) -> None:
    text, files = render(model(engine, service={"headers": {"response": {"add": [
        {"name": "X-Host", "value_from": "host"}, {"name": "X-Scheme", "value_from": "scheme"}]}}}))
    if engine == "haproxy":
        assert "txn.ctl_route" not in text
        assert "    http-request set-var(txn.ctl_host_in) req.hdr(host)\n" in text
        assert "    http-after-response add-header 'X-Scheme' %[ssl_fc,iif(https,http)]\n" in text
    else:
        assert "add_header X-Host $ctl_host always;" in text
    binary_ok(engine, files)


@pytest.mark.parametrize(("headers", "says"), [
    ({"request": {"set": [{"name": "Host", "value": "x"}]}}, "request header 'host' is managed"),
    ({"request": {"remove": ["X-Forwarded-For"]}}, "request header 'x-forwarded-for' is managed"),
    ({"request": {"add": [{"name": "X-Request-ID", "value": "x"}]}}, "request header 'x-request-id' is managed"),
    ({"response": {"set": [{"name": "Content-Length", "value": "1"}]}}, "response header 'content-length'"),
    ({"response": {"remove": ["Server"]}}, "response header 'server' is managed"),
    ({"response": {"remove": ["Set-Cookie"]}}, "Set-Cookie would touch the persistence cookie"),
    ({"request": {"set": [{"name": "X-A", "value": "1"}], "remove": ["x-a"]}}, "one operation per header name"),
    ({"request": {"set": [{"name": "X-A", "value": "1", "value_from": "scheme"}]}}, "exactly one of value"),
    ({"request": {"set": [{"name": "X-A"}]}}, "exactly one of value"),
    ({"request": {"set": [{"name": "X-A", "value": " padded"}]}}, "should match pattern"),
    ({"request": {"set": [{"name": "X-A", "value": "a\r\nX-Evil: 1"}]}}, "should match pattern"),
    ({"request": {"set": [{"name": "X-A", "value_from": "env"}]}}, "client_ip"),
])
def test_refused_headers_are_located(headers: dict[str, Any], says: str) -> None:
    line = refusal(model("haproxy", service={"headers": headers}))
    assert "model.yaml:" in line and "services[0].headers" in line and says in line


def test_refused_by_what_else_reads_them() -> None:
    routed = {"routes": [{"header": {"name": "X-Tier", "value": "gold"}, "pool": "app"}],
              "headers": {"request": {"remove": ["X-Tier"]}}}
    assert "routing reads it as the client sent it" in refusal(model("haproxy", service=routed))
    hsts = {"tls": {"certificates": [{"cert": "c.crt", "key": "c.key"}], "hsts": {"max_age": "1d"}},
            "headers": {"response": {"set": [{"name": "Strict-Transport-Security", "value": "max-age=1"}]}}}
    assert "is set by tls.hsts" in refusal(model("haproxy", service=hsts))


def test_nginx_refuses_own_headers_on_a_header_route() -> None:
    service = {"routes": [{"header": {"name": "X-Tier", "value": "gold"}, "pool": "app",
                           "headers": {"response": {"add": [{"name": "X-Gold", "value": "1"}]}}}]}
    line = refusal(model("nginx", service=service))
    assert "services[0].routes[0].headers" in line and "per host and path, not per header" in line
    assert "engine haproxy" in line
    text, files = render(model("haproxy", service=service))
    assert "    http-after-response add-header 'X-Gold' '1' if { var(txn.ctl_route) -m int 0 }\n" in text
    if need_binary("haproxy"):
        binary_ok("haproxy", files)
