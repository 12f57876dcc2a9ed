"""The stapling step through the fake responder (``ctlplane.ocsp.fake``): what is fetched, kept, dropped and
warned about, the located refusals of certificates that cannot be stapled, and what each engine's release
carries. Previous responses are read back from a proxy's active release (``<state>/config/``)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from ctlplane.errors import ModelError
from ctlplane.model.assets import read_assets
from ctlplane.model.load import load_file
from ctlplane.ocsp.fake import FakeResponder
from ctlplane.ocsp.staple import staple
from ctlplane.pipeline import binary_check, build
from tests.helpers import need_binary
from tests.ocsp_pki import Pki

DAY = datetime.timedelta(days=1)
MODEL = """pools:
  - name: app
    servers: [{name: a, address: 127.0.0.1, port: 9}]
services:
  - name: web
    mode: http
    listen: {port: 18443}
    tls:
      ocsp_stapling: true
      certificates: [{cert: certs/www.crt, key: certs/www.key}, {cert: certs/api.crt, key: certs/api.key}]
    default_pool: app
  - name: idle
    mode: http
    listen: {port: 18444}
    tls: {ocsp_stapling: true, certificates: [{cert: certs/www.crt, key: certs/www.key}]}
    default_pool: app
proxies:
  - {name: n, engine: nginx, runtime: {kind: local, state_dir: state/n}, services: [web]}
  - {name: h, engine: haproxy, runtime: {kind: docker, container: h, config_dir: state/h}, services: [web]}
"""
WHERE = "services[0].tls.certificates[0].cert"


@pytest.fixture
def pki() -> Pki:
    return Pki()


@pytest.fixture
def model(tmp_path: Path, pki: Pki) -> Path:
    pki.write_leaf(tmp_path / "certs", "www", "www.example.com", "http://127.0.0.1:9/www")
    pki.write_leaf(tmp_path / "certs", "api", "api.example.com", "http://127.0.0.1:9/api")
    (tmp_path / "model.yaml").write_text(MODEL)
    return tmp_path / "model.yaml"


def deploy(model: Path, files: dict[str, bytes]) -> None:
    """``files`` as proxy n's active release."""
    for rel, data in files.items():
        path = model.parent / "state" / "n" / "config" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_each_served_certificate_is_fetched_once_and_shipped_in_each_engines_release(model: Path, pki: Pki) -> None:
    fake = pki.fake()
    built = build(model, ocsp=fake)
    assert built.notes == ()
    assert sorted(fake.asked) == ["http://127.0.0.1:9/api", "http://127.0.0.1:9/www"]  # not service idle's
    n, h = built.outputs["n"], built.outputs["h"]
    assert n["certs/web-0.ocsp"].content == built.assets.ocsp[("web", 0)] == h["certs/web-0.pem.ocsp"].content
    assert "certs/web-1.ocsp" in n and "certs/web-1.pem.ocsp" in h
    conf = n["nginx.conf"].content.decode()
    assert 'ssl_stapling on;\n        ssl_stapling_file "certs/web-1.ocsp";' in conf  # api.example.com's server
    assert conf.count("ssl_stapling on;") == 3  # www, api and the catch-all (the first certificate)
    for engine in ("nginx", "haproxy"):
        need_binary(engine)
    assert [f.one_line() for f in binary_check(built) if f.is_error] == []


def test_a_fresh_response_in_the_active_release_is_kept_without_asking(model: Path, pki: Pki) -> None:
    first = build(model, ocsp=pki.fake()).outputs["n"]
    deploy(model, {k: v.content for k, v in first.items() if k.endswith(".ocsp")})
    fake = pki.fake()
    again = build(model, ocsp=fake)
    assert fake.asked == [] and again.notes == ()
    assert again.outputs["n"]["certs/web-0.ocsp"] == first["certs/web-0.ocsp"]


