"""TLS defaults equal Mozilla's intermediate profile, on both engines.

The profile is hard-coded here on purpose (a test must not fetch it): Mozilla
Server Side TLS, *intermediate* configuration, guidelines version 5.7
(https://ssl-config.mozilla.org/guidelines/5.7.json; 5.7 appended
DHE-RSA-CHACHA20-POLY1305 to 5.6's list). A model's TLS service with default
settings must render exactly these protocols, TLS 1.2 ciphers (in order),
TLS 1.3 suites, client cipher preference, no session tickets, and a 2048-bit
DH group (RFC 7919 ffdhe2048).
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from ctlplane.model.assets import read_assets
from ctlplane.render import render_all
from tests.security.checks import load
from tests.security.structure import haproxy_words, nginx_directives, nginx_parse
from tests.security.world import World

MOZILLA_INTERMEDIATE_5_7: dict[str, Any] = {
    "tls_versions": ["TLSv1.2", "TLSv1.3"],
    "ciphers": [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
    ],
    "ciphersuites": ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"],
    "server_preferred_order": False,
    "dh_param_size": 2048,
}
PROFILE = MOZILLA_INTERMEDIATE_5_7


def ffdhe2048_prime() -> int:
    """RFC 7919, appendix A.1: p = 2^2048 - 2^1984 + (floor(2^1918 * e) + 560316) * 2^64 - 1."""
    guard = 2200
    e, term, k = 0, 1 << guard, 0
    while term:
        e, k = e + term, k + 1
        term //= k
    return 2**2048 - 2**1984 + ((e >> (guard - 1918)) + 560316) * 2**64 - 1


def tls_model(engine: str, world: World) -> dict[str, Any]:
    return {
        "pools": [{"name": "p", "servers": [{"name": "s", "address": "127.0.0.1", "port": 8080}]}],
        "services": [{"name": "web", "mode": "http", "listen": {"address": "127.0.0.1", "port": 18443},
                      "default_pool": "p",
                      "tls": {"certificates": [{"cert": c.cert, "key": c.key} for c in world.certs[:2]]}}],
        "proxies": [{"name": "lb", "engine": engine, "services": ["web"]}],
    }


def rendered(engine: str, world: World) -> dict[str, Any]:
    loaded = load(tls_model(engine, world), world)
    return render_all(loaded.model, read_assets(loaded))["lb"]


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")  # reading FFDH params
def test_nginx_defaults_are_mozilla_intermediate(world: World) -> None:
    files = rendered("nginx", world)
    parsed = nginx_parse(files["nginx.conf"].content)["parsed"]
    directives: dict[str, list[list[str]]] = {}
    for _, d in nginx_directives(parsed):
        directives.setdefault(d["directive"], []).append(d["args"])
    servers = [args for args in directives["ssl_protocols"]]
    assert servers and all(args == PROFILE["tls_versions"] for args in servers)
    assert all(args == [":".join(PROFILE["ciphers"])] for args in directives["ssl_ciphers"])
    assert len(directives["ssl_ciphers"]) == len(servers)
    assert all(args == ["off"] for args in directives["ssl_prefer_server_ciphers"])  # the client's order wins
    assert directives["ssl_session_tickets"] == [["off"]]
    assert directives["ssl_dhparam"] == [["dhparam.pem"]]
    params = serialization.load_pem_parameters(files["dhparam.pem"].content).parameter_numbers()
    assert (params.p, params.g, params.p.bit_length()) == (ffdhe2048_prime(), 2, PROFILE["dh_param_size"])
    # TLS 1.3 suites are OpenSSL's defaults in NGINX (no directive overrides them) ...
    assert "ssl_conf_command" not in directives


def test_openssl_default_tls13_suites_are_the_profiles() -> None:
    """... and OpenSSL's default TLS 1.3 suites are exactly the profile's (order aside)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    out = subprocess.run([openssl, "ciphers", "-s", "-tls1_3"], capture_output=True, text=True, check=True).stdout
    assert set(out.strip().split(":")) == set(PROFILE["ciphersuites"])


def test_haproxy_defaults_are_mozilla_intermediate(world: World) -> None:
    files = rendered("haproxy", world)
    lines = [[w for w, _ in haproxy_words(line)] for line in files["haproxy.cfg"].content.decode().split("\n")]
    glob = {words[0]: words[1:] for words in lines if words}
    assert glob["ssl-default-bind-ciphers"] == [":".join(PROFILE["ciphers"])]
    assert glob["ssl-default-bind-ciphersuites"] == [":".join(PROFILE["ciphersuites"])]
    options = glob["ssl-default-bind-options"]
    assert "prefer-client-ciphers" in options  # server_preferred_order: false
    assert options[options.index("ssl-min-ver") + 1] == "TLSv1.2" and "ssl-max-ver" not in options  # 1.2 and 1.3
    assert "no-tls-tickets" in options
    assert glob["tune.ssl.default-dh-param"] == [str(PROFILE["dh_param_size"])]
    binds = [words for words in lines if words and words[0] == "bind" and "ssl" in words]
    assert binds
    for words in binds:  # no bind line overrides the defaults
        assert not {"ciphers", "ciphersuites", "ssl-min-ver", "ssl-max-ver", "force-tlsv12"} & set(words)


def test_tls13_only_is_a_stricter_opt_in(world: World) -> None:
    """min_version 1.3 (not the default) narrows both engines to TLS 1.3 and its suites."""
    data = tls_model("nginx", world)
    data["services"][0]["tls"]["min_version"] = "1.3"
    loaded = load(data, world)
    text = render_all(loaded.model, read_assets(loaded))["lb"]["nginx.conf"].content.decode()
    assert "ssl_protocols TLSv1.3;" in text and "ssl_ciphers" not in text
    data["proxies"][0]["engine"] = "haproxy"
    loaded = load(data, world)
    text = render_all(loaded.model, read_assets(loaded))["lb"]["haproxy.cfg"].content.decode()
    assert "ssl-min-ver TLSv1.3" in text
