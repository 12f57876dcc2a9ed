"""haproxy.cfg from the model: every feature rendered, the real ``haproxy -c``
run on each output (no warnings), determinism, the certificate files and
crt-lists, routing order, and the HAProxy refusals in ``engines.py``."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import trustme

from ctlplane.render.backend_headers import ENGINE_CONTROL
from ctlplane.errors import RenderError
from ctlplane.model.assets import Assets, read_assets
from ctlplane.model.engines import engine_problems
from ctlplane.model.load import Loaded
from ctlplane.model.root import Model
from ctlplane.render import Output
from ctlplane.render.haproxy import render_haproxy
from ctlplane.render.haproxy_view import build_view, crt_list_word
from ctlplane.model.routing import ordered_routes
from tests.helpers import need_binary

TLS = {
    "certificates": [{"cert": "certs/www.crt", "key": "certs/www.key"},
                     {"cert": "certs/api.crt", "key": "certs/api.key"}],
    "redirect_http_port": 18080,
    "hsts": {"max_age": 31_536_000, "include_subdomains": True},
}

FULL: dict[str, Any] = {
    "pools": [
        {"name": "web", "balance": {"strategy": "least_connections"},
         "servers": [{"name": "w1", "address": "127.0.0.1", "port": 8001, "weight": 3, "max_connections": 100},
                     {"name": "w2", "address": "::1", "port": 8002, "state": "drain"},
                     {"name": "w3", "address": "127.0.0.3", "port": 8003, "backup": True},
                     {"name": "w4", "address": "127.0.0.4", "port": 8004, "state": "disabled"}],
         "health": {"active": {"type": "http", "path": "/healthz", "host": "app.internal", "expect_status": 204,
                               "interval": "3s", "rise": 4, "fall": 5},
                    "passive": {"max_fails": 7, "window": "20s"}},
         "persistence": {"type": "cookie", "cookie": "SRVID"}},
        {"name": "api", "balance": {"strategy": "hash", "key": "header", "name": "X-Tenant"}, "keepalive": 0,
         "servers": [{"name": "a1", "address": "127.0.0.1", "port": 9001}],
         "health": {"passive": {"max_fails": 2, "window": "15s"}}},
        {"name": "sess", "balance": {"strategy": "hash", "key": "cookie", "name": "session"},
         "servers": [{"name": "s1", "address": "127.0.0.1", "port": 9002}], "health": {"passive": None}},
        {"name": "uri", "balance": {"strategy": "hash", "key": "uri"},
         "servers": [{"name": "u1", "address": "127.0.0.1", "port": 9003}]},
        {"name": "rnd", "balance": {"strategy": "random"},
         "servers": [{"name": "r1", "address": "127.0.0.1", "port": 9004}]},
        {"name": "wrr", "balance": {"strategy": "weighted_round_robin"},
         "servers": [{"name": "x1", "address": "127.0.0.1", "port": 9005, "weight": 256}]},
        {"name": "db", "balance": {"strategy": "source_ip_hash"},
         "servers": [{"name": "d1", "address": "127.0.0.1", "port": 5432},
                     {"name": "d2", "address": "127.0.0.2", "port": 5432}],
         "health": {"active": {"type": "tcp", "interval": "1s"}, "passive": {}},
         "persistence": {"type": "source_ip"}},
        {"name": "unused", "servers": [{"name": "n1", "address": "127.0.0.1", "port": 9999}]},
    ],
    "services": [
        {"name": "www", "mode": "http", "listen": {"address": "127.0.0.1", "port": 18443},
         "routes": [{"host": "api.example.org", "path_prefix": "/v1/", "pool": "api"},
                    {"host": "*.example.com", "pool": "web"},
                    {"path_prefix": "/s/", "header": {"name": "X-Tenant", "value": "gold,1"}, "pool": "sess"},
                    {"path_prefix": "/u/", "pool": "uri"},
                    {"host": "rnd.example.com", "pool": "rnd"}],
         "default_pool": "web",
         "tls": {**TLS, "min_version": "1.3"},
         "compression": {"types": ["text/plain", "application/json"]},
         "cache": {"max_size": "2500k", "valid": "1500ms"},
         "access": {"allow": ["127.0.0.0/8", "::1/128"], "deny": ["127.0.0.99/32"]},
         "limits": {"connections_per_client": 50, "requests_per_second": 20, "burst": 10, "status": 451},
         "timeouts": {"connect": "2s", "client": "30s", "server": "45s"},
         "retries": {"attempts": 3, "on_status": [504, 502]},
         "hide_response_headers": ["Server", "X-Powered-By", "X-Debug"]},
        {"name": "plain", "mode": "http", "listen": {"address": "::1", "port": 18081},
         "routes": [{"host": "x.example.net", "pool": "wrr"}]},
        {"name": "pg", "mode": "tcp", "listen": {"port": 15432}, "pool": "db",
         "limits": {"connections_per_client": 5}, "access": {"deny": ["10.0.0.0/8"]},
         "retries": {"attempts": 0}, "timeouts": {"server": "2h"}},
        {"name": "elsewhere", "mode": "http", "listen": {"port": 18090}, "default_pool": "unused"},
    ],
    "proxies": [
        {"name": "lb", "engine": "haproxy", "services": ["www", "plain", "pg"], "workers": 2,
         "max_connections": 2000, "admin": {"port": 18404}},
        {"name": "other", "engine": "haproxy", "services": ["elsewhere"], "runtime": {"kind": "docker",
                                                                                       "container": "other"}},
    ],
}

MINIMAL: dict[str, Any] = {
    "pools": [{"name": "app", "servers": [{"name": "a1", "address": "127.0.0.1", "port": 9001},
                                          {"name": "a2", "address": "127.0.0.1", "port": 9002}],
               "health": {"passive": None}}],
    "services": [{"name": "web", "mode": "http", "listen": {"port": 18100}, "default_pool": "app"}],
    "proxies": [{"name": "lb", "engine": "haproxy", "services": ["web"]}],
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory holding trustme certificates (keys 0600)."""
    base = tmp_path_factory.mktemp("model")
    (base / "certs").mkdir()
    ca = trustme.CA()
    for name, hosts in (("www", ("www.example.com", "*.example.com")), ("api", ("api.example.org",))):
        cert = ca.issue_cert(*hosts)
        (base / "certs" / f"{name}.crt").write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
        key = base / "certs" / f"{name}.key"
        key.write_bytes(cert.private_key_pem.bytes())
        key.chmod(0o600)
    return base


