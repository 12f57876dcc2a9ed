"""A throw-away PKI for TLS tests, and TLS handshakes made from a client container.

:func:`make_pki` creates a test CA (``trustme``) and one RSA leaf certificate
per host name; ``pki.write(dir)`` puts them in a directory (keys mode 0600, as
ctlplane requires) for the model to reference by absolute path. :func:`handshakes` runs ``netprobe.py
tls`` in a client container: each :class:`Handshake` connects with its own
SNI, protocol range and cipher list, verifies the peer against the CA and can
send one GET; the results say which certificate was served, the negotiated
version and cipher, or why the handshake failed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROBE_SCRIPT = "/opt/ctlplane-harness/netprobe.py"


@dataclass(frozen=True)
class Pki:
    """A test CA and leaf certificates (PEM) per host name."""

    ca_pem: str
    leaves: dict[str, tuple[bytes, bytes]]  # host -> (certificate chain, key)

    def write(self, directory: Path) -> dict[str, dict[str, str]]:
        """Write every leaf into ``directory`` (keys mode 0600); host -> the model's certificate entry."""
        directory.mkdir(parents=True, exist_ok=True)
        entries = {}
        for host, (chain, key_pem) in self.leaves.items():
            cert, key = directory / f"{host}.crt", directory / f"{host}.key"
            cert.write_bytes(chain)
            key.touch(mode=0o600)
            os.chmod(key, 0o600)
            key.write_bytes(key_pem)
            entries[host] = {"cert": str(cert), "key": str(key)}
        return entries


def make_pki(hosts: list[str]) -> Pki:
    """A new CA and one RSA leaf per host (RSA: RSA-key-exchange ciphers are then refused by config only)."""
    import trustme

    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    leaves = {}
    for host in hosts:
        leaf = ca.issue_cert(host, key_type=trustme.KeyType.RSA)
        leaves[host] = (b"".join(blob.bytes() for blob in leaf.cert_chain_pems), leaf.private_key_pem.bytes())
    return Pki(ca.cert_pem.bytes().decode("ascii"), leaves)


@dataclass(frozen=True)
class Handshake:
    """One TLS connection: ``min``/``max`` are ``ssl.TLSVersion`` names (``TLSv1``, ``TLSv1_2``, ...)."""

    target: str
    sni: str | None = None
    min: str | None = None
    max: str | None = None
    ciphers: str | None = None
    host: str | None = None  # send "GET path" with this Host header after the handshake
    path: str = "/"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Handshaken:
    ok: bool
    version: str | None
    cipher: str | None
    subject_cn: str | None
    san: list[str]
    error: str | None
    status: int | None
    headers: dict[str, str]


def handshakes(client: Any, ca_pem: str, probes: list[Handshake], timeout: float = 5.0) -> list[Handshaken]:
    """Run the handshakes one after the other in ``client``'s container (one ``exec_run``)."""
    spec = {"ca": ca_pem, "timeout": timeout, "probes": [p.as_dict() for p in probes]}
    result = client.container.exec_run(["python3", PROBE_SCRIPT, "tls", json.dumps(spec)], demux=True)
    out, err = (result.output[0] or b""), (result.output[1] or b"")
    if result.exit_code != 0:
        raise RuntimeError(f"tls probe failed ({result.exit_code}): {err.decode(errors='replace')[-2000:]}")
    return [Handshaken(**r) for r in json.loads(out)["results"]]
