"""Certificates and keys checked with ``cryptography``: the key must match the leaf certificate,
the SNI names default to the leaf's subjectAltName DNS names, and only the certificate blocks are kept
for the world-readable copy. Imported only for models with TLS (``cryptography`` is a heavy import).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class PemProblem(Exception):
    """A certificate or key that cannot be used; ``field`` is ``cert`` or ``key``."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


def check_pair(cert_pem: bytes, key_pem: bytes) -> tuple[bytes, tuple[str, ...]]:
    """The certificate blocks only (leaf first) and the leaf's DNS names; PemProblem when unusable."""
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as exc:
        raise PemProblem("cert", "not a PEM certificate") from exc
    try:
        # Only the public half is compared here; the proxy binaries load and check the key itself (stage 2),
        # so the slow RSA consistency check (about 0.3 s per key) is left to them.
        key = serialization.load_pem_private_key(key_pem, password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError) as exc:
        raise PemProblem("key", "not an unencrypted PEM private key") from exc
    leaf = chain[0]
    if leaf.public_key().public_bytes(*_SPKI) != key.public_key().public_bytes(*_SPKI):
        raise PemProblem("key", "the private key does not match the certificate")
    only_certs = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    return only_certs, _san_names(leaf)


def _san_names(leaf: x509.Certificate) -> tuple[str, ...]:
    try:
        san = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return ()
    assert isinstance(san, x509.SubjectAlternativeName)
    return tuple(n.lower() for n in san.get_values_for_type(x509.DNSName))


def ca_bundle(pem: bytes) -> bytes:
    """The certificate blocks of a CA file (PemProblem when it holds none)."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise PemProblem("cert", "not a PEM file of CA certificates") from exc
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