def test_a_due_response_is_kept_while_valid_when_the_responder_fails_and_dropped_once_expired(
        model: Path, pki: Pki) -> None:
    first = build(model, ocsp=pki.fake()).outputs["n"]
    deploy(model, {k: v.content for k, v in first.items() if k.endswith(".ocsp")})
    loaded = load_file(model)
    assets = read_assets(loaded)
    down = pki.fake(down=True)
    now = datetime.datetime.now(datetime.UTC)
    kept, notes = staple(loaded, assets, down, now + DAY / 2)  # due, still valid
    assert kept.ocsp[("web", 0)] == first["certs/web-0.ocsp"].content
    assert len(down.asked) == 2 and len(notes) == 2
    assert notes[0].path == WHERE and notes[0].severity == "warning" and notes[0].line == 10
    assert "Connection refused; keeps stapling the response of" in notes[0].message
    dropped, notes = staple(loaded, assets, down, now + DAY * 2)  # expired
    assert dropped.ocsp == {}
    assert notes[0].message.endswith("; no OCSP response is stapled")


def test_offline_verbs_keep_what_serves_and_ask_nobody(model: Path, pki: Pki) -> None:
    assert build(model).assets.ocsp == {}  # nothing served, nothing fetched: no stapling
    assert "ssl_stapling" not in build(model).outputs["n"]["nginx.conf"].content.decode()
    first = build(model, ocsp=pki.fake()).outputs["n"]
    deploy(model, {k: v.content for k, v in first.items() if k.endswith(".ocsp")})
    loaded = load_file(model)
    kept, notes = staple(loaded, read_assets(loaded), None, datetime.datetime.now(datetime.UTC) + DAY / 2)
    assert kept.ocsp[("web", 0)] == first["certs/web-0.ocsp"].content and notes == []


@pytest.mark.parametrize(("fields", "why"), [
    ({"garbage": True}, "the answer is not an OCSP response"),
    ({"validity": datetime.timedelta(seconds=30)}, "expired"),
])
def test_an_answer_that_cannot_be_stapled_is_a_warning_not_a_failure(model: Path, pki: Pki, fields: dict[str, object],
                                                                       why: str) -> None:
    built = build(model, ocsp=pki.fake(**fields))
    assert built.assets.ocsp == {}
    assert why in built.notes[0].message and built.notes[0].path == WHERE
    assert "ssl_stapling" not in built.outputs["n"]["nginx.conf"].content.decode()
    assert not any(k.endswith(".ocsp") for k in built.outputs["h"])


def test_a_revoked_certificate_is_not_stapled(model: Path, pki: Pki) -> None:
    fake = pki.fake()
    fake.revoked = {_serial(model)}
    built = build(model, ocsp=fake)
    assert set(built.assets.ocsp) == {("web", 1)}
    assert "the responder says this certificate is revoked" in built.notes[0].message


def test_a_response_for_a_replaced_certificate_is_not_stapled_again(model: Path, pki: Pki) -> None:
    first = build(model, ocsp=pki.fake()).outputs["n"]
    deploy(model, {k: v.content for k, v in first.items() if k.endswith(".ocsp")})
    pki.write_leaf(model.parent / "certs", "www", "www.example.com", "http://127.0.0.1:9/www")  # a new leaf
    fake = pki.fake()
    again = build(model, ocsp=fake)
    assert fake.asked == ["http://127.0.0.1:9/www"]
    assert again.outputs["n"]["certs/web-0.ocsp"] != first["certs/web-0.ocsp"]


@pytest.mark.parametrize(("url", "chain", "why"), [
    (None, True, "tls.ocsp_stapling: this certificate names no OCSP responder"),
    ("http://127.0.0.1:9/", False, "tls.ocsp_stapling: the issuer of this certificate is not in its file"),
])
def test_a_certificate_that_cannot_be_stapled_is_refused_where_it_is_named(model: Path, pki: Pki, url: str | None,
                                                                            chain: bool, why: str) -> None:
    pki.write_leaf(model.parent / "certs", "api", "api.example.com", url, chain=chain)
    with pytest.raises(ModelError) as caught:
        build(model, ocsp=FakeResponder.of_ca(pki.cert, pki.key))
    [finding] = caught.value.findings
    assert finding.path == "services[0].tls.certificates[1].cert" and finding.line == 10, finding
    assert finding.message.startswith(why)


def _serial(model: Path) -> int:
    from cryptography import x509

    return x509.load_pem_x509_certificates((model.parent / "certs" / "www.crt").read_bytes())[0].serial_number
