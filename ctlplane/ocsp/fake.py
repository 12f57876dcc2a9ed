"""An OCSP responder in memory, for tests: the ``Responder`` seam without a network.

:func:`answer` signs the answer to a DER request with a CA's key (or a delegated responder's), for a status,
a thisUpdate and a validity the test chooses; :class:`FakeResponder` answers every request that way, can be
told a certificate is revoked, can go down (``FetchFailed``) or answer garbage, and counts what it was asked.
The tests' real HTTP responder on 127.0.0.1 signs with the same :func:`answer`.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from ctlplane.ocsp import FetchFailed

DAY = datetime.timedelta(days=1)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class Signer:
    """Who signs answers: the CA itself (``cert`` is the CA) or a responder it delegated to."""

    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes


def answer(request: bytes, ca: x509.Certificate, signer: Signer, *, status: str = "good",
           this_update: datetime.datetime | None = None, validity: datetime.timedelta = DAY) -> bytes:
    """The DER answer to ``request``: ``status`` good | revoked | unknown, valid from ``this_update`` (now)
    for ``validity``."""
    asked = ocsp.load_der_ocsp_request(request)
    start = this_update or utc_now() - datetime.timedelta(minutes=1)
    cert_status = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
                   "unknown": ocsp.OCSPCertStatus.UNKNOWN}[status]
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        asked.issuer_name_hash, asked.issuer_key_hash, asked.serial_number, asked.hash_algorithm, cert_status,
        start, start + validity, start if status == "revoked" else None,
        x509.ReasonFlags.key_compromise if status == "revoked" else None)
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
    if signer.cert != ca:
        builder = builder.certificates([signer.cert])
    return builder.sign(signer.key, hashes.SHA256()).public_bytes(Encoding.DER)


@dataclass
class FakeResponder:
    """Answers like an OCSP responder of ``ca`` (signed by ``signer``), or fails as told."""

    ca: x509.Certificate
    signer: Signer
    validity: datetime.timedelta = DAY
    clock: Callable[[], datetime.datetime] = utc_now
    revoked: set[int] = field(default_factory=set)  # serial numbers
    down: bool = False
    garbage: bool = False
    asked: list[str] = field(default_factory=list)  # the URLs asked, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of_ca(cls, ca: x509.Certificate, key: CertificateIssuerPrivateKeyTypes, **fields: object) -> FakeResponder:
        return cls(ca, Signer(ca, key), **fields)  # type: ignore[arg-type]

    def ask(self, url: str, request: bytes) -> bytes:
        with self.lock:
            self.asked.append(url)
            if self.down:
                raise FetchFailed("ConnectError: [Errno 111] Connection refused")
            if self.garbage:
                return b"<html>not OCSP</html>"
            serial = ocsp.load_der_ocsp_request(request).serial_number
            return answer(request, self.ca, self.signer, status="revoked" if serial in self.revoked else "good",
                          this_update=self.clock() - datetime.timedelta(minutes=1), validity=self.validity)
