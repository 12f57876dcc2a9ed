"""HAProxy reads a route's header on its first line only (``req.fhdr(<name>,1)``), as NGINX 1.22's
``$http_<name>``: an ACL on ``req.fhdr(<name>)`` matched any line, so ``X-Beta: 0`` then ``X-Beta: 1`` took
the header route on HAProxy and the fallback on NGINX. Every rendering of a route's header condition (route
pick, ``use_backend``, body limit) shares ``_condition.j2``. The traffic proof is the parity suite
(``route-header-repeated``, ``policy-header-route``)."""

from __future__ import annotations

from tests.render.test_issue12 import binary_ok, model, render


def test_haproxy_reads_a_route_header_on_its_first_line_only() -> None:
    routes = [{"path_prefix": "/beta/", "header": {"name": "X-Beta", "value": "1"}, "pool": "app",
               "access": {"deny": ["203.0.113.0/24"]}, "max_body_size": "1k"},
              {"path_prefix": "/beta/", "pool": "app", "rewrite": {"replace_prefix": "/b/"}}]
    text, files = render(model("haproxy", service={"routes": routes}))
    lines = [line for line in text.splitlines() if "X-Beta" in line]
    assert lines and all("req.fhdr('X-Beta',1) -m str '1'" in line for line in lines)
    assert "req.fhdr('X-Beta')" not in text
    assert any("set-var(txn.ctl_route)" in line for line in lines)
    binary_ok("haproxy", files)
