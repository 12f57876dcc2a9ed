"""TLS termination on both engines: certificates by SNI, HTTP->HTTPS redirect, HSTS, protocols, ciphers.

A test CA (trustme) signs RSA certificates for ``a.example.test`` and
``b.example.test``; the model references them by absolute path (keys mode
0600). Handshakes are made from a client container with Python's ``ssl``
(``netprobe.py tls``): the peer is verified against the test CA and its
subjectAltName tells which certificate the proxy chose. The client offers old
protocols and weak ciphers on purpose (``@SECLEVEL=0``) so that a refusal is
the proxy's doing; a refusal must be the server's alert (protocol version, or
handshake failure for no shared cipher), never the client having nothing to offer.
"""

from __future__ import annotations

import pytest

from integration.harness import Deployer, Deployment, Lab
from integration.harness.tls import Handshake, Handshaken, Pki, handshakes, make_pki

HOSTS = ["a.example.test", "b.example.test"]
TLS_PORT, PLAIN_PORT = 8443, 8080
HSTS = "max-age=15552000; includeSubDomains"  # 180 days
# The server's alerts (so the client did offer them): protocol version, and no shared cipher.
PROTOCOL_ALERT, CIPHER_ALERT = "ALERT_PROTOCOL_VERSION", "ALERT_HANDSHAKE_FAILURE"


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki(HOSTS)


def deploy(deployer: Deployer, lab: Lab, engine: str, pki: Pki) -> Deployment:
    """One proxy ``lb``; the certificates are written beside the model (ctlplane reads files from there)."""
    certs = pki.write(deployer.tmp_path / "tls" / "pki")
    tls = {"certificates": [certs[h] for h in HOSTS], "redirect_http_port": PLAIN_PORT,
           "hsts": {"max_age": "180d", "include_subdomains": True}}
    service = {"name": "web", "mode": "http", "listen": {"port": TLS_PORT}, "default_pool": "app", "tls": tls}
    proxy = {"name": "lb", "engine": engine, "runtime": deployer.runtime("lb"), "services": ["web"]}
    model = {"version": 1, "pools": [{"name": "app", "servers": lab.servers(["a"])}], "services": [service],
             "proxies": [proxy]}
    return deployer.apply_model(model, directory="tls")[0]


def refused_with(result: Handshaken, alert: str) -> bool:
    return not result.ok and alert in (result.error or "")


def test_sni_selects_the_certificate_and_https_sends_hsts(engine: str, lab: Lab, deployer: Deployer,
                                                          pki: Pki) -> None:
    lb = deploy(deployer, lab, engine, pki)
    target = lb.target(TLS_PORT)
    cases = [("a.example.test", "a.example.test"), ("b.example.test", "b.example.test"),
             ("other.example.test", "a.example.test"), (None, "a.example.test")]  # unknown / no SNI: the first
    results = handshakes(lab.client, pki.ca_pem,
                         [Handshake(target, sni=sni, host=sni or "a.example.test") for sni, _ in cases])
    for (sni, want), got in zip(cases, results, strict=True):
        assert got.ok, (sni, got.error)
        assert got.san == [want] and got.subject_cn in (None, want), (sni, got)
        assert got.status == 200 and got.headers.get("x-server") == "a", (sni, got.status, got.headers)
        assert got.headers.get("strict-transport-security") == HSTS, (sni, got.headers)
    print(f"\n{engine}: SNI -> certificate {[(sni, r.san, r.version) for (sni, _), r in zip(cases, results, strict=True)]}")


def test_plain_http_redirects_to_https(engine: str, lab: Lab, deployer: Deployer, pki: Pki) -> None:
    lb = deploy(deployer, lab, engine, pki)
    for host in ("b.example.test", f"b.example.test:{PLAIN_PORT}"):
        answer = lab.client.get(lb.target(PLAIN_PORT), "/shop/cart?id=7&x=1", {"Host": host})
        assert answer["status"] == 301, answer
        assert answer["headers"].get("location") == f"https://b.example.test:{TLS_PORT}/shop/cart?id=7&x=1", answer
        assert "strict-transport-security" not in answer["headers"], answer  # HSTS only over HTTPS
        assert "x-server" not in answer["headers"], answer  # answered by the proxy itself


def test_old_protocols_and_weak_ciphers_are_refused(engine: str, lab: Lab, deployer: Deployer, pki: Pki) -> None:
    lb = deploy(deployer, lab, engine, pki)
    target, sni, old = lb.target(TLS_PORT), "a.example.test", "ALL:@SECLEVEL=0"
    probes = {
        "tls1.0": Handshake(target, sni, "TLSv1", "TLSv1", old),
        "tls1.1": Handshake(target, sni, "TLSv1_1", "TLSv1_1", old),
        "weak AES128-SHA": Handshake(target, sni, "TLSv1_2", "TLSv1_2", "AES128-SHA:@SECLEVEL=0"),
        "tls1.2": Handshake(target, sni, "TLSv1_2", "TLSv1_2"),
        "tls1.2 ECDHE-RSA-AES128-GCM-SHA256": Handshake(target, sni, "TLSv1_2", "TLSv1_2",
                                                        "ECDHE-RSA-AES128-GCM-SHA256"),
        "tls1.3": Handshake(target, sni, "TLSv1_3", "TLSv1_3"),
    }
    got = dict(zip(probes, handshakes(lab.client, pki.ca_pem, list(probes.values())), strict=True))
    for name, alert in (("tls1.0", PROTOCOL_ALERT), ("tls1.1", PROTOCOL_ALERT), ("weak AES128-SHA", CIPHER_ALERT)):
        assert refused_with(got[name], alert), (name, got[name])
    assert got["tls1.2"].ok and got["tls1.2"].version == "TLSv1.2", got["tls1.2"]
    strong = got["tls1.2 ECDHE-RSA-AES128-GCM-SHA256"]
    assert strong.ok and strong.cipher == "ECDHE-RSA-AES128-GCM-SHA256", strong
    assert got["tls1.3"].ok and got["tls1.3"].version == "TLSv1.3", got["tls1.3"]
    print(f"\n{engine}: " + "; ".join(f"{n}: {r.version or r.error}" for n, r in got.items()))
