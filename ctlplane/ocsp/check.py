"""OCSP requests and responses, pure (``cryptography``): what to ask a responder, whether an answer can be
stapled, and when it is due for a refresh.

A response is stapled only when it is a successful basic response with a single response for exactly this
certificate (serial, issuer name and key hashes), status good, signed by the issuer itself or by a responder
certificate the issuer signed for OCSP signing (id-kp-OCSPSigning, valid now), with a thisUpdate not in the
future (5 minutes of clock skew allowed) and a nextUpdate after it that has not passed. A response without
nextUpdate is refused: nothing would say when it stops being valid. It is due for a refresh once half its
validity has passed, or an hour before nextUpdate, whichever comes first.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from ctlplane.model.ocsp_subjects import OcspSubject

SKEW = datetime.timedelta(minutes=5)
MARGIN = datetime.timedelta(hours=1)


class Unusable(Exception):
    """An answer that must not be stapled, and why."""


@dataclass(frozen=True)
class Verified:
    """A response that may be stapled, and its validity."""

    der: bytes
    this_update: datetime.datetime
    next_update: datetime.datetime

    def expired(self, now: datetime.datetime) -> bool:
        return now >= self.next_update

    def due(self, now: datetime.datetime) -> bool:
        """Whether it should be fetched again: half its validity gone, or less than an hour left."""
        half = self.this_update + (self.next_update - self.this_update) / 2
        return now >= min(half, self.next_update - MARGIN)

    def describe(self) -> str:
        return f"{self.this_update:%Y-%m-%d %H:%M:%S}Z, valid until {self.next_update:%Y-%m-%d %H:%M:%S}Z"


def request_for(subject: OcspSubject) -> bytes:
    """The DER OCSP request for the certificate (SHA-1 certificate id, as responders expect; no nonce)."""
    leaf, issuer = x509.load_der_x509_certificate(subject.leaf), x509.load_der_x509_certificate(subject.issuer)
    return ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build().public_bytes(  # noqa: S303
        Encoding.DER)


def verify(der: bytes, subject: OcspSubject, now: datetime.datetime) -> Verified:
    """The response if it may be stapled for ``subject`` at ``now``; Unusable saying why not."""
    leaf, issuer = x509.load_der_x509_certificate(subject.leaf), x509.load_der_x509_certificate(subject.issuer)
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise Unusable("the answer is not an OCSP response") from exc
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise Unusable(f"the responder answered {response.response_status.name}")
    single = _single(response, leaf, issuer)
    _signed(response, issuer, now)
    if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
        raise Unusable(f"the responder says this certificate is revoked (since {single.revocation_time_utc})")
    if single.certificate_status != ocsp.OCSPCertStatus.GOOD:
        raise Unusable("the responder does not know this certificate (status unknown)")
    this, following = single.this_update_utc, single.next_update_utc
    if following is None:
        raise Unusable("the response has no nextUpdate: nothing says when it stops being valid")
    if this > now + SKEW:
        raise Unusable(f"the response's thisUpdate {this} is in the future")
    if following <= this:
        raise Unusable("the response's nextUpdate is not after its thisUpdate")
    if now >= following:
        raise Unusable(f"the response expired at {following}")
    return Verified(der, this, following)


def _single(response: ocsp.OCSPResponse, leaf: x509.Certificate, issuer: x509.Certificate) -> ocsp.OCSPSingleResponse:
    for single in response.responses:
        wanted = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, single.hash_algorithm).build()
        if (single.serial_number, single.issuer_name_hash, single.issuer_key_hash) == \
                (wanted.serial_number, wanted.issuer_name_hash, wanted.issuer_key_hash):
            return single
    raise Unusable("the response is not about this certificate (serial or issuer differ)")


def _signed(response: ocsp.OCSPResponse, issuer: x509.Certificate, now: datetime.datetime) -> None:
    """The response is signed by the issuer, or by a responder certificate the issuer delegated OCSP to."""
    signer = next((c for c in [issuer, *response.certificates] if _names(response, c)), None)
    if signer is None:
        raise Unusable("the response is signed by a responder that is neither the issuer nor one it delegated to")
    if signer is not issuer:
        try:
            signer.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise Unusable("the response's signer was not delegated by the issuer (not issued by it)") from exc
        try:
            usage = list(signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        except x509.ExtensionNotFound:
            usage = []
        if ExtendedKeyUsageOID.OCSP_SIGNING not in usage:
            raise Unusable("the response's signer is not an OCSP signing certificate of the issuer")
        if not signer.not_valid_before_utc <= now < signer.not_valid_after_utc:
            raise Unusable("the response's delegated signer certificate is not valid now")
    try:
        _check_signature(signer.public_key(), response.signature, response.tbs_response_bytes,
                         response.signature_hash_algorithm)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise Unusable("the response's signature does not verify") from exc


def _names(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    """Whether the response's responder id names ``cert`` (by name or by key hash)."""
    if response.responder_name is not None:
        return response.responder_name == cert.subject
    return response.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _check_signature(key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None) -> None:
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        key.verify(signature, data)
    elif isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
        key.verify(signature, data, ec.ECDSA(algorithm))
    else:
        raise TypeError("unsupported signature")
