"""What OCSP stapling needs from each certificate of a service with ``tls.ocsp_stapling``: the responder's
URL (the leaf's Authority Information Access OCSP entry, http or https) and the issuer's certificate, found
in the certificate file after the leaf (HAProxy computes the OCSP certificate id from it, and ctlplane
verifies the responder's signature with it). A certificate missing either is refused, located at its
``cert`` field. Pure: the certificates were read by ``assets``; ``cryptography`` is imported only here, for
models that staple.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ctlplane.model.load import Loc
from ctlplane.model.root import Model
from ctlplane.model.service import HttpService

if TYPE_CHECKING:
    from cryptography import x509

Report = Callable[[Loc, str], None]


@dataclass(frozen=True)
class OcspSubject:
    """One certificate to staple: the responder's URL, the leaf and its issuer (DER)."""

    url: str
    leaf: bytes
    issuer: bytes


def ocsp_subjects(model: Model, chains: dict[tuple[str, int], bytes],
                  problem: Report) -> dict[tuple[str, int], OcspSubject]:
    """(service, index) -> what stapling its certificate needs, for every service with ``ocsp_stapling``;
    ``chains`` holds the certificates' PEM blocks (leaf first) as ``assets`` read them."""
    found: dict[tuple[str, int], OcspSubject] = {}
    for k, svc in enumerate(model.services):
        if not isinstance(svc, HttpService) or svc.tls is None or not svc.tls.ocsp_stapling:
            continue
        for i in range(len(svc.tls.certificates)):
            pem = chains.get((svc.name, i))
            if pem is None:
                continue  # unreadable: reported by assets already
            try:
                found[(svc.name, i)] = subject(pem)
            except ValueError as exc:
                problem(("services", k, "tls", "certificates", i, "cert"), f"tls.ocsp_stapling: {exc}")
    return found


def subject(pem: bytes) -> OcspSubject:
    """The responder URL and issuer of a certificate chain's leaf; ValueError saying what is missing."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import AuthorityInformationAccessOID

    chain = x509.load_pem_x509_certificates(pem)
    leaf = chain[0]
    try:
        aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        aia = x509.AuthorityInformationAccess([])
    urls = [d.access_location.value for d in aia
            if d.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)]
    url = next((u for u in urls if u.lower().startswith(("http://", "https://"))), None)
    if url is None:
        raise ValueError("this certificate names no OCSP responder (no http(s) OCSP URL in its Authority "
                         "Information Access): turn ocsp_stapling off for this service")
    issuer = next((c for c in chain[1:] if _issued(c, leaf)), None)
    if issuer is None:
        raise ValueError("the issuer of this certificate is not in its file: put the issuing CA's certificate "
                         "after the leaf (the OCSP response is verified with it, and HAProxy needs it)")
    return OcspSubject(url, leaf.public_bytes(Encoding.DER), issuer.public_bytes(Encoding.DER))


def _issued(issuer: x509.Certificate, leaf: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        leaf.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):  # another issuer's name, key type or signature
        return False
    return True
