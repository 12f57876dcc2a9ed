"""Issue 13 in the rendered configs of both engines: WebSocket and other HTTP upgrades pass through with their
own idle timeout (``timeouts.tunnel``). Checked line by line here and by the real ``nginx -t`` /
``haproxy -c``; the traffic proof is the parity suite (``integration/parity/scenarios_day2.py``)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ctlplane.errors import ModelError
from ctlplane.model.engines import engine_problems
from ctlplane.model.load import load_bytes
from ctlplane.model.root import Model
from tests.render.test_issue12 import ENGINES, binary_ok, model, refusal, render
from tests.render.test_issue12 import tls_asset as tls_asset  # the fixture, shared


def _routes(**timeouts: Any) -> dict[str, Any]:
    return {"routes": [{"path_prefix": "/ws/", "pool": "app"}, {"path_prefix": "/api/", "pool": "app",
                                                              "max_body_size": "5m"}],
            "timeouts": timeouts}


@pytest.mark.parametrize("engine", ENGINES)
def test_tunnel_timeout_defaults_to_an_hour(engine: str) -> None:
    text, files = render(model(engine))
    if engine == "nginx":
        assert "        proxy_read_timeout 1m;\n" in text  # ordinary requests keep the server timeout
        assert ("location @ctlplane_upgrade_1 {\n            proxy_read_timeout 1h;\n            proxy_send_timeout 1h;\n"
                "            send_timeout 1h;\n            proxy_pass http://pool_app;\n        }") in text
    else:
        assert "    timeout server 1m\n" in text and "    timeout tunnel 1h\n" in text
    binary_ok(engine, files)


def test_nginx_hands_upgrades_to_a_named_twin_per_distinct_location() -> None:
    text, files = render(model("nginx", service=_routes(tunnel="15m")))
    # "/" and "/ws/" proxy the same way and share a twin; "/api/" has its own body limit, so its own twin
    assert text.count("error_page 418 = @ctlplane_upgrade_1;") == 2
    assert text.count("error_page 418 = @ctlplane_upgrade_2;") == 1
    assert text.count("location @ctlplane_upgrade_") == 2
    assert ("location @ctlplane_upgrade_2 {\n            client_max_body_size 5m;\n"
            "            proxy_read_timeout 15m;") in text
    assert ('            if ($ctl_upgrade) {\n                return 418;\n            }\n'
            '            proxy_pass http://pool_app;') in text
    # the forwarded Upgrade/Connection headers are the server's, so the twins send them too
    assert "        proxy_set_header Upgrade $ctl_upgrade;\n        proxy_set_header Connection $ctl_connection;\n" in text
    binary_ok("nginx", files)


def test_nginx_needs_no_twin_when_the_tunnel_timeout_is_the_http_ones() -> None:
    text, files = render(model("nginx", service=_routes(client="5m", server="5m", tunnel="5m")))
    assert "@ctlplane_upgrade" not in text and "return 418" not in text
    assert "        proxy_read_timeout 5m;\n" in text
    binary_ok("nginx", files)


def test_nginx_twin_of_an_empty_pool_keeps_its_503() -> None:
    data = model("nginx", pool={"discover": {"docker": {"labels": {"ctlplane.app": "x"}, "port": 80}},
                                "servers": []})
    text, files = render(data)
    assert ("            recursive_error_pages on;\n            error_page 502 =503 @ctlplane_empty;\n"
            "            proxy_pass http://pool_app;") in text
    assert ("location @ctlplane_upgrade_1 {\n            error_page 502 =503 @ctlplane_empty;\n"
            "            proxy_read_timeout 1h;") in text
    binary_ok("nginx", files)


def test_haproxy_tcp_backends_have_no_tunnel_timeout() -> None:
    data = model("haproxy")
    data["pools"].append({"name": "db", "servers": [{"name": "d", "address": "127.0.0.1", "port": 5432}]})
    data["services"].append({"name": "sql", "mode": "tcp", "listen": {"port": 15432}, "pool": "db",
                             "timeouts": {"client": "1h", "server": "1h"}})
    data["proxies"][0]["services"].append("sql")
    text, files = render(data)
    backend_db = text[text.index("\nbackend 'be_db'") + 1:].split("\n\n")[0]
    assert "timeout tunnel" not in backend_db and "    timeout server 1h\n" in backend_db
    binary_ok("haproxy", files)


def test_haproxy_refuses_services_sharing_a_pool_with_different_tunnel_timeouts() -> None:
    data = model("haproxy", service={"timeouts": {"tunnel": "10m"}})
    data["services"].append({"name": "other", "mode": "http", "listen": {"port": 18121}, "default_pool": "app"})
    data["proxies"][0]["services"].append("other")
    line = refusal(data)
    assert "model.yaml:" in line and "(services[1])" in line and "timeouts.tunnel" in line and "(haproxy)" in line
    assert "use separate pools" in line
    data["proxies"][0]["engine"] = "nginx"  # per location on NGINX: no conflict
    assert list(engine_problems(Model.model_validate(data))) == []


# --- HTTP/2 to the servers: pool protocol h2c / grpc ------------------------------------------------------------


def _tls_grpc(engine: str, **service: Any) -> dict[str, Any]:
    data = model(engine, service={"routes": [{"path_prefix": "/pkg.Svc/", "pool": "rpc"}], **service})
    data["pools"].append({"name": "rpc", "protocol": "grpc",
                          "servers": [{"name": "g", "address": "127.0.0.1", "port": 50051}]})
    return data


@pytest.mark.parametrize("engine", ENGINES)
def test_grpc_pool_behind_tls(engine: str, tls_asset: Any) -> None:
    data = _tls_grpc(engine, tls={"certificates": [{"cert": "c.crt", "key": "c.key"}]})
    text, files = render(data, cert=tls_asset)
    if engine == "nginx":
        grpc = text[text.index('location "/pkg.Svc/" {'):]
        grpc = grpc[:grpc.index("        }")]
        for line in ("grpc_read_timeout 1m;", "grpc_next_upstream error timeout;", "grpc_set_header Host $ctl_host;",
                     "grpc_set_header X-Forwarded-For $remote_addr;", 'grpc_hide_header "X-Powered-By";',
                     "grpc_pass grpc://pool_rpc;"):
            assert f"            {line}\n" in grpc, line
        assert "proxy_pass" not in grpc and "return 418" not in grpc  # gRPC is HTTP/2: no Upgrade twin
        assert " ssl http2" in text
    else:
        assert "    server 'g' '127.0.0.1:50051' weight 1 check proto h2\n" in text
        assert "    server 'a' '127.0.0.1:9001' weight 1 check\n" in text  # the HTTP pool stays HTTP/1.1
    binary_ok(engine, files)


def test_nginx_refuses_h2c_pools() -> None:
    data = model("nginx", pool={"protocol": "h2c"})
    line = refusal(data)
    assert "(pools[0].protocol)" in line and "NGINX 1.22 speaks HTTP/2 to servers only for gRPC" in line
    assert "use protocol: grpc" in line and "engine haproxy" in line
    data["proxies"][0]["engine"] = "haproxy"
    text, files = render(data)
    assert "weight 1 check proto h2\n" in text
    binary_ok("haproxy", files)


def test_nginx_refuses_grpc_on_a_plain_listener() -> None:
    line = refusal(_tls_grpc("nginx"))
    assert "(services[0].routes[0].pool)" in line and "plain listener only as its one protocol" in line
    assert "TLS listener" in line and "engine haproxy" in line
    text, files = render(_tls_grpc("haproxy"))  # HAProxy detects HTTP/2 by its preface on a plain listener
    assert "proto h2" in text
    binary_ok("haproxy", files)


def test_nginx_refuses_a_location_mixing_grpc_and_http_pools() -> None:
    tls = {"certificates": [{"cert": "c.crt", "key": "c.key"}]}
    data = _tls_grpc("nginx", tls=tls)
    data["services"][0]["routes"] = [{"path_prefix": "/", "header": {"name": "Content-Type", "value": "application/grpc"},
                                      "pool": "rpc"}]
    with pytest.raises(ModelError) as caught:  # the certificate is not on disk: look for our finding only
        load_bytes(yaml.safe_dump(data).encode(), "model.yaml")
    lines = [f.one_line() for f in caught.value.findings if "either to gRPC or to HTTP" in f.message]
    assert len(lines) == 1 and "(services[0].routes[0].pool)" in lines[0] and "its own path prefix" in lines[0]


def test_grpc_and_h2c_need_an_http_service_and_http2_from_clients() -> None:
    data = model("haproxy", pool={"protocol": "grpc"})
    data["services"][0] = {"name": "web", "mode": "tcp", "listen": {"port": 18120}, "pool": "app"}
    assert "speaks grpc, an HTTP protocol; a tcp service forwards bytes" in refusal(data)
    data = _tls_grpc("haproxy", tls={"certificates": [{"cert": "c.crt", "key": "c.key"}], "http2": False})
    with pytest.raises(ModelError) as caught:
        load_bytes(yaml.safe_dump(data).encode(), "model.yaml")
    lines = [f.one_line() for f in caught.value.findings if "whose clients need HTTP/2" in f.message]
    assert len(lines) == 1 and "(services[0].routes[0].pool)" in lines[0] and "tls.http2: true" in lines[0]


def test_a_server_line_with_proto_is_parsed_for_runtime_changes() -> None:
    from ctlplane.runtime_plan import parse_servers

    text, _ = render(model("haproxy", pool={"protocol": "h2c"}))
    parsed = parse_servers(text)
    assert parsed is not None
    server = parsed[1][("be_app", "a")]
    assert server.option("proto") == "h2" and server.option("weight") == "1"
