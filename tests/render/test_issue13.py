"""Issue 13 in the rendered configs of both engines: WebSocket and other HTTP upgrades pass through with their
own idle timeout (``timeouts.tunnel``). Checked line by line here and by the real ``nginx -t`` /
``haproxy -c``; the traffic proof is the parity suite (``integration/parity/scenarios_day2.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from ctlplane.model.engines import engine_problems
from ctlplane.model.root import Model
from tests.render.test_issue12 import ENGINES, binary_ok, model, refusal, render


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
    assert ('            if ($http_upgrade) {\n                return 418;\n            }\n'
            '            proxy_pass http://pool_app;') in text
    # the forwarded Upgrade/Connection headers are the server's, so the twins send them too
    assert "        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection $ctl_connection;\n" in text
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
