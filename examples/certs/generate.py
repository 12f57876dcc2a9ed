"""Make throwaway certificates for the examples (a local CA and one leaf per name).

``www-ocsp.crt`` names an OCSP responder (``OCSP_URL``, nothing answers there) and carries the CA after the
leaf, as ``tls.ocsp_stapling`` needs; the CA's key is kept (``ca.key``) so tests can sign OCSP answers.

Run by `make demo` and `make test`; keys are written 0600. Never use these anywhere real.
Usage: python examples/certs/generate.py [DIR]
"""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

LEAVES = {"www": ["www.example.com", "example.com"], "api": ["api.example.com"], "shop": ["shop.example.com"],
          "billing": ["billing.internal"], "lb-client": ["lb.example.com"], "www-ocsp": ["www.example.com"]}
OCSP_URL = "http://127.0.0.1:9/ocsp"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def main(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if all((directory / f"{n}.crt").exists() and (directory / f"{n}.key").exists() for n in [*LEAVES, "ca"]):
        return
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("ctlplane example CA")).issuer_name(_name("ctlplane example CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(directory / "ca.crt", ca.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(directory / "ca.key", _key_pem(ca_key), 0o600)
    for stem, names in LEAVES.items():
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        )
        chain = b""
        if stem == "www-ocsp":
            builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(OCSP_URL))]), critical=False)
            chain = ca.public_bytes(serialization.Encoding.PEM)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write(directory / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM) + chain, 0o644)
        _write(directory / f"{stem}.key", _key_pem(key), 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
