"""The files generated models refer to: a model directory holding a few
certificate/key pairs (trustme, RSA and ECDSA, with exact and wildcard SAN
names) under ``certs/``, an htpasswd file under ``auth/`` and static roots under ``www/``, created once per
session (pytest) or per run (``proof.py``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import trustme

# (file stem, SAN names, key type); the names are what a certificate serves when 'hosts' is empty.
CERTS = (
    ("www", ("www.example.com", "example.com"), trustme.KeyType.ECDSA),
    ("wild", ("*.example.org",), trustme.KeyType.ECDSA),
    ("api", ("api.test",), trustme.KeyType.RSA),
)
STATIC = ("www/site", "www/a+b.c", "www/-dash_dir")


@dataclass(frozen=True)
class Cert:
    cert: str  # path relative to the model directory
    key: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class World:
    """A model directory with files a model may name (all paths relative to ``base``)."""

    base: Path
    certs: tuple[Cert, ...]
    static: tuple[str, ...]

    @property
    def model_file(self) -> str:
        return str(self.base / "model.yaml")


CA_FILE = "certs/ca.pem"
HTPASSWD_FILE = "auth/users.htpasswd"  # one sha512-crypt user (password: golden)
_HTPASSWD = ("alice:$6$wWUcSh41ACc7OVRh$QKV3Qk8QlB3wmkJPD0anATPOs3MbblhZqmRDHJwfd5fpkAxHA42O8p6wV7ziuv7QN.dzbDW"
             ".wPvvUQLVNY3n70\n")


def make_world(base: Path) -> World:
    base.mkdir(parents=True, exist_ok=True)
    (base / "certs").mkdir(exist_ok=True)
    ca = trustme.CA()
    (base / "certs" / "ca.pem").write_bytes(ca.cert_pem.bytes())  # CA_FILE: pools' verify, services' client_ca
    certs = []
    for stem, names, key_type in CERTS:
        leaf = ca.issue_cert(*names, key_type=key_type)
        cert_path, key_path = base / "certs" / f"{stem}.crt", base / "certs" / f"{stem}.key"
        cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(leaf.private_key_pem.bytes())
        os.chmod(key_path, 0o600)
        certs.append(Cert(f"certs/{stem}.crt", f"certs/{stem}.key", names))
    for rel in STATIC:
        (base / rel).mkdir(parents=True, exist_ok=True)
        (base / rel / "index.html").write_text("hello\n")
    (base / "auth").mkdir(exist_ok=True)
    (base / HTPASSWD_FILE).write_text(_HTPASSWD)
    (base / "model.yaml").write_text("# placeholder: generated models are validated in memory\n")
    return World(base, tuple(certs), STATIC)
