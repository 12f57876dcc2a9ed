"""Issue 12, item by item, in the rendered configs of both engines: each defect the
issue names is either rendered the same way on NGINX and HAProxy (checked here
line by line and by the real ``nginx -t`` / ``haproxy -c``) or refused with a
located error naming the engine and the alternative. The traffic proof of the
same behaviour is the parity suite (``integration/test_parity.py``)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import trustme

from ctlplane.render.backend_headers import ENGINE_CONTROL
from ctlplane.errors import ModelError
from ctlplane.model.assets import Assets, CertAsset
from ctlplane.model.engines import engine_problems
from ctlplane.model.load import load_bytes
from ctlplane.model.root import Model
from ctlplane.render import Output, render_proxy
from ctlplane.validate import check_output
from tests.helpers import need_binary

ENGINES = ("nginx", "haproxy")


def model(engine: str, service: dict[str, Any] | None = None, pool: dict[str, Any] | None = None,
          **proxy: Any) -> dict[str, Any]:
    return {
        "pools": [{"name": "app", "servers": [{"name": "a", "address": "127.0.0.1", "port": 9001},
                                              {"name": "b", "address": "127.0.0.1", "port": 9002}],
                   **(pool or {})}],
        "services": [{"name": "web", "mode": "http", "listen": {"address": "127.0.0.1", "port": 18120},
                      "default_pool": "app", **(service or {})}],
        "proxies": [{"name": "lb", "engine": engine, "services": ["web"], **proxy}],
    }


@pytest.fixture(scope="module")
def tls_asset() -> CertAsset:
    leaf = trustme.CA().issue_cert("www.example.com")
    return CertAsset(b"".join(b.bytes() for b in leaf.cert_chain_pems), leaf.private_key_pem.bytes(),
                     ("www.example.com",))


def render(data: dict[str, Any], root: bool = True, cert: CertAsset | None = None) -> tuple[str, Output]:
    m = Model.model_validate(data)
    assert list(engine_problems(m)) == []
    certs = {("web", 0): cert} if cert else {}
    files = render_proxy(m, "lb", Assets(certs=certs, root_masters=frozenset({"lb"}) if root else frozenset()))
    engine = m.proxies[0].engine
    text = files["nginx.conf" if engine == "nginx" else "haproxy.cfg"].content.decode()
    return text, files


def binary_ok(engine: str, files: Output) -> None:
    findings = [f for f in check_output(engine, files, binary=need_binary(engine)) if not f.message.startswith("warn")]
    assert findings == [], "\n".join(f.one_line() for f in findings)


def refusal(data: dict[str, Any]) -> str:
    """The one-line located error of a refused model (loaded from YAML text, so it has a line)."""
    import yaml

    with pytest.raises(ModelError) as caught:
        load_bytes(yaml.safe_dump(data).encode(), "model.yaml")
    return caught.value.findings[0].one_line()


# --- 1. request bodies ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_item1_body_limit_is_1m_by_default_and_per_route(engine: str) -> None:
    data = model(engine, service={"routes": [{"path_prefix": "/upload/", "pool": "app", "max_body_size": "50m"},
                                             {"path_prefix": "/free/", "pool": "app", "max_body_size": 0}]})
    text, files = render(data)
    if engine == "nginx":
        assert "client_max_body_size 0;" not in text.split("server {")[0]  # no unlimited default at http level
        assert "        client_max_body_size 1m;\n" in text
        assert 'location "/upload/" {\n            client_max_body_size 50m;' in text
        assert 'location "/free/" {\n            client_max_body_size 0;' in text
    else:
        assert "    http-request set-var(txn.ctl_body_max) int(1048576)\n" in text
        assert "int(52428800) if { path,url_dec,regsub(/+,/,g) -m beg '/upload/' }" in text and "int(0) if { path,url_dec,regsub(/+,/,g) -m beg '/free/' }" in text
        assert ("http-request deny deny_status 413 if { var(txn.ctl_body_max) -m int gt 0 } "
                "{ req.hdr_val(content-length),sub(txn.ctl_body_max) gt 0 }") in text
    binary_ok(engine, files)


def test_item1_haproxy_single_limit_is_one_rule() -> None:
    text, _ = render(model("haproxy"))
    assert "    http-request deny deny_status 413 if { req.hdr_val(content-length) gt 1048576 }\n" in text
    text, _ = render(model("haproxy", service={"max_body_size": 0}))
    assert "413" not in text


def test_item1_nginx_refuses_a_header_route_with_its_own_body_limit() -> None:
    routes = [{"path_prefix": "/api/", "pool": "app"},
              {"path_prefix": "/api/", "header": {"name": "X-Big", "value": "yes"}, "pool": "app",
               "max_body_size": "1g"}]
    line = refusal(model("nginx", service={"routes": routes}))
    assert "(services[0].routes[1].max_body_size)" in line and "nginx" in line and "engine haproxy" in line
    assert line.startswith("model.yaml:")
    render(model("haproxy", service={"routes": routes}))  # HAProxy takes it as is


# --- 2. cache ----------------------------------------------------------------------------------------------------


def test_item2_nginx_cache_never_serves_credentials_or_cookies_and_has_stale_and_lock() -> None:
    text, files = render(model("nginx", service={"cache": {}}))
    assert ("proxy_cache_bypass $http_authorization $http_cookie $ctl_req_old $ctl_req_not_get $ctl_req_fresh "
            "$ctl_req_pragma;") in text
    assert "proxy_no_cache $http_authorization $http_cookie $ctl_req_old $ctl_req_not_get $ctl_res_no_lifetime;" in text
    assert "proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;" in text
    assert "proxy_cache_lock on;" in text
    ignored = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("proxy_ignore_headers")]
    assert ignored == ["proxy_ignore_headers X-Accel-Redirect X-Accel-Expires X-Accel-Limit-Rate X-Accel-Buffering "
                       "X-Accel-Charset;"]  # never Set-Cookie, Cache-Control or Expires: those answers stay uncached
    binary_ok("nginx", files)


def test_item2_haproxy_cache_skips_cookies_both_ways() -> None:
    text, files = render(model("haproxy", service={"cache": {}}))
    assert "cache-use 'c_web' unless { var(txn.ctl_no_cache) -m bool }" in text
    assert "cache-store 'c_web' if !{ var(txn.ctl_no_cache) -m bool } !{ res.hdr(set-cookie) -m found }" in text
    binary_ok("haproxy", files)


# --- 3. dual stack -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_item3_all_addresses_is_dual_stack(engine: str) -> None:
    text, _ = render(model(engine, service={"listen": {"address": "::", "port": 18120}}))
    assert ('listen "[::]:18120" default_server ipv6only=off;' if engine == "nginx"
            else "bind '[::]:18120' v4v6") in text


def test_item3_dual_stack_collides_with_any_ipv4_listener() -> None:
    data = model("nginx", service={"listen": {"address": "::", "port": 18120}})
    data["services"].append({"name": "v4", "mode": "http", "listen": {"address": "127.0.0.1", "port": 18120},
                             "default_pool": "app"})
    data["proxies"][0]["services"].append("v4")
    assert "collides with service 'web'" in refusal(data)


# --- 4. forwarded headers and trusted proxies ---------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_item4_client_supplied_forwarded_for_is_replaced(engine: str) -> None:
    text, _ = render(model(engine))
    if engine == "nginx":
        assert "proxy_set_header X-Forwarded-For $remote_addr;" in text and "proxy_add_x_forwarded_for" not in text
        assert "proxy_set_header X-Real-IP $remote_addr;" in text and "set_real_ip_from" not in text
    else:
        assert "    http-request set-header X-Forwarded-For %[src]\n" in text and "forwardfor" not in text
        assert "    http-request set-header X-Real-IP %[src]\n" in text and "set-src" not in text


@pytest.mark.parametrize("engine", ENGINES)
def test_item4_trusted_proxies_name_the_client(engine: str) -> None:
    text, files = render(model(engine, service={"trusted_proxies": ["10.0.0.0/8"],
                                                "access": {"deny": ["192.0.2.0/24"]},
                                                "limits": {"requests_per_second": 5}}))
    if engine == "nginx":
        assert ('        real_ip_header X-Forwarded-For;\n        real_ip_recursive on;\n'
                '        set_real_ip_from "10.0.0.0/8";\n') in text
        assert 'geo $realip_remote_addr $ctl_trusted_web {\n        default 0;\n        "10.0.0.0/8" 1;' in text
        assert "proxy_set_header X-Forwarded-For $ctl_xff_web;" in text
        assert text.index("set_real_ip_from") < text.index('deny "192.0.2.0/24"')
    else:
        assert "    acl ctl_trusted src '10.0.0.0/8'\n" in text
        assert ("    http-request set-src hdr_ip(x-forwarded-for,-1) if ctl_trusted "
                "{ hdr_ip(x-forwarded-for,-1) -m found }\n") in text
        assert "hdr_ip(x-forwarded-for,-10)" in text and "hdr_ip(x-forwarded-for,-11)" not in text
        # the limits and the access list key on the client found, after set-src
        assert text.rindex("set-src") < text.index("track-sc0") < text.index("acl deny_src")
        assert "stick-table type ipv6" in text  # the client may be an IPv6 address
        assert "add-header X-Forwarded-For %[var(txn.ctl_peer)] if { var(txn.ctl_peer_trusted) -m bool }" in text
    binary_ok(engine, files)


# --- 5. request logs -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_item5_every_request_is_logged_in_the_combined_format(engine: str) -> None:
    text, _ = render(model(engine))
    fields = ("host=", "upstream=", "pool=", "upstream_time_ms=", "total_time_ms=")
    if engine == "nginx":
        line = next(ln for ln in text.splitlines() if ln.strip().startswith("log_format ctlplane "))
        assert "access_log logs/access.log ctlplane" in text
    else:
        assert "    log stderr format raw local0 info\n" in text and "option httplog" not in text
        line = next(ln for ln in text.splitlines() if ln.strip().startswith("log-format "))
    assert all(f in line for f in fields) and " - - [" in line


# --- 6. rate limits ------------------------------------------------------------------------------------------------


def test_item6_nginx_default_burst_is_twice_the_rate() -> None:
    text, _ = render(model("nginx", service={"limits": {"requests_per_second": 20}}))
    assert "limit_req zone=req_web burst=40 nodelay;" in text
    assert "burst needs requests_per_second" in refusal(model("nginx", service={"limits": {"burst": 5}}))


# --- 7. passive checks ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_item7_passive_checks_are_on_by_default_and_count_connections(engine: str) -> None:
    text, _ = render(model(engine))
    if engine == "nginx":
        assert 'server "127.0.0.1:9001" weight=1 max_fails=3 fail_timeout=10s; # "a"' in text
    else:
        assert "    default-server inter 10s rise 1 observe layer4 error-limit 3 on-error mark-down\n" in text
    off, _ = render(model(engine, pool={"health": {"passive": None}}))
    assert ("max_fails=0" in off) if engine == "nginx" else ("observe" not in off and " check" not in off)


# --- 8. privileges -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_item8_workers_drop_to_the_model_user_when_the_master_is_root(engine: str) -> None:
    root, files = render(model(engine))
    user, _ = render(model(engine, user="www-data", group="www-data"))
    plain, _ = render(model(engine), root=False)
    if engine == "nginx":
        assert 'user "nobody" "nogroup";\n' in root and 'user "www-data" "www-data";\n' in user
        assert "\nuser " not in plain
    else:
        assert "    user 'nobody'\n    group 'nogroup'\n    chroot '/var/lib/haproxy'\n" in root
        assert "    user 'www-data'\n    group 'www-data'\n" in user
        assert "user " not in plain and "chroot" not in plain
    binary_ok(engine, files)


def test_item8_a_docker_proxy_always_has_a_root_master(monkeypatch: pytest.MonkeyPatch) -> None:
    from ctlplane.model.assets import root_masters

    data = model("haproxy")
    data["proxies"].append({"name": "d", "engine": "haproxy", "services": ["web"],
                            "runtime": {"kind": "docker", "container": "d"}})
    monkeypatch.setattr("ctlplane.model.assets.effective_uid", lambda: 1000)
    assert root_masters(Model.model_validate(data)) == {"d"}
    monkeypatch.setattr("ctlplane.model.assets.effective_uid", lambda: 0)
    assert root_masters(Model.model_validate(data)) == {"lb", "d"}


# --- 9. internal listeners -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("listener", ["admin", "metrics"])
def test_item9_internal_listeners_beyond_loopback_are_refused(engine: str, listener: str) -> None:
    line = refusal(model(engine, **{listener: {"address": "0.0.0.0", "port": 18404}}))
    assert f"(proxies[0].{listener}.address)" in line and "no authentication" in line and "127.0.0.1" in line
    render(model(engine, **{listener: {"address": "127.0.0.2", "port": 18404}}))


# --- 10 and 11. timeouts, retries, queue ---------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_item10_one_set_of_timeouts(engine: str) -> None:
    timeouts = {"connect": "2s", "client": "10m", "server": "30s", "request_header": "5s", "keep_alive": "15s"}
    text, _ = render(model(engine, service={"timeouts": timeouts}))
    if engine == "nginx":
        for line in ("client_header_timeout 5s;", "client_body_timeout 10m;", "send_timeout 10m;",
                     "keepalive_timeout 15s;", "proxy_connect_timeout 2s;", "proxy_read_timeout 30s;",
                     "proxy_next_upstream_tries 3;", "proxy_next_upstream_timeout 30s;"):
            assert f"        {line}\n" in text, line
    else:
        for line in ("timeout client 10m", "timeout http-request 5s", "timeout http-keep-alive 15s",
                     "timeout connect 2s", "timeout server 30s", "timeout tunnel 1h", "timeout queue 1ms",
                     "retry-on conn-failure empty-response"):
            assert f"    {line}\n" in text, line
        assert "response-timeout" not in text
        # the body is waited for up to the client timeout (as NGINX's client_body_timeout), not the header's
        assert "    http-request wait-for-body time 10m\n" in text and "http-buffer-request" not in text


def test_item10_11_queue_is_haproxy_only() -> None:
    text, _ = render(model("haproxy", service={"timeouts": {"queue": "3s"}}))
    assert "    timeout queue 3s\n" in text
    line = refusal(model("nginx", service={"timeouts": {"queue": "3s"}}))
    assert "(services[0].timeouts.queue)" in line and "no request queue" in line and "engine haproxy" in line


def test_item11_nginx_refuses_backup_beside_max_connections() -> None:
    servers = [{"name": "a", "address": "127.0.0.1", "port": 9001, "max_connections": 10},
               {"name": "b", "address": "127.0.0.1", "port": 9002, "backup": True}]
    line = refusal(model("nginx", pool={"servers": servers}))
    assert "(pools[0].servers[1].backup)" in line and "max_connections" in line and "engine haproxy" in line
    render(model("haproxy", pool={"servers": servers}))


def test_item11_haproxy_turns_its_no_server_503_into_nginx_502() -> None:
    _, files = render(model("haproxy"))
    page = files["errors/503.http"].content
    assert page.startswith(b"HTTP/1.1 502 Bad Gateway\r\n") and files["errors/408.http"].content == b""
    binary_ok("haproxy", files)


# --- 12. hidden headers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_item12_hidden_headers_are_additive(engine: str) -> None:
    text, _ = render(model(engine, service={"hide_response_headers": ["X-Runtime"], "cache": {}}))
    if engine == "nginx":
        assert 'proxy_hide_header "X-Powered-By";\n        proxy_hide_header "X-Runtime";' in text
        assert "X-Cache-Status" not in text and "server_tokens off;" in text
    else:
        hidden = [ln.split()[-1] for ln in text.splitlines() if "http-response del-header" in ln]
        accel = [f"'{h}'" for h in ENGINE_CONTROL]  # NGINX ignores and hides a backend's X-Accel-*; HAProxy too
        assert hidden == ["'Server'", "'X-Powered-By'", *accel, "'X-Runtime'"]


# --- 13. persistence cookies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_item13_sticky_cookie_is_secure_over_tls_and_samesite(engine: str, tls_asset: CertAsset) -> None:
    pool = {"persistence": {"type": "cookie"}}
    plain, _ = render(model(engine, pool=pool))
    tls = {"tls": {"certificates": [{"cert": "c.crt", "key": "c.key"}]}}
    secure, files = render(model(engine, pool=pool, service=tls), cert=tls_asset)
    if engine == "nginx":
        assert '"SRV=$request_id; Path=/; HttpOnly; SameSite=Lax"' in plain
        assert '"SRV=$request_id; Path=/; HttpOnly; Secure; SameSite=Lax"' in secure
    else:
        assert "cookie 'SRV' insert indirect nocache httponly attr 'SameSite=Lax'\n" in plain
        assert "cookie 'SRV' insert indirect nocache httponly secure attr 'SameSite=Lax'\n" in secure
    binary_ok(engine, files)


# --- 14. the smaller differences -----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_item14_uri_hash_keeps_the_query_and_host_is_passed_as_sent(engine: str) -> None:
    text, _ = render(model(engine, pool={"balance": {"strategy": "hash", "key": "uri"}}))
    if engine == "nginx":
        assert "hash $request_uri consistent;" in text  # path and query
        assert "proxy_set_header Host $ctl_host;" in text and "map $http_host $ctl_host {" in text
        assert "proxy_set_header X-Forwarded-Host $ctl_host;" in text
        assert "proxy_set_header X-Forwarded-Port $server_port;" in text
    else:
        assert "balance uri path-only whole" in text  # 'whole': the query string too
        assert "http-request set-header X-Forwarded-Host %[req.hdr(host)] if { req.hdr(host) -m found }" in text
        assert "http-request set-header X-Forwarded-Port %[dst_port]" in text


@pytest.mark.parametrize("engine", ENGINES)
def test_item14_drain_time_is_a_model_field(engine: str) -> None:
    text, _ = render(model(engine, drain_timeout="10m"))
    assert ("worker_shutdown_timeout 10m;" if engine == "nginx" else "    hard-stop-after 10m\n") in text


def test_item14_http_checks_are_http11_with_a_host() -> None:
    pool = {"health": {"active": {"type": "http", "path": "/healthz"}}}
    text, files = render(model("haproxy", pool=pool))
    assert "http-check send meth GET uri '/healthz' ver HTTP/1.1 hdr Host 'localhost'" in text
    binary_ok("haproxy", files)


@pytest.mark.parametrize("engine", ENGINES)
def test_item14_source_persistence_is_a_stateless_hash(engine: str) -> None:
    text, _ = render(model(engine, pool={"persistence": {"type": "source_ip"}}))
    assert ("hash $remote_addr consistent;" if engine == "nginx" else "balance source\n    hash-type consistent")\
        in text
    assert "stick" not in text
    data = model(engine, pool={"persistence": {"type": "source_ip"}, "balance": {"strategy": "least_connections"}})
    assert "replaces balance 'least_connections'" in refusal(data)


def test_item14_drain_is_refused_on_nginx() -> None:
    servers = [{"name": "a", "address": "127.0.0.1", "port": 9001, "state": "drain"}]
    line = refusal(model("nginx", pool={"servers": servers}))
    assert "(pools[0].servers[0].state)" in line and "no graceful drain" in line and "engine haproxy" in line


# --- 15. TLS -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("http2", [True, False])
def test_item15_curves_and_http2_are_the_same(engine: str, http2: bool, tls_asset: CertAsset) -> None:
    tls = {"tls": {"certificates": [{"cert": "c.crt", "key": "c.key"}], "http2": http2}}
    text, files = render(model(engine, service=tls), cert=tls_asset)
    if engine == "nginx":
        assert "ssl_ecdh_curve X25519:prime256v1:secp384r1;" in text
        assert (" http2 " in text) is http2
    else:
        assert "ssl-default-bind-curves X25519:P-256:P-384" in text
        assert ("alpn h2,http/1.1" if http2 else "alpn http/1.1") in text
    binary_ok(engine, files)


def test_the_model_text_round_trip_keeps_every_new_field() -> None:
    """Durations and sizes of the new fields serialise back to what the engines read."""
    data = copy.deepcopy(model("haproxy", service={"max_body_size": "3m", "timeouts": {"request_header": "7s"}},
                               drain_timeout="90s"))
    dumped = Model.model_validate(data).model_dump(mode="json")
    assert dumped["services"][0]["max_body_size"] == "3m"
    assert dumped["services"][0]["timeouts"]["request_header"] == "7s"
    assert dumped["proxies"][0]["drain_timeout"] == "90s"
