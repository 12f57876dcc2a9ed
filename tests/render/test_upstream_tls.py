"""Issue 13 item 3 in the model and the rendered configs: TLS to a pool's servers (verified against a CA with
SNI, or encrypted only; the proxy's client certificate) and client certificates verified on a service's TLS
listener. The files go through the asset rules (confined paths, keys 0600); the real ``nginx -t`` /
``haproxy -c`` judge the output; the traffic proof is the parity suite (``scenarios_tls_backend.py``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import trustme

from ctlplane.errors import ModelError
from ctlplane.pipeline import Build, build
from ctlplane.runtime_plan import runtime_commands
from tests.render.test_issue12 import binary_ok

ENGINES = ("nginx", "haproxy")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """certs/ca.pem, a server leaf (www.example.com) and a client leaf, keys 0600."""
    base = tmp_path_factory.mktemp("pki")
    (base / "certs").mkdir()
    ca = trustme.CA()
    (base / "certs" / "ca.pem").write_bytes(ca.cert_pem.bytes())
    for stem, name in (("www", "www.example.com"), ("client", "lb.example.com")):
        leaf = ca.issue_cert(name)
        (base / "certs" / f"{stem}.crt").write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
        key = base / "certs" / f"{stem}.key"
        key.write_bytes(leaf.private_key_pem.bytes())
        os.chmod(key, 0o600)
    return base


def _model(engine: str, pool_tls: dict[str, Any] | None, service_tls: dict[str, Any] | None = None,
           routes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    tls = {"certificates": [{"cert": "certs/www.crt", "key": "certs/www.key"}], **(service_tls or {})}
    return {
        "pools": [{"name": "app", "servers": [{"name": "a", "address": "127.0.0.1", "port": 9443}],
                   **({"tls": pool_tls} if pool_tls else {})},
                  {"name": "plain", "servers": [{"name": "p", "address": "127.0.0.1", "port": 9080}]},
                  {"name": "dbs", "servers": [{"name": "d", "address": "127.0.0.1", "port": 5432}],
                   **({"tls": pool_tls} if pool_tls else {})}],
        "services": [{"name": "web", "mode": "http", "listen": {"port": 18443}, "default_pool": "app",
                      "routes": routes or [], "tls": tls},
                     {"name": "db", "mode": "tcp", "listen": {"port": 15432}, "pool": "dbs"}],
        "proxies": [{"name": "lb", "engine": engine, "services": ["web", "db"]}],
    }


def _build(base: Path, data: dict[str, Any], name: str = "model.yaml") -> Build:
    path = base / name
    path.write_text(json.dumps(data))  # JSON is YAML
    return build(path)


VERIFIED = {"verify": "certs/ca.pem", "sni": "app.internal", "client_cert": {"cert": "certs/client.crt",
                                                                             "key": "certs/client.key"}}


@pytest.mark.parametrize("engine", ENGINES)
def test_verified_tls_with_a_client_certificate(engine: str, pki: Path) -> None:
    files = _build(pki, _model(engine, VERIFIED)).outputs["lb"]
    if engine == "nginx":
        text = files["nginx.conf"].content.decode()
        assert ("            proxy_ssl_protocols TLSv1.2 TLSv1.3;\n            proxy_ssl_verify on;\n"
                "            proxy_ssl_verify_depth 100;\n"
                '            proxy_ssl_trusted_certificate "certs/pools/app-ca.crt";\n'
                '            proxy_ssl_name "app.internal";\n            proxy_ssl_server_name on;\n'
                '            proxy_ssl_certificate "certs/pools/app-client.crt";\n'
                '            proxy_ssl_certificate_key "certs/pools/app-client.key";\n'
                "            proxy_pass https://pool_app;\n") in text
        assert "        proxy_ssl on;\n" in text and "        proxy_pass pool_dbs;\n" in text  # the tcp service
        assert files["certs/pools/app-client.key"].mode == 0o600
        assert files["certs/pools/app-client.crt"].mode == files["certs/pools/app-ca.crt"].mode == 0o644
        assert b"PRIVATE KEY" not in files["certs/pools/app-client.crt"].content
    else:
        text = files["haproxy.cfg"].content.decode()
        assert (" ssl verify required ca-file 'config/certs/pools/app-ca.pem' verifyhost 'app.internal' "
                "sni 'str(app.internal)' check-sni 'app.internal' crt 'config/certs/pools/app-client.pem'\n") in text
        assert files["certs/pools/app-client.pem"].mode == 0o600
        assert b"PRIVATE KEY" in files["certs/pools/app-client.pem"].content
    binary_ok(engine, files)


@pytest.mark.parametrize("engine", ENGINES)
def test_encrypted_only_sends_no_sni_unless_asked(engine: str, pki: Path) -> None:
    files = _build(pki, _model(engine, {"verify": "none"})).outputs["lb"]
    text = files["nginx.conf" if engine == "nginx" else "haproxy.cfg"].content.decode()
    if engine == "nginx":
        assert "proxy_pass https://pool_app;" in text and "proxy_ssl_verify" not in text
        assert "proxy_ssl_server_name" not in text
    else:
        assert "    default-server inter 10s rise 1 observe layer4 error-limit 3 on-error mark-down ssl verify none\n" \
            in text
    assert not any(p.startswith("certs/pools/") for p in files)
    binary_ok(engine, files)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", ["optional", "required"])
def test_client_certificates_on_the_listener(engine: str, mode: str, pki: Path) -> None:
    files = _build(pki, _model(engine, None, {"client_ca": "certs/ca.pem", "client_verify": mode})).outputs["lb"]
    if engine == "nginx":
        text = files["nginx.conf"].content.decode()
        assert ('        ssl_client_certificate "certs/web-client-ca.crt";\n'
                f"        ssl_verify_client {'on' if mode == 'required' else 'optional'};\n") in text
        assert '        proxy_set_header "X-Client-Cert-Subject" $ssl_client_s_dn;\n' in text
    else:
        text = files["haproxy.cfg"].content.decode()
        assert (" ca-file 'config/certs/web-client-ca.pem' verify optional ca-ignore-err all crt-ignore-err all\n"
                in text)
        assert "http-request deny deny_status 400 if { ssl_fc } { ssl_c_used } !{ ssl_c_verify 0 }\n" in text
        assert ("http-request deny deny_status 400 if { ssl_fc } !{ ssl_c_used }\n" in text) == (mode == "required")
        # the client's own value never reaches the backend
        assert ("    http-request del-header 'X-Client-Cert-Subject'\n    http-request set-header "
                "'X-Client-Cert-Subject' %[ssl_c_s_dn(,0,rfc2253)] if { ssl_c_used }\n") in text
    binary_ok(engine, files)


@pytest.mark.parametrize(("tls", "message"), [
    ({"verify": "certs/ca.pem"}, "verify with a CA needs sni"),
    ({"verify": "none", "sni": "*.example.com"}, "sni is one server name"),
    ({"verify": "none", "client_cert": {"cert": "certs/client.crt"}}, "missing required field 'key'"),
])
def test_pool_tls_model_errors(tls: dict[str, Any], message: str, pki: Path) -> None:
    with pytest.raises(ModelError, match=message.replace("*", r"\*")):
        _build(pki, _model("haproxy", tls))


def test_client_settings_need_a_client_ca(pki: Path) -> None:
    with pytest.raises(ModelError, match=r"services\[0\].tls.*client_verify needs client_ca"):
        _build(pki, _model("nginx", None, {"client_verify": "optional"}))


def test_tls_to_grpc_servers_is_refused(pki: Path) -> None:
    data = _model("haproxy", {"verify": "none"})
    data["pools"][0]["protocol"] = "grpc"
    data["services"] = data["services"][:1]
    data["proxies"][0]["services"] = ["web"]
    with pytest.raises(ModelError, match=r"pools\[0\].*tls to the servers of a grpc pool is not supported"):
        _build(pki, data)


def test_a_world_readable_client_key_is_refused_where_it_is_named(pki: Path) -> None:
    loose = pki / "certs" / "loose.key"
    loose.write_bytes((pki / "certs" / "client.key").read_bytes())
    os.chmod(loose, 0o644)
    tls = {**VERIFIED, "client_cert": {"cert": "certs/client.crt", "key": "certs/loose.key"}}
    with pytest.raises(ModelError) as caught:
        _build(pki, _model("nginx", tls))
    finding = caught.value.findings[0]  # and the same for the tcp service's pool
    assert finding.path == "pools[0].tls.client_cert.key" and "chmod 600" in finding.message


@pytest.mark.parametrize(("tls", "where", "message"), [
    ({"verify": "certs/www.key", "sni": "a.b"}, "pools[0].tls.verify", "not a PEM file of CA certificates"),
    ({"verify": "/etc/ssl/certs/ca-certificates.crt", "sni": "a.b"}, "pools[0].tls.verify", "outside the allowed"),
    ({"verify": "none", "client_cert": {"cert": "certs/www.crt", "key": "certs/client.key"}},
     "pools[0].tls.client_cert.key", "does not match"),
])
def test_pool_tls_files_are_checked(tls: dict[str, Any], where: str, message: str, pki: Path) -> None:
    with pytest.raises(ModelError) as caught:
        _build(pki, _model("haproxy", tls))
    assert [(f.path, message in f.message) for f in caught.value.findings] == [
        (where, True), (where.replace("pools[0]", "pools[2]"), True)]  # the tcp service's pool has the same tls


def test_nginx_refuses_a_location_mixing_tls_and_plain_pools(pki: Path) -> None:
    routes = [{"path_prefix": "/", "header": {"name": "X-Beta", "value": "on"}, "pool": "plain"}]
    with pytest.raises(ModelError) as caught:
        _build(pki, _model("nginx", {"verify": "none"}, routes=routes))
    [finding] = caught.value.findings
    assert finding.path == "services[0].routes[0].pool" and "another tls" in finding.message
    assert "engine haproxy" in finding.message
    _build(pki, _model("haproxy", {"verify": "none"}, routes=routes))  # HAProxy chooses the backend per request


HEAD = ("global\n    maxconn 100\n\nbackend 'be_app'\n    balance roundrobin\n    default-server inter 2s rise 1 "
        "ssl verify required ca-file 'config/certs/pools/app-ca.pem' verifyhost 'app.internal' "
        "sni 'str(app.internal)' check-sni 'app.internal'{crt}\n")


def _cfg(*servers: str, crt: str = "") -> dict[str, bytes]:
    head = HEAD.format(crt=f" crt 'config/certs/pools/{crt}'" if crt else "")
    return {"haproxy.cfg": (head + "".join(f"    server {s}\n" for s in servers)).encode()}


def test_a_member_joining_a_tls_pool_at_run_time_speaks_tls() -> None:
    """``add server`` takes the TLS options (unquoted: the runtime CLI has no quoting); the CA was loaded by
    the default-server line (checked against HAProxy 2.6's runtime API)."""
    new = _cfg("'a' '10.0.0.1:443' weight 1 check", "'b' '10.0.0.2:443' weight 1 check")
    assert runtime_commands("haproxy", _cfg("'a' '10.0.0.1:443' weight 1 check"), new) == [
        "add server be_app/b 10.0.0.2:443 weight 1 ssl verify required ca-file config/certs/pools/app-ca.pem "
        "verifyhost app.internal sni str(app.internal) check-sni app.internal inter 2s rise 1 check",
        "enable health be_app/b", "enable server be_app/b"]
    # the first member of a pool with a client certificate needs a reload: HAProxy loads a certificate for
    # 'add server' only when a server of the configuration already uses it
    assert runtime_commands("haproxy", _cfg(crt="app-client.pem"), _cfg("'b' '10.0.0.2:443' weight 1 check",
                                                                       crt="app-client.pem")) is None
    added = runtime_commands("haproxy", _cfg("'a' '10.0.0.1:443' weight 1 check", crt="app-client.pem"),
                             _cfg("'a' '10.0.0.1:443' weight 1 check", "'b' '10.0.0.2:443' weight 1 check",
                                  crt="app-client.pem"))
    assert added is not None and " crt config/certs/pools/app-client.pem " in added[0]
