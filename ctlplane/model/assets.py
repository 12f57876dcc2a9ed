"""The files a model refers to: certificates, keys and static roots.

This is the one place that reads them, so that rendering stays a pure
function of (model, assets). Each certificate must exist, parse, match its
key, and its key must not be readable by everyone; SNI names default to the
certificate's subjectAltName DNS names. Paths are relative to the model file.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

from ctlplane.errors import Finding, ModelError
from ctlplane.model.load import Loaded, locate
from ctlplane.model.root import Model
from ctlplane.model.service import Certificate, HttpService

MAX_PEM_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CertAsset:
    """A checked certificate/key pair: PEM bytes and the names it serves."""

    cert_pem: bytes
    key_pem: bytes
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class Assets:
    """Everything rendering needs from outside the model file."""

    certs: dict[tuple[str, int], CertAsset] = field(default_factory=dict)  # (service, index) -> pair
    static_roots: dict[tuple[str, int], str] = field(default_factory=dict)  # (service, index) -> absolute dir
    watched: tuple[str, ...] = ()  # absolute paths of every file read (for the watcher)


def resolve_path(base: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else base / path


def read_assets(loaded: Loaded) -> Assets:
    """Check and read every referenced file, or raise ModelError listing each problem with its location."""
    problems: list[Finding] = []
    certs: dict[tuple[str, int], CertAsset] = {}
    roots: dict[tuple[str, int], str] = {}
    watched: list[str] = []
    for k, svc in enumerate(loaded.model.services):
        if not isinstance(svc, HttpService):
            continue
        for i, cert in enumerate(svc.tls.certificates if svc.tls else []):
            loc = ("services", k, "tls", "certificates", i)
            try:
                certs[(svc.name, i)] = _cert_pair(loaded.base_dir, cert, watched)
            except _Problem as p:
                problems.append(locate((*loc, p.field), p.message, loaded.positions, loaded.file))
        for i, static in enumerate(svc.static):
            root = resolve_path(loaded.base_dir, static.root).resolve()
            if not root.is_dir():
                loc = ("services", k, "static", i, "root")
                problems.append(locate(loc, f"static root {str(root)!r} is not a directory", loaded.positions,
                                       loaded.file))
            roots[(svc.name, i)] = str(root)
    if problems:
        raise ModelError("referenced files are not usable", problems)
    return Assets(certs, roots, tuple(watched))


class _Problem(Exception):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


def _read(base: Path, value: str, field_name: str, watched: list[str]) -> tuple[Path, bytes]:
    path = resolve_path(base, value)
    watched.append(str(path))
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise _Problem(field_name, f"{str(path)!r} is not a regular file")
        if info.st_size > MAX_PEM_BYTES:
            raise _Problem(field_name, f"{str(path)!r} is larger than 1 MiB")
        return path, path.read_bytes()
    except FileNotFoundError:
        raise _Problem(field_name, f"file {str(path)!r} does not exist") from None
    except PermissionError:
        raise _Problem(field_name, f"file {str(path)!r} is not readable") from None


def _cert_pair(base: Path, cert: Certificate, watched: list[str]) -> CertAsset:
    _, cert_pem = _read(base, cert.cert, "cert", watched)
    key_path, key_pem = _read(base, cert.key, "key", watched)
    if os.stat(key_path).st_mode & stat.S_IROTH:
        raise _Problem("key", f"private key {str(key_path)!r} is readable by everyone: chmod 600 it")
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise _Problem("cert", "not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise _Problem("key", "not an unencrypted PEM private key") from None
    leaf = chain[0]
    if leaf.public_key().public_bytes(*_SPKI) != key.public_key().public_bytes(*_SPKI):
        raise _Problem("key", "the private key does not match the certificate")
    hosts = tuple(cert.hosts) or _san_names(leaf)
    return CertAsset(cert_pem, key_pem, hosts)


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _san_names(leaf: x509.Certificate) -> tuple[str, ...]:
    try:
        san = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(n.lower() for n in san.get_values_for_type(x509.DNSName))


def no_assets_needed(model: Model) -> bool:
    return not any(isinstance(s, HttpService) and (s.tls or s.static) for s in model.services)
