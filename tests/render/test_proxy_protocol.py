"""Issue 13 item 4 in the model and the rendered configs: the PROXY protocol accepted on a listener (the client
address from its header for logs, limits, access lists and X-Forwarded-For) and sent to a pool's servers, with
NGINX's refusals (open source sends it from stream only, version 1 only). The real ``nginx -t`` /
``haproxy -c`` judge the output; the traffic proof is the parity suite (``scenarios_proxy.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from ctlplane.runtime_plan import runtime_commands
from tests.render.test_issue12 import ENGINES, binary_ok, model, refusal, render

ACCEPT = {"listen": {"address": "127.0.0.1", "port": 18120, "accept_proxy_protocol": True},
          "access": {"deny": ["203.0.113.0/24"]}, "limits": {"requests_per_second": 5}}


def _tcp(engine: str, listen: dict[str, Any], pool: dict[str, Any] | None = None) -> dict[str, Any]:
    data = model(engine, pool=pool)
    data["services"] = [{"name": "db", "mode": "tcp", "listen": listen, "pool": "app",
                         "access": {"allow": ["10.0.0.0/8"]}, "limits": {"connections_per_client": 3}}]
    data["proxies"][0]["services"] = ["db"]
    return data


@pytest.mark.parametrize("engine", ENGINES)
def test_http_listener_takes_the_client_from_the_proxy_header(engine: str) -> None:
    text, files = render(model(engine, service=ACCEPT))
    if engine == "nginx":
        assert ('        listen "127.0.0.1:18120" proxy_protocol default_server;\n' in text)
        assert ("        set_real_ip_from 0.0.0.0/0;\n        set_real_ip_from ::/0;\n"
                "        real_ip_header proxy_protocol;\n        deny \"203.0.113.0/24\";\n") in text
        assert "proxy_set_header X-Forwarded-For $remote_addr;" in text  # the realip address: the claimed client
    else:
        assert "    bind '127.0.0.1:18120' accept-proxy\n" in text  # src is the PROXY header's address
        assert "    http-request set-header X-Forwarded-For %[src]\n" in text
    binary_ok(engine, files)


@pytest.mark.parametrize("engine", ENGINES)
def test_tcp_listener_and_v1_to_the_servers(engine: str) -> None:
    listen = {"address": "127.0.0.1", "port": 15432, "accept_proxy_protocol": True}
    text, files = render(_tcp(engine, listen, {"send_proxy_protocol": "v1"}))
    if engine == "nginx":
        assert ('        listen "127.0.0.1:15432" proxy_protocol;\n        set_real_ip_from 0.0.0.0/0;\n'
                "        set_real_ip_from ::/0;\n") in text
        assert "        proxy_protocol on;\n" in text
    else:
        assert "    bind '127.0.0.1:15432' accept-proxy\n" in text
        # tcp-request connection rules would see the balancer's address: session rules see the client's
        assert "    tcp-request session track-sc0 src\n" in text and "    tcp-request session reject if !allow_src\n" in text
        assert "tcp-request connection" not in text
        assert " send-proxy check-send-proxy\n" in text
    binary_ok(engine, files)


def test_haproxy_sends_v2_from_http_services() -> None:
    text, files = render(model("haproxy", pool={"send_proxy_protocol": "v2"}))
    assert "on-error mark-down send-proxy-v2 check-send-proxy\n" in text
    binary_ok("haproxy", files)


def test_nginx_refuses_what_it_cannot_send() -> None:
    found = refusal(model("nginx", pool={"send_proxy_protocol": "v1"}))
    assert "(pools[0].send_proxy_protocol)" in found and "only from tcp services" in found
    assert "engine haproxy" in found
    found = refusal(_tcp("nginx", {"port": 15432}, {"send_proxy_protocol": "v2"}))
    assert "(pools[0].send_proxy_protocol)" in found and "version 1 only" in found and "use send_proxy_protocol: v1" \
        in found


def test_trusted_proxies_and_the_proxy_protocol_are_one_source_too_many() -> None:
    found = refusal(model("haproxy", service={**ACCEPT, "trusted_proxies": ["10.0.0.0/8"]}))
    assert "(services[0])" in found and "remove trusted_proxies" in found


def test_a_member_joining_a_proxy_protocol_pool_at_run_time_sends_it() -> None:
    head = ("global\n    maxconn 100\n\nbackend 'be_app'\n    balance roundrobin\n"
            "    default-server inter 2s rise 1 send-proxy-v2 check-send-proxy\n")
    old = {"haproxy.cfg": (head + "    server 'a' '10.0.0.1:80' weight 1 check\n").encode()}
    new = {"haproxy.cfg": (head + "    server 'a' '10.0.0.1:80' weight 1 check\n"
                           "    server 'b' '10.0.0.2:80' weight 1 check\n").encode()}
    assert runtime_commands("haproxy", old, new) == [
        "add server be_app/b 10.0.0.2:80 weight 1 send-proxy-v2 check-send-proxy inter 2s rise 1 check",
        "enable health be_app/b", "enable server be_app/b"]
