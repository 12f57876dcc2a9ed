"""TLS to backends and client certificates in the parity lab: the PKI, and the lab's TLS backend ``t`` (.21).

:func:`lab_pki` makes, once per test process, four trustme CAs and their leaves: the backend's CA and its
certificate (``backend.internal``), the CA of the proxy's client certificate and that certificate, the CA a
service verifies clients against with a valid client certificate (a subject with a comma, to compare the
RFC 2253 escaping of both engines), and a rogue CA with a client certificate no service trusts.
``write_group_files`` puts what a group's model names beside it; :func:`ensure_tls_backend` starts
``tls_backend.py`` (mounted with the harness) with the backend's files, once per lab network.
"""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from integration.harness.containers import HARNESS_DIR, HARNESS_MOUNT, _run
from integration.harness.lab import Lab
from integration.harness.wait import wait_until

TLS_HOST = 21
BACKEND_NAME = "backend.internal"
PROXY_CLIENT = "lb.client.internal"
CLIENT_SUBJECT = {"common_name": "client-1", "organization_name": "Example Corp", "organization_unit_name": "Ops, EU"}
CLIENT_DN = r"CN=client-1,OU=Ops\, EU,O=Example Corp"  # RFC 2253: most specific first, the comma escaped
PKI_MOUNT = "/opt/ctlplane-pki"
_started: dict[str, str] = {}


@dataclass(frozen=True)
class Pair:
    cert: bytes
    key: bytes


@dataclass(frozen=True)
class LabPki:
    backend_ca: bytes
    backend: Pair
    proxy_ca: bytes
    proxy_client: Pair
    clients_ca: bytes
    client: Pair  # trusted by the services' client_ca
    rogue: Pair  # from a CA nobody trusts

    def client_files(self, which: str | None) -> dict[str, str]:
        """The files curl needs in the client container for ``which`` (good | rogue | None)."""
        pair = {"good": self.client, "rogue": self.rogue}.get(which or "")
        return {} if pair is None else {"client.crt": pair.cert.decode(), "client.key": pair.key.decode()}


def _pair(ca: object, *names: str, **subject: str) -> Pair:
    leaf = ca.issue_cert(*names, **subject)  # type: ignore[attr-defined]
    return Pair(b"".join(b.bytes() for b in leaf.cert_chain_pems), leaf.private_key_pem.bytes())


@functools.cache
def lab_pki() -> LabPki:
    import trustme

    backend_ca, proxy_ca, clients_ca, rogue_ca = (trustme.CA() for _ in range(4))
    return LabPki(backend_ca.cert_pem.bytes(), _pair(backend_ca, BACKEND_NAME),
                  proxy_ca.cert_pem.bytes(), _pair(proxy_ca, PROXY_CLIENT, common_name=PROXY_CLIENT),
                  clients_ca.cert_pem.bytes(), _pair(clients_ca, "client-1.example.com", **CLIENT_SUBJECT),
                  _pair(rogue_ca, "client-1.example.com", **CLIENT_SUBJECT))


def _write(path: Path, data: bytes, secret: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o600 if secret else 0o644)


def write_group_files(certs: Path) -> None:
    """The files the TLS groups' models name, in their ``certs/`` directory."""
    pki = lab_pki()
    _write(certs / "backend-ca.pem", pki.backend_ca)
    _write(certs / "clients-ca.pem", pki.clients_ca)
    _write(certs / "lb-client.crt", pki.proxy_client.cert)
    _write(certs / "lb-client.key", pki.proxy_client.key, secret=True)


def tls_backend_address(lab: Lab) -> str:
    return lab.net.ip(TLS_HOST)


def ensure_tls_backend(lab: Lab) -> str:
    """The TLS backend's address, starting its container on first use."""
    key = lab.net.name
    if key in _started:
        return _started[key]
    pki = lab_pki()
    directory = Path(tempfile.mkdtemp(prefix="ctlplane-pki-"))
    os.chmod(directory, 0o755)
    _write(directory / "server.crt", pki.backend.cert)
    _write(directory / "server.key", pki.backend.key)  # read by the container's root; a throw-away key
    _write(directory / "client-ca.pem", pki.proxy_ca)
    ip = tls_backend_address(lab)
    command = ["python3", f"{HARNESS_MOUNT}/tls_backend.py", "--name", "t", "--pki", PKI_MOUNT]
    container = _run(lab.net, "t", ip, command,
                     volumes={str(HARNESS_DIR): {"bind": HARNESS_MOUNT, "mode": "ro"},
                              str(directory): {"bind": PKI_MOUNT, "mode": "ro"}})
    wait_until(lambda: b"READY" in container.logs(), timeout=30, what="TLS backend t READY")
    _started[key] = ip
    return ip