def build(data: dict[str, Any], **service_changes: Any) -> Model:
    data = copy.deepcopy(data)
    for name, changes in service_changes.items():
        svc = next(s for s in data["services"] if s["name"] == name)
        svc.update(changes)
    return Model.model_validate(data)


@pytest.fixture(autouse=True)
def _root_master(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render as for a proxy started as root (docker, or ctlplane run by root), whoever runs the tests."""
    monkeypatch.setattr("ctlplane.model.assets.effective_uid", lambda: 0)


def assets_for(model: Model, model_dir: Path) -> Assets:
    return read_assets(Loaded(model, str(model_dir / "model.yaml"), {}))


def render(model: Model, model_dir: Path, proxy: str = "lb") -> Output:
    assert list(engine_problems(model)) == []
    return render_haproxy(model, model.proxy(proxy), assets_for(model, model_dir))


def cfg(out: Output) -> str:
    return out["haproxy.cfg"].content.decode()


def section(text: str, header: str) -> str:
    """The body of the section starting with ``header`` (up to the next blank line)."""
    match = re.search(rf"^{re.escape(header)}\n(.*?)(?:\n\n|\Z)", text, re.S | re.M)
    assert match, f"no section {header!r} in\n{text}"
    return match.group(1)


def haproxy_check(out: Output, directory: Path) -> None:
    """The real ``haproxy -c`` on the staged files (ctlplane.validate's layout): valid and free of warnings."""
    from ctlplane.validate import check_output

    binary = need_binary("haproxy")
    findings = check_output("haproxy", out, binary=binary)
    assert findings == [], "\n".join(f.one_line() for f in findings) + "\n" + out["haproxy.cfg"].content.decode()


# --- the real config test ---------------------------------------------------------------------------------------


def test_full_model_passes_haproxy_check(model_dir: Path, tmp_path: Path) -> None:
    haproxy_check(render(build(FULL), model_dir), tmp_path)


def test_minimal_model_passes_haproxy_check(model_dir: Path, tmp_path: Path) -> None:
    haproxy_check(render(build(MINIMAL), model_dir), tmp_path)


@pytest.mark.parametrize("variant", ["no_default", "catch_all_route", "tls12_no_redirect"])
def test_variants_pass_haproxy_check(variant: str, model_dir: Path, tmp_path: Path) -> None:
    data = copy.deepcopy(MINIMAL)
    svc = data["services"][0]
    if variant == "no_default":
        svc.update(default_pool=None, routes=[{"path_prefix": "/app/", "pool": "app"}])
    elif variant == "catch_all_route":
        svc.update(default_pool=None, routes=[{"pool": "app"}])
    elif variant == "tls12_no_redirect":
        svc.update(tls={"certificates": [{"cert": "certs/api.crt", "key": "certs/api.key"}]})
    out = render(Model.model_validate(data), model_dir)
    haproxy_check(out, tmp_path)


# --- determinism and files --------------------------------------------------------------------------------------


def test_same_input_same_bytes(model_dir: Path) -> None:
    first, second = render(build(FULL), model_dir), render(build(FULL), model_dir)
    assert list(first) == sorted(first)
    assert {k: (v.content, v.mode) for k, v in first.items()} == {k: (v.content, v.mode) for k, v in second.items()}


def test_certificate_files_and_crt_list(model_dir: Path) -> None:
    out = render(build(FULL), model_dir)
    assert set(out) == {"haproxy.cfg", "certs/www-0.pem", "certs/www-1.pem", "certs/www.crtlist", "errors/408.http",
                        "errors/503.http"}
    for i, name in enumerate(("www", "api")):
        pem = out[f"certs/www-{i}.pem"]
        assert pem.mode == 0o600 and pem.secret
        crt = (model_dir / "certs" / f"{name}.crt").read_bytes()
        key = (model_dir / "certs" / f"{name}.key").read_bytes()
        assert pem.content == crt + key
    lines = [ln for ln in out["certs/www.crtlist"].content.decode().splitlines() if not ln.startswith("#")]
    assert lines == ["config/certs/www-0.pem www.example.com *.example.com", "config/certs/www-1.pem api.example.org"]
    assert out["certs/www.crtlist"].mode == 0o644


def test_explicit_hosts_become_sni_filters(model_dir: Path) -> None:
    tls = copy.deepcopy(TLS)
    tls["certificates"][0]["hosts"] = ["www.example.com"]
    out = render(build(FULL, www={"tls": tls}), model_dir)
    assert "config/certs/www-0.pem www.example.com\n" in out["certs/www.crtlist"].content.decode()


def test_crt_list_word_refuses_unquotable_values() -> None:
    assert crt_list_word("*.example.com") == "*.example.com"
    for bad in ("a b", "x'y", "#c", "", "a\nb", 3):
        with pytest.raises(RenderError):
            crt_list_word(bad)


# --- global, defaults, admin ------------------------------------------------------------------------------------


def test_global_and_defaults(model_dir: Path) -> None:
    text = cfg(render(build(FULL), model_dir))
    glob = section(text, "global")
    for line in ("maxconn 2000", "nbthread 2", "stats socket unix@run/admin.sock mode 600 level admin expose-fd listeners",
                 "hard-stop-after 1m", "log stderr format raw local0 info", "tune.ssl.default-dh-param 2048",
                 "httpclient.ssl.verify none",  # its CA bundle load was most of a small check; nothing uses it (no Lua)
                 "user 'nobody'", "group 'nogroup'", "chroot '/var/lib/haproxy'",
                 "ssl-default-bind-curves X25519:P-256:P-384",
                 "ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets",
                 "ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                 "TLS_CHACHA20_POLY1305_SHA256"):
        assert f"    {line}\n" in glob + "\n"
    ciphers = re.search(r"ssl-default-bind-ciphers (\S+)", glob).group(1)  # type: ignore[union-attr]
    assert all(c.startswith(("ECDHE-", "DHE-RSA-")) and ("GCM" in c or "CHACHA20" in c) for c in ciphers.split(":"))
    for banned in ("daemon", "lua-load", "external-check", "insecure-fork-wanted"):
        assert banned not in text
    defaults = section(text, "defaults")
    for line in ("mode http", "option idle-close-on-response", "option dontlognull", "option redispatch",
                 "timeout http-request 10s", "timeout http-keep-alive 60s", "errorfile 408 'config/errors/408.http'",
                 "errorfile 503 'config/errors/503.http'"):
        assert f"    {line}" in defaults


def test_auto_workers_has_no_nbthread(model_dir: Path) -> None:
    assert "nbthread" not in cfg(render(build(MINIMAL), model_dir))


def test_admin_listener(model_dir: Path) -> None:
    text = cfg(render(build(FULL), model_dir))
    admin = section(text, "frontend admin")
    for line in ("bind '127.0.0.1:18404'\n", "no log", "monitor-uri /healthz", "stats enable", "stats uri /stats",
                 "stats refresh 5s"):
        assert f"    {line}" in admin
    assert "frontend admin" not in cfg(render(build(MINIMAL), model_dir))


def test_only_this_proxys_services_and_pools(model_dir: Path) -> None:
    model = build(FULL)
    text = cfg(render(model, model_dir))
    assert "fe_elsewhere" not in text and "be_unused" not in text
    other = cfg(render(model, model_dir, "other"))
    assert re.findall(r"^(?:frontend|backend) (\S+)", other, re.M) == ["'fe_elsewhere'", "'be_unused'"]


# --- frontends ---------------------------------------------------------------------------------------------------


def test_tls_frontend(model_dir: Path) -> None:
    fe = section(cfg(render(build(FULL), model_dir)), "frontend 'fe_www'")
    assert ("    bind '127.0.0.1:18443' ssl crt-list 'config/certs/www.crtlist' alpn h2,http/1.1 ssl-min-ver TLSv1.3\n"
            "    bind '127.0.0.1:18080'\n") in fe
    assert "    http-request redirect location 'https://%[req.hdr(host),host_only]:18443%[pathq]' code 301 " \
           "if !{ ssl_fc }" in fe
    assert "    http-request set-header X-Forwarded-Proto https if { ssl_fc }" in fe
    assert "    http-request set-header X-Forwarded-Proto http if !{ ssl_fc }" in fe
    assert "forwardfor" not in fe  # X-Forwarded-For is replaced, not appended to (see test_forwarded_headers)
    assert ("    http-after-response set-header Strict-Transport-Security 'max-age=31536000; includeSubDomains' "
            "if { ssl_fc }") in fe
    assert [ln.split()[-1] for ln in fe.splitlines() if "http-response del-header" in ln] == [
        "'Server'", "'X-Powered-By'", *(f"'{h}'" for h in ENGINE_CONTROL), "'X-Debug'"]
    assert "    compression algo gzip\n    compression type 'text/html' 'text/plain' 'application/json'" in fe
    assert "    timeout client 30s" in fe


def test_tls12_without_redirect(model_dir: Path) -> None:
    out = render(build(MINIMAL, web={"tls": {"certificates": [{"cert": "certs/api.crt", "key": "certs/api.key"}]}}),
                 model_dir)
    fe = section(cfg(out), "frontend 'fe_web'")
    assert "    bind '0.0.0.0:18100' ssl crt-list 'config/certs/web.crtlist' alpn h2,http/1.1\n" in fe
    assert "ssl-min-ver" not in fe and "redirect" not in fe and "Strict-Transport-Security" not in fe
    assert "    http-request set-header X-Forwarded-Proto https\n" in fe


def test_plain_ipv6_frontend(model_dir: Path) -> None:
    text = cfg(render(build(FULL), model_dir))
    fe = section(text, "frontend 'fe_plain'")
    assert "    bind '[::1]:18081'\n" in fe
    assert "    http-request set-header X-Forwarded-Proto http\n" in fe
    assert "    default_backend 'notfound'" in fe
    assert "backend notfound\n    mode http\n    http-request return status 404 default-errorfiles" in text


def test_default_pool_means_no_notfound_backend(model_dir: Path) -> None:
    text = cfg(render(build(MINIMAL), model_dir))
    assert "    default_backend 'be_app'" in text and "notfound" not in text


def test_routes_follow_global_precedence(model_dir: Path) -> None:
    model = build(FULL)
    fe = section(cfg(render(model, model_dir)), "frontend 'fe_www'")
    rules = [ln.strip() for ln in fe.splitlines() if ln.strip().startswith("use_backend")]
    assert [r.split()[1] for r in rules] == [f"'be_{r.pool}'" for r in ordered_routes(model.service("www"))]
    assert rules == [
        "use_backend 'be_api' if { req.hdr(host),host_only -m str 'api.example.org' 'api.example.org.' } "
        "{ path,url_dec,regsub(/+,/,g) -m beg '/v1/' }",
        "use_backend 'be_sess' if { path,url_dec,regsub(/+,/,g) -m beg '/s/' } { req.fhdr('X-Tenant',1) -m str 'gold,1' }",
        "use_backend 'be_uri' if { path,url_dec,regsub(/+,/,g) -m beg '/u/' }",
        "use_backend 'be_rnd' if { req.hdr(host),host_only -m str 'rnd.example.com' 'rnd.example.com.' }",
        "use_backend 'be_web' if { req.hdr(host),host_only -m end '.example.com' '.example.com.' }",
    ]
    assert fe.rstrip().endswith("default_backend 'be_web'")


def test_only_a_service_with_path_routes_refuses_paths_nginx_would_normalize(model_dir: Path) -> None:
    """Path routes match the decoded path, slashes merged, so a path whose decoded form NGINX would resolve (its
    locations see the normalized one) is refused before any route is picked; hosts alone need no such rule."""
    refusal = "http-request deny deny_status 400 if { path,url_dec -m reg '/\\.\\.?(/|$)' }"
    routed = section(cfg(render(build(FULL), model_dir)), "frontend 'fe_www'")
    assert refusal in routed and routed.index(refusal) < routed.index("use_backend")
    assert "http-request deny deny_status 400 if { path -m found } !{ path,url_dec -m found }" in routed
    by_host = cfg(render(build(MINIMAL, web={"default_pool": None, "routes": [
        {"host": "a.example.com", "pool": "app"}]}), model_dir))
    assert "url_dec" not in by_host
    assert "http-request deny deny_status 400 if { req.ver 1.1 } !{ req.hdr(host) -m found }" in by_host


def test_catch_all_route_is_unconditional(model_dir: Path) -> None:
    text = cfg(render(build(MINIMAL, web={"default_pool": None, "routes": [{"pool": "app"}]}), model_dir))
    assert "    use_backend 'be_app'\n    default_backend 'notfound'" in text


def test_access_lists_deny_before_allow_with_403_like_nginx(model_dir: Path) -> None:
    fe = section(cfg(render(build(FULL), model_dir)), "frontend 'fe_www'")
    assert ("    acl deny_src src '127.0.0.99/32'\n    http-request deny deny_status 403 if deny_src\n"
            "    acl allow_src src '127.0.0.0/8' '::1/128'\n    http-request deny deny_status 403 if !allow_src\n") in fe
    # NGINX's phase order: the limits (preaccess) before the access lists (access)
    assert fe.index("track-sc0") < fe.index("acl deny_src")


def test_http_limits_count_requests_in_progress_and_accepted_requests(model_dir: Path) -> None:
    """Issue 12 item 6: rate 20, burst 10 is 11 requests at once and 20/s sustained, not 30/s."""
    fe = section(cfg(render(build(FULL), model_dir)), "frontend 'fe_www'")
    assert ("    stick-table type ip size 100k expire 30s store conn_cur,gpc0_rate(550ms) peers ctl_reload\n"
            "    http-request track-sc0 src\n") in fe
    assert "http-request deny deny_status 451 content-type text/plain string 'too many requests in progress' " \
           "if { sc_conn_cur(0) gt 50 }" in fe
    assert ("    http-request deny deny_status 451 content-type text/plain string 'too many requests' "
            "if { sc_gpc0_rate(0) ge 11 }\n    http-request sc-inc-gpc0(0)\n") in fe  # refused requests not counted
    assert "http_req_rate" not in fe and "tcp-request connection track" not in fe
    # the redirect answers before any limit, as NGINX's plain redirect server; limits before the routing
    assert fe.index("http-request redirect") < fe.index("sc_gpc0_rate") < fe.index("use_backend")


@pytest.mark.parametrize(("limits", "window", "allowed"), [
    ({"requests_per_second": 5}, "2200ms", 11),  # default burst: twice the rate
    ({"requests_per_second": 20, "burst": 40}, "2050ms", 41),
    ({"requests_per_second": 10, "burst": 0}, "100ms", 1),
])
def test_rate_window_is_burst_plus_one_over_the_rate(limits: dict[str, int], window: str, allowed: int,
                                                     model_dir: Path) -> None:
    fe = section(cfg(render(build(MINIMAL, web={"limits": limits}), model_dir)), "frontend 'fe_web'")
    assert f"store gpc0_rate({window}) peers ctl_reload\n" in fe and "sc_conn_cur" not in fe
    assert f"if {{ sc_gpc0_rate(0) ge {allowed} }}" in fe


def test_request_counters_are_handed_over_at_a_reload_through_a_local_peer(model_dir: Path) -> None:
    """Issue 12 item 14: the old workers teach the new ones their rate counters, as NGINX keeps its zones; the
    peer's abstract socket is named after the state directory, so two proxies on one host never share it."""
    out = render(build(MINIMAL, web={"limits": {"requests_per_second": 5}}), model_dir)
    text = cfg(out)
    assert "    localpeer ctlplane\n" in section(text, "global")
    assert re.search(r"^peers ctl_reload\n    peer ctlplane abns@ctlplane-peers-[0-9a-f]{16}\n", text, re.M)
    model = build(MINIMAL, web={"limits": {"requests_per_second": 5}})
    other = build_view(model, model.proxy("lb"), state_dir=model_dir / "elsewhere")
    assert other.peers is not None and other.peers.address not in text
    # only a request rate is worth handing over: HAProxy never teaches conn_cur (each worker counts its own)
    plain = cfg(render(build(MINIMAL, web={"limits": {"connections_per_client": 5}}), model_dir))
    assert "peers" not in plain and "localpeer" not in plain


def test_tcp_frontend(model_dir: Path) -> None:
    fe = section(cfg(render(build(FULL), model_dir)), "frontend 'fe_pg'")
    assert fe.startswith("    mode tcp\n    bind '0.0.0.0:15432'\n    option tcplog\n"
                         "    no option idle-close-on-response\n")
    assert ("    stick-table type ip size 100k expire 30s store conn_cur\n    tcp-request connection track-sc0 src\n"
            "    tcp-request connection reject if { sc_conn_cur(0) gt 5 }\n") in fe
    assert "http-" not in fe and "forwardfor" not in fe
    assert fe.rstrip().endswith("default_backend 'be_db'")


def test_cache_section_rounds_up(model_dir: Path) -> None:
    text = cfg(render(build(FULL), model_dir))
    assert "cache 'c_www'\n    total-max-size 3\n    max-age 2\n    process-vary on\n" in text
    fe = section(text, "frontend 'fe_www'")
    assert "    http-request set-var(txn.ctl_no_cache) bool(true) if { req.hdr(cookie) -m found }\n" in fe
    assert "    http-request cache-use 'c_www' unless { var(txn.ctl_no_cache) -m bool }" in fe
    assert ("    http-response cache-store 'c_www' if !{ var(txn.ctl_no_cache) -m bool } "
            "!{ res.hdr(set-cookie) -m found }") in fe


# --- backends ----------------------------------------------------------------------------------------------------


def test_servers_states_and_persistence_cookie(model_dir: Path) -> None:
    be = section(cfg(render(build(FULL), model_dir)), "backend 'be_web'")
    assert "    balance leastconn\n" in be and "hash-type" not in be
    assert "    cookie 'SRVID' insert indirect nocache httponly secure attr 'SameSite=Lax'\n" in be  # only 'www' (TLS)
    assert ("    option httpchk\n    http-check send meth GET uri '/healthz' ver HTTP/1.1 hdr Host 'app.internal'\n"
            "    http-check expect status 204") in be
    assert "    default-server inter 3s rise 4 fall 5 observe layer4 error-limit 7 on-error mark-down" in be
    servers = [ln.strip() for ln in be.splitlines() if ln.strip().startswith("server ")]
    assert servers == [
        "server 'w1' '127.0.0.1:8001' weight 3 maxconn 100 check cookie 'w1'",
        "server 'w2' '[::1]:8002' weight 0 check cookie 'w2'",  # drain keeps sticky sessions
        "server 'w3' '127.0.0.3:8003' weight 1 backup check cookie 'w3'",
        "server 'w4' '127.0.0.4:8004' weight 1 disabled check cookie 'w4'",
    ]


def test_backend_timeouts_and_retries_come_from_the_service(model_dir: Path) -> None:
    be = section(cfg(render(build(FULL), model_dir)), "backend 'be_web'")
    assert "    timeout connect 2s\n    timeout server 45s\n    timeout queue 1ms\n    timeout tunnel 1h\n    retries 3\n" in be
    assert "    retry-on conn-failure empty-response 502 504\n" in be  # never a response timeout
    assert "    http-request disable-l7-retry if { method POST PATCH LOCK }" in be
    assert "    http-reuse always" in be  # empty answers are retried: a client's first request may reuse too


def test_no_retries(model_dir: Path) -> None:
    text = cfg(render(build(MINIMAL, web={"retries": {"attempts": 0}}), model_dir))
    be = section(text, "backend 'be_app'")
    assert "    retries 0\n" in be and "retry-on" not in be and "disable-l7-retry" not in be
    assert "    http-reuse safe" in be  # nothing would retry a first request sent on a connection being closed


def test_passive_only_checks_count_failed_connections_only(model_dir: Path) -> None:
    """Issue 12 item 7: no 'observe layer7' (which counts 5xx); the check only brings a server back."""
    be = section(cfg(render(build(FULL), model_dir)), "backend 'be_api'")
    assert "    balance hdr('X-Tenant')\n    hash-type consistent\n" in be
    assert "    http-reuse never" in be
    assert "    default-server inter 15s rise 1 observe layer4 error-limit 2 on-error mark-down\n" in be
    assert "    server 'a1' '127.0.0.1:9001' weight 1 check" in be
    assert "httpchk" not in be and "layer7" not in cfg(render(build(FULL), model_dir))


def test_passive_checks_are_on_by_default(model_dir: Path) -> None:
    data = copy.deepcopy(MINIMAL)
    del data["pools"][0]["health"]
    be = section(cfg(render(Model.model_validate(data), model_dir)), "backend 'be_app'")
    assert "    default-server inter 10s rise 1 observe layer4 error-limit 3 on-error mark-down\n" in be


def test_source_persistence_is_a_consistent_hash_without_stick_table(model_dir: Path) -> None:
    """Issue 12 item 14: no stick table to lose at a reload or to differ between the nodes of a pair."""
    data = copy.deepcopy(FULL)
    data["pools"][5]["persistence"] = {"type": "source_ip"}  # wrr
    be = section(cfg(render(Model.model_validate(data), model_dir)), "backend 'be_wrr'")
    assert "    balance source\n    hash-type consistent\n" in be
    assert "stick" not in cfg(render(Model.model_validate(data), model_dir)).split("backend 'be_web'")[1]


@pytest.mark.parametrize(("pool", "lines"), [
    ("sess", ["balance hash req.cook('session')", "hash-type consistent"]),
    ("uri", ["balance uri path-only whole", "hash-type consistent"]),
    ("rnd", ["balance random(2)"]),
    ("wrr", ["balance roundrobin"]),
    ("db", ["balance source", "hash-type consistent"]),
])
def test_balance(pool: str, lines: list[str], model_dir: Path) -> None:
    be = section(cfg(render(build(FULL), model_dir)), f"backend 'be_{pool}'")
    for line in lines:
        assert f"    {line}\n" in be + "\n"
    if "hash-type consistent" not in lines:
        assert "hash-type" not in be


def test_unchecked_pool_has_no_check(model_dir: Path) -> None:
    be = section(cfg(render(build(MINIMAL), model_dir)), "backend 'be_app'")
    assert "check" not in be and "default-server" not in be
    assert "    balance roundrobin\n" in be


def test_tcp_backend(model_dir: Path) -> None:
    be = section(cfg(render(build(FULL), model_dir)), "backend 'be_db'")
    assert be.startswith("    mode tcp\n")
    assert "    timeout connect 5s\n    timeout server 2h\n    timeout queue 1ms\n    retries 0\n" in be
    assert "    balance source\n    hash-type consistent\n" in be and "stick" not in be
    assert "    default-server inter 1s rise 2 fall 3 observe layer4 error-limit 3 on-error mark-down" in be
    assert "http-" not in be and "retry-on" not in be and "cookie" not in be


def test_server_names_are_runtime_addressable(model_dir: Path) -> None:
    """`set server be_<pool>/<server> weight N` needs the model's names, unchanged, once per backend."""
    model = build(FULL)
    text = cfg(render(model, model_dir))
    for pool in model.pools:
        if pool.name == "unused":
            continue
        be = section(text, f"backend 'be_{pool.name}'")
        assert re.findall(r"^    server '([^']+)'", be, re.M) == [s.name for s in pool.servers]


# --- refusals (engines.py) ---------------------------------------------------------------------------------------


def problems(data: dict[str, Any]) -> list[str]:
    return [p.message for p in engine_problems(Model.model_validate(data))]


def test_refuses_cache_larger_than_haproxy_can_hold() -> None:
    data = copy.deepcopy(MINIMAL)
    data["services"][0]["cache"] = {"max_size": "4g"}
    assert any("4095 MiB" in m for m in problems(data))
    data["services"][0]["cache"] = {"max_size": "4095m"}
    assert problems(data) == []


def test_refuses_shared_pool_with_different_backend_settings() -> None:
    data = copy.deepcopy(MINIMAL)
    data["services"].append({"name": "web2", "mode": "http", "listen": {"port": 18101}, "default_pool": "app",
                             "timeouts": {"server": "5s"}})
    data["proxies"][0]["services"].append("web2")
    assert any("share pool 'app'" in m for m in problems(data))
    data["services"][1]["timeouts"] = {"client": "5s"}  # the client timeout is per frontend: fine
    assert problems(data) == []


def test_existing_refusals_still_apply() -> None:
    data = copy.deepcopy(MINIMAL)
    data["services"][0].update(compression={"min_length": 100}, cache={"key": "uri"},
                               static=[{"path_prefix": "/s/", "root": "/tmp"}])
    messages = problems(data)
    assert len(messages) == 3 and all("haproxy" in m for m in messages)


def test_key_files_are_private(model_dir: Path, tmp_path: Path) -> None:
    out = render(build(FULL), model_dir)
    haproxy_check(out, tmp_path)
    for rel in ("certs/www-0.pem", "certs/www-1.pem"):
        assert out[rel].mode == 0o600


def test_redirect_to_port_443_names_no_port(model_dir: Path) -> None:
    tls = {"certificates": [{"cert": "certs/api.crt", "key": "certs/api.key"}], "redirect_http_port": 80}
    text = cfg(render(build(MINIMAL, web={"listen": {"port": 443}, "tls": tls}), model_dir))
    assert "    bind '0.0.0.0:80'\n" in text
    assert "http-request redirect location 'https://%[req.hdr(host),host_only]%[pathq]' code 301 if !{ ssl_fc }" in text


def test_check_body_and_slow_start(model_dir: Path, tmp_path: Path) -> None:
    """expect_body: a second expect rule, on the same answer, with the text strongly quoted; slow_start on every
    server (default-server), which the runtime API's add server also takes."""
    data = copy.deepcopy(MINIMAL)
    data["pools"][0].update(slow_start="45s", health={"passive": None, "active": {
        "type": "http", "path": "/ready", "expect_body": '"ready": true, 100% & <ok>'}})
    out = render(Model.model_validate(data), model_dir)
    be = section(cfg(out), "backend 'be_app'")
    assert ("    http-check expect status 200\n"
            "    http-check expect string '\"ready\": true, 100% & <ok>'\n") in be
    assert "    default-server inter 2s rise 2 fall 3 slowstart 45s\n" in be
    haproxy_check(out, tmp_path)


def test_listen_also_binds_every_address(model_dir: Path, tmp_path: Path) -> None:
    data = copy.deepcopy(MINIMAL)
    data["services"][0]["listen"] = {"address": "127.0.0.1", "port": 18100, "also": ["127.0.0.2", "::1"]}
    data["services"][0]["limits"] = {"requests_per_second": 5}
    out = render(Model.model_validate(data), model_dir)
    fe = section(cfg(out), "frontend 'fe_web'")
    assert [ln.strip() for ln in fe.splitlines() if ln.strip().startswith("bind ")] == [
        "bind '127.0.0.1:18100'", "bind '127.0.0.2:18100'", "bind '[::1]:18100'"]
    assert "stick-table type ipv6" in fe  # an IPv6 address among them: the table keys IPv6 (IPv4 mapped)
    haproxy_check(out, tmp_path)
