"""OCSP test fixtures: a CA, leaves whose Authority Information Access names an OCSP responder, and a real
OCSP responder over HTTP on 127.0.0.1 in the test process (signing with the CA, or a delegated responder,
through ``ctlplane.ocsp.fake.answer``)."""

from __future__ import annotations

import datetime
import http.server
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from ctlplane.ocsp.fake import FakeResponder, Signer, answer

NOW = datetime.datetime.now(datetime.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Pki:
    """A CA and the means to issue leaves (with or without an OCSP URL) and a delegated OCSP signer."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    cert: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.cert = (x509.CertificateBuilder().subject_name(_name("ocsp test CA")).issuer_name(_name("ocsp test CA"))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(NOW - datetime.timedelta(days=1))
                     .not_valid_after(NOW + datetime.timedelta(days=365))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def leaf(self, name: str, ocsp_url: str | None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=90))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False))
        if ocsp_url is not None:
            builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key

    def write_leaf(self, directory: Path, stem: str, name: str, ocsp_url: str | None, *, chain: bool = True) -> None:
        """``stem.crt`` (the leaf, then the CA unless ``chain`` is False) and ``stem.key`` (0600)."""
        cert, key = self.leaf(name, ocsp_url)
        directory.mkdir(parents=True, exist_ok=True)
        pem = cert.public_bytes(serialization.Encoding.PEM) + (self.pem if chain else b"")
        (directory / f"{stem}.crt").write_bytes(pem)
        path = directory / f"{stem}.key"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        os.chmod(path, 0o600)
        (directory / "ocsp-ca.crt").write_bytes(self.pem)

    def delegate(self, *, ocsp_signing: bool = True) -> Signer:
        """A responder certificate issued by this CA (for OCSP signing unless told otherwise)."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(_name("ocsp responder")).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=30)))
        if ocsp_signing:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        return Signer(builder.sign(self.key, hashes.SHA256()), key)

    def fake(self, **fields: object) -> FakeResponder:
        return FakeResponder.of_ca(self.cert, self.key, **fields)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 - the http.server interface
        request = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.asked += 1
        if self.server.broken:
            self.send_error(503)
            return
        start = datetime.datetime.now(datetime.UTC) - self.server.age
        body = answer(request, self.server.pki.cert, self.server.signer, status=self.server.status,
                      this_update=start, validity=self.server.validity)
        self.send_response(200)
        self.send_header("Content-Type", "application/ocsp-response")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        return


class _Server(http.server.ThreadingHTTPServer):
    pki: Pki
    signer: Signer
    status = "good"
    validity = datetime.timedelta(days=1)
    age = datetime.timedelta(minutes=1)  # how old an answer is when it is made (past half its validity: due)
    broken = False  # answer 503
    asked = 0


def start_responder(pki: Pki) -> tuple[_Server, threading.Thread]:
    """A real OCSP responder of ``pki`` on 127.0.0.1 (``url_of``), serving in a daemon thread."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.pki, server.signer = pki, Signer(pki.cert, pki.key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@contextmanager
def responder(pki: Pki) -> Iterator[_Server]:
    """A real OCSP responder of ``pki`` on 127.0.0.1, serving until the block ends."""
    server, thread = start_responder(pki)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def url_of(server: _Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/"
