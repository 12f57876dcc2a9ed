"""The NGINX renderer: models built in Python, rendered, and judged by the real
``nginx -t`` (in a directory laid out like the runner's: logs/, tmp/, cache/),
plus determinism, key lines, identifier and quoting refusals, and the
nginx-only refusals in ``ctlplane.model.engines``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import crossplane
import pytest
import trustme

from ctlplane.errors import RenderError
from ctlplane.model.assets import Assets, CertAsset
from ctlplane.model.engines import engine_problems
from ctlplane.model.root import Model
from ctlplane.model.service import HeaderMatch, Route
from ctlplane.render import RenderedFile
from ctlplane.render import nginx_names as names
from ctlplane.render.filters import nginx_quote
from ctlplane.render.nginx import render_nginx
from ctlplane.render.nginx_view import STREAM_MODULE, nginx_view
from tests.helpers import need_binary


# ---------------------------------------------------------------- helpers
def write(directory: Path, files: dict[str, RenderedFile]) -> Path:
    for sub in ("logs", "tmp", "cache"):  # what the runner creates
        (directory / sub).mkdir(exist_ok=True)
    for rel, rendered in files.items():
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(rendered.content)
        os.chmod(target, rendered.mode)
    return directory


def nginx_test(directory: Path, files: dict[str, RenderedFile]) -> None:
    """The real ``nginx -t`` on the staged files (ctlplane.validate's layout)."""
    from ctlplane.validate import check_output

    binary = need_binary("nginx")
    findings = [f for f in check_output("nginx", files, binary=binary) if f.severity != "warning"]
    assert findings == [], "\n".join(f.one_line() for f in findings) + "\n" + files["nginx.conf"].content.decode()


def conf(files: dict[str, RenderedFile]) -> str:
    return files["nginx.conf"].content.decode()


def render(model: Model, assets: Assets | None = None, proxy: str = "lb") -> dict[str, RenderedFile]:
    return render_nginx(model, model.proxy(proxy), assets or Assets())


def pool(name: str, *ports: int, **extra: Any) -> dict[str, Any]:
    servers = [{"name": f"s{i}", "address": "127.0.0.1", "port": p} for i, p in enumerate(ports)]
    return {"name": name, "servers": servers, **extra}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def cert(ca: trustme.CA, *hosts: str) -> CertAsset:
    leaf = ca.issue_cert(*hosts)
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    return CertAsset(chain, leaf.private_key_pem.bytes(), tuple(hosts))


# ---------------------------------------------------------------- the full-featured model
def full_model() -> Model:
    return Model.model_validate({
        "pools": [
            {"name": "web", "balance": {"strategy": "weighted_round_robin"},
             "health": {"passive": {"max_fails": 2, "window": "5s"}},
             "servers": [
                 {"name": "w1", "address": "10.0.0.1", "port": 80, "weight": 3},
                 {"name": "w2", "address": "2001:db8::2", "port": 80},
                 {"name": "w3", "address": "10.0.0.3", "port": 80, "state": "disabled"},
                 {"name": "w4", "address": "10.0.0.4", "port": 80, "state": "disabled"},
                 {"name": "w5", "address": "10.0.0.5", "port": 80, "backup": True}]},
            {**pool("api-v2", 8001, 8002), "balance": {"strategy": "least_connections"}, "keepalive": 0,
             "health": {"passive": None}},
            {**pool("rnd", 8003), "balance": {"strategy": "random"}},
            {**pool("by_ip", 8004), "balance": {"strategy": "source_ip_hash"}},
            {**pool("tenants", 8005, 8006), "balance": {"strategy": "hash", "key": "header", "name": "X-Tenant"}},
            {**pool("carts", 8007), "balance": {"strategy": "hash", "key": "cookie", "name": "cart_id"}},
            {**pool("video", 8008), "balance": {"strategy": "hash", "key": "uri"}},
            {**pool("sticky", 8009, 8010), "persistence": {"type": "cookie", "cookie": "SRV"}},
            {**pool("ipstick", 8011), "persistence": {"type": "source_ip"}},
            {**pool("db", 5432, 5433), "balance": {"strategy": "least_connections"},
             "health": {"passive": {"max_fails": 1, "window": "30s"}}},
            {**pool("cache-db", 6379), "persistence": {"type": "source_ip"}},
        ],
        "services": [
            {"name": "front", "mode": "http", "listen": {"address": "0.0.0.0", "port": 8443},
             "tls": {"certificates": [{"cert": "a.crt", "key": "a.key"}, {"cert": "b.crt", "key": "b.key"}],
                     "min_version": "1.2", "redirect_http_port": 8080,
                     "hsts": {"max_age": "1h", "include_subdomains": True, "preload": True}},
             "routes": [
                 {"host": "a.example.com", "pool": "web"},
                 {"host": "*.b.example.com", "path_prefix": "/api", "pool": "api-v2"},
                 {"path_prefix": "/api", "header": {"name": "X-Tenant", "value": "gold"}, "pool": "tenants"},
                 {"path_prefix": "/api", "header": {"name": "X-Tenant", "value": "silver.1+x"}, "pool": "carts"},
                 {"path_prefix": "/api", "header": {"name": "X-Env", "value": "canary"}, "pool": "sticky"},
                 {"path_prefix": "/video/", "pool": "video"},
                 {"path_prefix": "/r/", "pool": "rnd"},
                 {"path_prefix": "/ip/", "pool": "by_ip"},
                 {"path_prefix": "/stick/", "pool": "sticky"},
                 {"path_prefix": "/ipstick/", "pool": "ipstick"},
             ],
             "default_pool": "web",
             "compression": {"types": ["text/plain", "text/html", "application/json"], "min_length": "1k"},
             "cache": {"max_size": "64m", "valid": "5m", "key": "uri"},
             "static": [{"path_prefix": "/assets/", "root": "static"}, {"path_prefix": "/img", "root": "img"}],
             "access": {"allow": ["10.0.0.0/8", "127.0.0.0/8", "::1/128"], "deny": ["10.9.9.0/24"]},
             "limits": {"connections_per_client": 10, "requests_per_second": 5, "burst": 10, "status": 429},
             "timeouts": {"connect": "500ms", "client": "30s", "server": "2m"},
             "retries": {"attempts": 2, "on_status": [502, 504]},
             "hide_response_headers": ["Server", "X-Powered-By", "x-powered-by", "X-Backend"]},
            {"name": "plain", "mode": "http", "listen": {"address": "::", "port": 8090},
             "routes": [{"path_prefix": "/only", "header": {"name": "X-Go", "value": "yes"}, "pool": "web"}],
             "retries": {"attempts": 0}},
            {"name": "pg", "mode": "tcp", "listen": {"address": "127.0.0.1", "port": 15432}, "pool": "db",
             "access": {"allow": ["127.0.0.0/8"], "deny": ["127.0.0.2/32"]},
             "limits": {"connections_per_client": 5}, "timeouts": {"client": "1h", "server": "30m"}},
            {"name": "redis", "mode": "tcp", "listen": {"port": 16379}, "pool": "cache-db",
             "retries": {"attempts": 0}},
        ],
        "proxies": [{"name": "lb", "engine": "nginx", "services": ["front", "plain", "pg", "redis"],
                     "workers": 2, "max_connections": 4096, "admin": {"port": 18406}}],
    })


@pytest.fixture(scope="module")
def full_assets(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Assets:
    root = tmp_path_factory.mktemp("static")
    (root / "static").mkdir()
    (root / "img").mkdir()
    return Assets(
        certs={("front", 0): cert(ca, "a.example.com", "www.a.example.com"), ("front", 1): cert(ca, "*.b.example.com")},
        static_roots={("front", 0): str(root / "static"), ("front", 1): str(root / "img")},
    )


def test_full_model_passes_nginx(full_assets: Assets, tmp_path: Path) -> None:
    model = full_model()
    assert list(engine_problems(model)) == []
    nginx_test(tmp_path, render(model, full_assets))


def test_render_is_deterministic(full_assets: Assets) -> None:
    assert render(full_model(), full_assets) == render(full_model(), full_assets)


def test_files_and_modes(full_assets: Assets) -> None:
    files = render(full_model(), full_assets)
    assert sorted(files) == ["certs/front-0.crt", "certs/front-0.key", "certs/front-1.crt", "certs/front-1.key",
                             "dhparam.pem", "nginx.conf"]
    assert files["certs/front-0.key"].mode == 0o600 and files["certs/front-0.crt"].mode == 0o644
    assert files["certs/front-1.key"].content == full_assets.certs[("front", 1)].key_pem


def test_main_context_and_runtime_facts(full_assets: Assets) -> None:
    text = conf(render(full_model(), full_assets))
    for line in (f"load_module {STREAM_MODULE};", "worker_processes 2;", "worker_rlimit_nofile 8192;", "pcre_jit on;",
                 "pid run/nginx.pid;", "error_log logs/error.log notice;", "worker_shutdown_timeout 1m;",
                 "worker_connections 4096;", "multi_accept off;", "server_tokens off;", "keepalive_requests 10000;",
                 "client_body_temp_path tmp/client_body;", "proxy_temp_path tmp/proxy;",
                 "access_log logs/access.log ctlplane buffer=64k flush=1s;", "proxy_http_version 1.1;",
                 "proxy_set_header Connection $ctl_connection;", "proxy_set_header X-Forwarded-For $remote_addr;"):
        assert line in text, line
    assert "daemon" not in text and "\nuser " not in text  # Assets() says nothing about a root master
    assert text.index("load_module") < text.index("worker_processes")


def test_stream_module_only_with_tcp() -> None:
    model = Model.model_validate({
        "pools": [pool("web", 8001)],
        "services": [{"name": "s", "mode": "http", "listen": {"port": 8080}, "default_pool": "web"}],
        "proxies": [{"name": "lb", "engine": "nginx", "services": ["s"]}],
    })
    text = conf(render(model))
    assert "load_module" not in text and "stream {" not in text
    assert "worker_processes auto;" in text


def test_upstreams(full_assets: Assets) -> None:
    text = conf(render(full_model(), full_assets))
    assert 'server "10.0.0.1:80" weight=3 max_fails=2 fail_timeout=5s; # "w1"' in text
    assert 'server "[2001:db8::2]:80" weight=1 max_fails=2 fail_timeout=5s; # "w2"' in text
    assert 'server "10.0.0.3:80" weight=1 max_fails=2 fail_timeout=5s down; # "w3"' in text
    assert 'server "10.0.0.4:80" weight=1 max_fails=2 fail_timeout=5s down; # "w4"' in text
    assert 'server "10.0.0.5:80" weight=1 max_fails=2 fail_timeout=5s backup; # "w5"' in text
    assert 'server "127.0.0.1:8001" weight=1 max_fails=0; # "s0"' in text  # passive: null: never marked down
    assert 'server "127.0.0.1:8003" weight=1 max_fails=3 fail_timeout=10s; # "s0"' in text  # the default check
    for line in ("upstream pool_api-v2 {\n        least_conn;", "random two least_conn;",
                 "upstream pool_by_ip {\n        hash $remote_addr consistent;",
                 "hash $http_x_tenant consistent;", "hash $cookie_cart_id consistent;",
                 "hash $request_uri consistent;", "hash $ctl_sticky_sticky consistent;",
                 "upstream pool_ipstick {\n        hash $remote_addr consistent;", "keepalive 32;"):
        assert line in text, line
    api = text[text.index("upstream pool_api-v2 {"):]
    assert "keepalive" not in api[:api.index("}")]


def test_cookie_persistence(full_assets: Assets) -> None:
    text = conf(render(full_model(), full_assets))
    assert 'map $cookie_SRV $ctl_sticky_sticky {\n        "" $request_id;\n        default $cookie_SRV;' in text
    # 'sticky' is used by 'front' (TLS) and 'plain' (the X-Go chain does not reach it): Secure
    assert '"" "SRV=$request_id; Path=/; HttpOnly; Secure; SameSite=Lax";\n        default "";' in text
    stick = text[text.index('location "/stick/"'):]
    assert "add_header Set-Cookie $ctl_setcookie_sticky always;" in stick[:stick.index("}")]


def test_tls_servers_and_certificates(full_assets: Assets, tmp_path: Path) -> None:
    files = render(full_model(), full_assets)
    text = conf(files)
    write(tmp_path, files)
    payload = crossplane.parse(str(tmp_path / "nginx.conf"), single=True)
    http = next(d for d in payload["config"][0]["parsed"] if d["directive"] == "http")
    servers = [d for d in http["block"] if d["directive"] == "server"]
    by_name = {_arg(s, "server_name"): s for s in servers if _arg(s, "listen") == "0.0.0.0:8443"}
    assert set(by_name) == {"a.example.com", "www.a.example.com", "*.b.example.com", "_"}
    assert _arg(by_name["a.example.com"], "ssl_certificate") == "certs/front-0.crt"
    assert _arg(by_name["*.b.example.com"], "ssl_certificate") == "certs/front-1.crt"
    assert _arg(by_name["_"], "ssl_certificate") == "certs/front-0.crt"
    assert [d["args"] for d in by_name["_"]["block"] if d["directive"] == "listen"] == [
        ["0.0.0.0:8443", "ssl", "http2", "default_server"]]
    hsts = "max-age=3600; includeSubDomains; preload"
    for server in by_name.values():  # every location repeats HSTS (a location's add_header replaces the server's)
        for loc in (d for d in server["block"] if d["directive"] == "location"):
            headers = [d["args"] for d in loc["block"] if d["directive"] == "add_header"]
            assert ["Strict-Transport-Security", hsts, "always"] in headers, loc["args"]
    for line in ("ssl_protocols TLSv1.2 TLSv1.3;", "ssl_prefer_server_ciphers off;", "ssl_session_tickets off;",
                 "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:", "ssl_ecdh_curve X25519:prime256v1:secp384r1;"):
        assert line in text
    assert 'listen "0.0.0.0:8080" default_server;\n        server_name "_";\n' \
           "        return 301 https://$host:8443$request_uri;" in text


def _arg(block: dict[str, Any], name: str) -> str:
    return next(d["args"][0] for d in block["block"] if d["directive"] == name)


def test_routes_header_chain_and_404(full_assets: Assets) -> None:
    text = conf(render(full_model(), full_assets))
    # X-Tenant routes share one map; its default is the X-Env map; that one falls back to the default pool
    assert ('map $http_x_tenant $ctl_route_front_1 {\n        "~^gold\\\\z" pool_tenants;\n'
            '        "~^silver\\\\.1\\\\+x\\\\z" pool_carts;\n        default $ctl_route_front_2;') in text
    assert ('map $http_x_env $ctl_route_front_2 {\n        "~^canary\\\\z" pool_sticky;\n'
            '        default pool_web;') in text
    assert "map $ctl_route_front_1 $ctl_cookie_front_1 {" in text  # sticky pool reachable through the chain
    # the plain service: header route with no fallback answers 404 when the header does not match
    # (before the hand-over of upgrades to the location's named twin, which then needs no 404 of its own)
    assert ('if ($ctl_route_plain_1 = "") {\n                return 404;\n            }\n'
            '            error_page 418 = @ctlplane_upgrade_1;\n            if ($ctl_upgrade) {\n'
            '                return 418;\n            }\n            proxy_pass http://$ctl_route_plain_1;') in text
    assert ('location @ctlplane_upgrade_1 {\n            proxy_read_timeout 1h;\n            proxy_send_timeout 1h;\n'
            '            send_timeout 1h;\n            proxy_pass http://$ctl_route_plain_1;') in text
    plain = text[text.index('listen "[::]:8090" default_server ipv6only=off;'):]
    assert 'location "/" {\n            return 404;' in plain
    assert "proxy_next_upstream off;" in plain
    assert ("proxy_next_upstream error timeout http_502 http_504;\n        proxy_next_upstream_tries 3;\n"
            "        proxy_next_upstream_timeout 2m;") in text  # a read timeout (after 2m) is never retried


def test_static_compression_cache_access_limits(full_assets: Assets) -> None:
    text = conf(render(full_model(), full_assets))
    static = full_assets.static_roots[("front", 1)]
    assert 'location "/img/" {' in text and f'alias "{static}/";' in text
    assert 'location = "/img" {' in text and 'return 301 "/img/";' in text
    assert 'gzip_types "text/plain" "application/json";' in text and "gzip_min_length 1024;" in text
    assert "gzip_proxied any;" in text and "gzip_vary on;" in text
    assert ('proxy_cache_path "cache/front" levels=1:2 keys_zone=cache_front:10m max_size=64m inactive=10m '
            'use_temp_path=off;') in text
    assert "proxy_cache cache_front;\n        proxy_cache_valid 200 5m;\n        proxy_cache_key $request_uri;" in text
    assert "X-Cache-Status" not in text  # issue 12 item 12: no cache internals to the client
    assert ('deny "10.9.9.0/24";\n        allow "10.0.0.0/8";\n        allow "127.0.0.0/8";\n'
            '        allow "::1/128";\n        deny all;') in text
    assert "limit_conn_zone $binary_remote_addr zone=conn_front:10m;" in text
    assert "limit_req_zone $binary_remote_addr zone=req_front:10m rate=5r/s;" in text
    assert "limit_conn conn_front 10;\n        limit_conn_status 429;" in text
    assert "limit_req zone=req_front burst=10 nodelay;\n        limit_req_status 429;" in text
    assert 'proxy_hide_header "X-Powered-By";\n        proxy_hide_header "X-Backend";\n' in text
    assert 'proxy_hide_header "Server"' not in text
    assert "proxy_connect_timeout 500ms;" in text and "proxy_read_timeout 2m;" in text
    assert "client_header_timeout 10s;" in text and "client_body_timeout 30s;" in text  # issue 12 item 10


def test_stream_and_admin(full_assets: Assets) -> None:
    text = conf(render(full_model(), full_assets))
    stream = text[text.index("stream {"):]
    assert "upstream pool_db {\n        least_conn;" in stream
    assert "upstream pool_cache-db {\n        hash $remote_addr consistent;" in stream
    assert 'listen "127.0.0.1:15432";\n        deny "127.0.0.2/32";\n        allow "127.0.0.0/8";\n        deny all;' \
           "\n        limit_conn conn_pg 5;\n        proxy_connect_timeout 5s;\n        proxy_timeout 1h;" in stream
    assert "proxy_pass pool_db;" in stream and "limit_conn_zone $binary_remote_addr zone=conn_pg:10m;" in stream
    assert "keepalive" not in stream
    http = text[:text.index("stream {")]
    assert 'listen "127.0.0.1:18406" default_server;' in http and "stub_status;" in http
    assert 'location = /healthz {\n            default_type text/plain;\n            return 200 "ok\\n";' in http


def test_only_the_proxys_services_and_pools() -> None:
    model = Model.model_validate({
        "pools": [pool("a", 8001), pool("b", 8002)],
        "services": [{"name": "sa", "mode": "http", "listen": {"port": 8080}, "default_pool": "a"},
                     {"name": "sb", "mode": "http", "listen": {"port": 8081}, "default_pool": "b"}],
        "proxies": [{"name": "lb", "engine": "nginx", "services": ["sa"]},
                    {"name": "other", "engine": "nginx", "services": ["sb"], "runtime": {"kind": "docker",
                                                                                          "container": "o"}}],
    })
    text = conf(render(model))
    assert "pool_a" in text and "pool_b" not in text and "8081" not in text


def test_long_names_and_tls13(ca: trustme.CA, tmp_path: Path) -> None:
    """Long host and header names need bigger hash buckets; nginx -t proves they were sized."""
    host = ".".join(["a" * 60] * 4) + ".com"  # 249 characters
    header = "X-" + "h" * 62
    model = Model.model_validate({
        "pools": [pool("p" * 40, 8001),
                  pool("q-" + "q" * 38, 8002, persistence={"type": "cookie", "cookie": "C" * 64})],
        "services": [{"name": "s" * 40, "mode": "http", "listen": {"port": 8443},
                      "tls": {"certificates": [{"cert": "c", "key": "k"}], "min_version": "1.3"},
                      "routes": [{"host": host, "pool": "p" * 40},
                                 {"path_prefix": "/x", "header": {"name": header, "value": "v"},
                                  "pool": "q-" + "q" * 38}],
                      "hide_response_headers": [header]}],
        "proxies": [{"name": "lb", "engine": "nginx", "services": ["s" * 40]}],
    })
    files = render(model, Assets(certs={("s" * 40, 0): cert(ca, "tls.example.com")}))
    assert "ssl_protocols TLSv1.3;" in conf(files) and "ssl_ciphers" not in conf(files)
    nginx_test(tmp_path, files)


# ---------------------------------------------------------------- refusals
def test_nginx_quote_never_lets_quote_or_dollar_through() -> None:
    assert nginx_quote('a"b\\c') == '"a\\"b\\\\c"'
    for bad in ("$host", "a$b", "x\ny", "x\x00"):
        with pytest.raises(RenderError):
            nginx_quote(bad)


def test_header_value_with_dollar_is_refused_through_the_view() -> None:
    """Even if validation were bypassed, a '$' in a header value never reaches the config."""
    model = Model.model_validate({
        "pools": [pool("web", 8001)],
        "services": [{"name": "s", "mode": "http", "listen": {"port": 8080},
                      "routes": [{"path_prefix": "/", "header": {"name": "X-T", "value": "gold"}, "pool": "web"}]}],
        "proxies": [{"name": "lb", "engine": "nginx", "services": ["s"]}],
    })
    svc = model.services[0]
    evil = HeaderMatch.model_construct(name="X-T", value='gold" ; $host')
    route = Route.model_construct(host=None, path_prefix="/", header=evil, pool="web")
    forged = model.model_copy(update={"services": [svc.model_copy(update={"routes": [route]})]})
    with pytest.raises(RenderError):
        render(forged)
    quoted = HeaderMatch.model_construct(name="X-T", value='a"b')  # '"' alone is escaped, never closes the string
    forged = model.model_copy(update={"services": [svc.model_copy(update={
        "routes": [Route.model_construct(host=None, path_prefix="/", header=quoted, pool="web")]})]})
    assert '"~^a\\\\\\"b\\\\z" pool_web;' in conf(render(forged))


def test_identifiers_are_checked() -> None:
    assert names.encode("a-b") != names.encode("a_b")
    assert names.route_var("api-v2", 1) == "ctl_route_api_hv2_1"
    for bad in ("SRV-x", "a$b", "1abc", 'a"', ""):
        with pytest.raises(RenderError):
            names.cookie_var(bad)
    with pytest.raises(RenderError):
        names.header_var("X_Bad;")
    with pytest.raises(RenderError):
        names.upstream_name("Bad Name")


def test_forged_cookie_name_is_refused() -> None:
    model = Model.model_validate({
        "pools": [pool("web", 8001, persistence={"type": "cookie", "cookie": "SRV"})],
        "services": [{"name": "s", "mode": "http", "listen": {"port": 8080}, "default_pool": "web"}],
        "proxies": [{"name": "lb", "engine": "nginx", "services": ["s"]}],
    })
    web = model.pools[0]
    forged_persistence = web.persistence.model_construct(type="cookie", cookie="SRV;x")  # type: ignore[union-attr]
    forged = model.model_copy(update={"pools": [web.model_copy(update={"persistence": forged_persistence})]})
    with pytest.raises(RenderError):
        nginx_view(forged, forged.proxies[0], Assets())


def _problems(data: dict[str, Any]) -> list[str]:
    return [p.message for p in engine_problems(Model.model_validate(data))]


def test_engine_refusals_for_nginx() -> None:
    base = {"proxies": [{"name": "lb", "engine": "nginx", "services": ["s"]}]}
    all_backup = {**base, "pools": [{"name": "p", "servers": [{"name": "a", "address": "10.0.0.1", "port": 80,
                                                                "backup": True}]}],
                  "services": [{"name": "s", "mode": "http", "listen": {"port": 80}, "default_pool": "p"}]}
    assert any("not a backup" in m for m in _problems(all_backup))
    same_prefix = {**base, "pools": [pool("p", 80)],
                   "services": [{"name": "s", "mode": "http", "listen": {"port": 80},
                                 "routes": [{"path_prefix": "/static/", "pool": "p"}],
                                 "static": [{"path_prefix": "/static", "root": "x"}]}]}
    assert any("also served as static content" in m for m in _problems(same_prefix))
    two_static = {**base, "pools": [pool("p", 80)],
                  "services": [{"name": "s", "mode": "http", "listen": {"port": 80}, "default_pool": "p",
                                "static": [{"path_prefix": "/s", "root": "x"}, {"path_prefix": "/s/", "root": "y"}]}]}
    assert any("same directory prefix" in m for m in _problems(two_static))
    header_under_static = {**base, "pools": [pool("p", 80)],
                           "services": [{"name": "s", "mode": "http", "listen": {"port": 80},
                                         "routes": [{"path_prefix": "/app/api", "pool": "p",
                                                     "header": {"name": "X-A", "value": "1"}}],
                                         "static": [{"path_prefix": "/app/", "root": "x"}]}]}
    assert any("cannot fall back" in m for m in _problems(header_under_static))
    header_under_static["services"][0]["routes"].append({"path_prefix": "/app/", "pool": "p"})  # type: ignore[index]
    assert any("also served as static" in m for m in _problems(header_under_static))
    header_under_static["services"][0]["routes"][-1]["path_prefix"] = "/app/a"  # type: ignore[index]
    assert _problems(header_under_static) == []


def test_weight_zero_is_refused() -> None:
    data = {"pools": [{"name": "p", "servers": [{"name": "a", "address": "10.0.0.1", "port": 80, "weight": 0}]}],
            "services": [{"name": "s", "mode": "http", "listen": {"port": 80}, "default_pool": "p"}],
            "proxies": [{"name": "lb", "engine": "nginx", "services": ["s"]}]}
    assert any("weight >= 1" in m for m in _problems(data))


def test_listen_also_repeats_the_listen_line(ca: trustme.CA, tmp_path: Path) -> None:
    """Every address of listen.also gets the same listen line, HTTPS, the HTTP redirect port and TCP alike."""
    also = {"address": "127.0.0.1", "also": ["127.0.0.2", "::1"]}
    model = Model.model_validate({
        "pools": [pool("app", 9001), pool("db", 5432)],
        "services": [{"name": "web", "mode": "http", "listen": {**also, "port": 8443}, "default_pool": "app",
                      "tls": {"certificates": [{"cert": "w.crt", "key": "w.key"}], "redirect_http_port": 8080}},
                     {"name": "pg", "mode": "tcp", "listen": {**also, "port": 15432}, "pool": "db"}],
        "proxies": [{"name": "lb", "engine": "nginx", "services": ["web", "pg"]}],
    })
    files = render(model, Assets(certs={("web", 0): cert(ca, "www.example.com")}))
    lines = [ln.strip() for ln in conf(files).splitlines() if ln.strip().startswith("listen ")]
    https = [f'listen "{a}:8443" ssl http2{d};' for d in ("", " default_server") for a in ("127.0.0.1", "127.0.0.2",
                                                                                             "[::1]")]
    assert lines == [
        *https,  # the certificate's host, then the catch-all
        '''listen "127.0.0.1:8080" default_server;''', '''listen "127.0.0.2:8080" default_server;''',
        '''listen "[::1]:8080" default_server;''',
        '''listen "127.0.0.1:15432";''', '''listen "127.0.0.2:15432";''', '''listen "[::1]:15432";''',
    ], lines
    nginx_test(tmp_path, files)
