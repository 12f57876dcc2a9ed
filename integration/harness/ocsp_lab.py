"""OCSP stapling in the parity lab: a CA, a certificate for www.example.com whose Authority Information Access
names an OCSP responder, and that responder: a real HTTP server on 127.0.0.1 in the test process (where
ctlplane's apply runs and fetches; the proxies in their containers never reach it), signing with the CA.
Started once per test process (``tests/ocsp_pki.py`` is the PKI and the responder, shared with the unit
tests); ``write_group_files`` puts the group's certificate and key beside its model."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from tests.ocsp_pki import Pki, start_responder, url_of

NAME = "www.example.com"


@functools.cache
def ocsp_lab() -> tuple[Pki, Any]:
    pki = Pki()
    return pki, start_responder(pki)[0]  # serves as long as the test process (never shut down: a daemon thread)


def write_group_files(certs: Path) -> None:
    """``certs/ocsp.crt`` (the leaf, then the CA) and ``certs/ocsp.key`` for the ``ocsp`` group."""
    pki, server = ocsp_lab()
    pki.write_leaf(certs, "ocsp", NAME, url_of(server))
