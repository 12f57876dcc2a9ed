"""What may be stapled (``ctlplane.ocsp.check``): answers signed with a test CA, or a responder it delegated
to, by the same ``answer`` the fake and the tests' HTTP responder use; every way an answer can be wrong is
refused with its reason."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ctlplane.model.ocsp_subjects import OcspSubject, subject
from ctlplane.ocsp.check import Unusable, Verified, request_for, verify
from ctlplane.ocsp.fake import Signer, answer
from tests.ocsp_pki import Pki

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)  # OCSP times are whole seconds
HOUR = datetime.timedelta(hours=1)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def subject_of(pki: Pki, url: str | None = "http://127.0.0.1:9/") -> OcspSubject:
    cert, _ = pki.leaf("www.example.com", url)
    return subject(cert.public_bytes(serialization.Encoding.PEM) + pki.pem)


def signed(pki: Pki, s: OcspSubject, signer: Signer | None = None, **kw: object) -> bytes:
    return answer(request_for(s), pki.cert, signer or Signer(pki.cert, pki.key), **kw)  # type: ignore[arg-type]


def test_a_good_answer_from_the_issuer_is_stapled(pki: Pki) -> None:
    s = subject_of(pki)
    found = verify(signed(pki, s, this_update=NOW - HOUR), s, NOW)
    assert (found.this_update, found.next_update) == (NOW - HOUR, NOW + 23 * HOUR)
    request = ocsp.load_der_ocsp_request(request_for(s))
    assert request.serial_number == x509.load_der_x509_certificate(s.leaf).serial_number
    assert isinstance(request.hash_algorithm, hashes.SHA1)  # what responders expect


def test_a_delegated_responder_signs_for_the_issuer_only_when_it_may_sign_ocsp(pki: Pki) -> None:
    s = subject_of(pki)
    assert verify(signed(pki, s, pki.delegate()), s, NOW)
    with pytest.raises(Unusable, match="not an OCSP signing certificate"):
        verify(signed(pki, s, pki.delegate(ocsp_signing=False)), s, NOW)
    other = Pki()
    with pytest.raises(Unusable, match="not delegated by the issuer"):
        verify(signed(pki, s, other.delegate()), s, NOW)


def test_an_answer_signed_by_another_ca_is_refused(pki: Pki) -> None:
    s = subject_of(pki)
    other = Pki()
    with pytest.raises(Unusable, match="neither the issuer nor one it delegated to"):
        verify(answer(request_for(s), other.cert, Signer(other.cert, other.key)), s, NOW)


def test_a_forged_signature_is_refused(pki: Pki) -> None:
    s = subject_of(pki)
    der = bytearray(signed(pki, s))
    der[-5] ^= 0x01  # inside the signature
    with pytest.raises(Unusable, match="signature does not verify|not an OCSP response"):
        verify(bytes(der), s, NOW)


@pytest.mark.parametrize(("status", "why"), [("revoked", "revoked"), ("unknown", "does not know")])
def test_a_certificate_that_is_not_good_is_not_stapled(pki: Pki, status: str, why: str) -> None:
    s = subject_of(pki)
    with pytest.raises(Unusable, match=why):
        verify(signed(pki, s, status=status), s, NOW)


def test_an_answer_about_another_certificate_is_refused(pki: Pki) -> None:
    s, other = subject_of(pki), subject_of(pki)
    with pytest.raises(Unusable, match="not about this certificate"):
        verify(signed(pki, other), s, NOW)


@pytest.mark.parametrize(("start", "validity", "why"), [
    (NOW - 25 * HOUR, 24 * HOUR, "expired"),
    (NOW + HOUR, 24 * HOUR, "in the future"),
])
def test_an_answer_outside_its_validity_is_refused(pki: Pki, start: datetime.datetime,
                                                   validity: datetime.timedelta, why: str) -> None:
    s = subject_of(pki)
    with pytest.raises(Unusable, match=why):
        verify(signed(pki, s, this_update=start, validity=validity), s, NOW)


def test_an_answer_without_next_update_or_unsuccessful_or_not_ocsp_is_refused(pki: Pki) -> None:
    s = subject_of(pki)
    asked = ocsp.load_der_ocsp_request(request_for(s))
    open_ended = ocsp.OCSPResponseBuilder().add_response_by_hash(
        asked.issuer_name_hash, asked.issuer_key_hash, asked.serial_number, asked.hash_algorithm,
        ocsp.OCSPCertStatus.GOOD, NOW - HOUR, None, None, None).responder_id(
        ocsp.OCSPResponderEncoding.HASH, pki.cert).sign(pki.key, hashes.SHA256())
    with pytest.raises(Unusable, match="no nextUpdate"):
        verify(open_ended.public_bytes(serialization.Encoding.DER), s, NOW)
    refused = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
    with pytest.raises(Unusable, match="TRY_LATER"):
        verify(refused.public_bytes(serialization.Encoding.DER), s, NOW)
    with pytest.raises(Unusable, match="not an OCSP response"):
        verify(b"<html>", s, NOW)


def test_an_answer_is_due_past_half_its_validity_or_an_hour_before_it_ends() -> None:
    day = Verified(b"", NOW, NOW + 24 * HOUR)
    assert not day.due(NOW + 11 * HOUR) and day.due(NOW + 12 * HOUR)
    short = Verified(b"", NOW, NOW + 90 * datetime.timedelta(minutes=1))
    assert not short.due(NOW + 29 * datetime.timedelta(minutes=1)) and short.due(NOW + 30 * datetime.timedelta(minutes=1))
    assert day.expired(NOW + 24 * HOUR) and not day.expired(NOW + 23 * HOUR)


def test_a_certificate_needs_a_responder_url_and_its_issuer_after_it(pki: Pki) -> None:
    cert, _ = pki.leaf("www.example.com", None)
    with pytest.raises(ValueError, match="names no OCSP responder"):
        subject(cert.public_bytes(serialization.Encoding.PEM) + pki.pem)
    cert, _ = pki.leaf("www.example.com", "http://127.0.0.1:9/")
    with pytest.raises(ValueError, match="issuer of this certificate is not in its file"):
        subject(cert.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ValueError, match="issuer of this certificate is not in its file"):
        subject(cert.public_bytes(serialization.Encoding.PEM) + Pki().pem)  # another CA's certificate
    assert subject(cert.public_bytes(serialization.Encoding.PEM) + pki.pem).url == "http://127.0.0.1:9/"
