"""How a refreshed OCSP response reaches a running proxy (``runtime_plan``): HAProxy takes a changed
``<certificate>.pem.ocsp`` through ``set ssl ocsp-response`` (base64 of the DER answer, one plain token for its
CLI), together with server changes; a response stapled for the first time or dropped, or anything else that
changes, needs a reload; NGINX always reloads. And the network seam: ``HttpResponder`` against the tests' real
responder on 127.0.0.1."""

from __future__ import annotations

import base64
import datetime

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ctlplane.decide import decide
from ctlplane.model.ocsp_subjects import subject
from ctlplane.ocsp import FetchFailed
from ctlplane.ocsp.check import request_for, verify
from ctlplane.ocsp.responder import HttpResponder
from ctlplane.render import RenderedFile
from ctlplane.runtime_plan import runtime_commands
from tests.ocsp_pki import Pki, responder, url_of

CFG = b"""global
    description ctlplane release ctlplane-release
backend 'be_app'
    server 'a' '10.0.0.1:80' weight 1
"""
PEM = b"-----BEGIN CERTIFICATE-----\n...\n"


def files(ocsp: bytes | None, weight: int = 1) -> dict[str, bytes]:
    found = {"haproxy.cfg": CFG.replace(b"weight 1", f"weight {weight}".encode()), "certs/web-0.pem": PEM}
    if ocsp is not None:
        found["certs/web-0.pem.ocsp"] = ocsp
    return found


def test_haproxy_takes_a_refreshed_response_through_its_runtime_api() -> None:
    new = b"\x30\x82\x01\xff new answer"
    assert runtime_commands("haproxy", files(b"old"), files(new)) == [
        f"set ssl ocsp-response {base64.b64encode(new).decode()}"]
    assert runtime_commands("haproxy", files(b"old"), files(new, weight=3)) == [
        f"set ssl ocsp-response {base64.b64encode(new).decode()}", "set server be_app/a weight 3"]


@pytest.mark.parametrize(("old", "new"), [(None, b"first"), (b"old", None)])
def test_a_response_stapled_for_the_first_time_or_dropped_needs_a_reload(old: bytes | None,
                                                                          new: bytes | None) -> None:
    assert runtime_commands("haproxy", files(old), files(new)) is None


def test_another_file_changing_beside_a_response_needs_a_reload() -> None:
    changed = {**files(b"new"), "certs/web-0.pem": PEM + b"x"}
    assert runtime_commands("haproxy", files(b"old"), changed) is None


def test_nginx_reloads_for_a_new_response() -> None:
    old = {"nginx.conf": RenderedFile(b"x"), "certs/web-0.ocsp": RenderedFile(b"old")}
    new = {"nginx.conf": RenderedFile(b"x"), "certs/web-0.ocsp": RenderedFile(b"new")}
    assert decide(old, new, True, "nginx").kind == "reload"


def test_the_http_responder_posts_the_request_and_fails_plainly() -> None:
    pki = Pki()
    with responder(pki) as server:
        cert, _ = pki.leaf("www.example.com", url_of(server))
        s = subject(cert.public_bytes(Encoding.PEM) + pki.pem)
        assert verify(HttpResponder().ask(s.url, request_for(s)), s, datetime.datetime.now(datetime.UTC))
        server.broken = True
        with pytest.raises(FetchFailed, match="HTTP 503"):
            HttpResponder().ask(s.url, request_for(s))
        port = server.server_address[1]
    with pytest.raises(FetchFailed, match="ConnectError"):
        HttpResponder(timeout=2).ask(f"http://127.0.0.1:{port}/", b"")
