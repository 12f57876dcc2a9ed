"""The group models of TLS to backends and client certificates (issue 13 item 3), merged into ``groups.GROUPS``
through ``groups_day2``. The files they name are written by ``groups.prepare`` (``tls_lab.write_group_files``);
``t`` is the lab's TLS backend (``integration/harness/tls_lab.py``): 8443 requires a client certificate from
the proxy, 9443 does not, 9444 is its TCP echo over TLS."""

from __future__ import annotations

from typing import Any

from integration.parity.groups import Book, Group, http, pool

CA = "certs/backend-ca.pem"
CLIENT = {"cert": "certs/lb-client.crt", "key": "certs/lb-client.key"}
NO_CHECKS: dict[str, Any] = {"passive": None}  # pools that must fail: no check state to wait for


def _t(b: Book, name: str, port: int, tls: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": name, "servers": [{"name": "t", "address": b["t"], "port": port}], "tls": tls, **fields}


def upstream_tls(b: Book) -> Group:
    """Pools speaking TLS to the lab's TLS backend: verified with SNI and the proxy's client certificate, the
    same without the client certificate (the backend refuses it), a name the backend's certificate does not
    carry, encryption without verification; and a TCP service over TLS."""
    verified = {"verify": CA, "sni": "backend.internal"}
    return {
        "pools": [_t(b, "secure", 8443, {**verified, "client_cert": CLIENT}),
                  _t(b, "nocert", 8443, verified, health=NO_CHECKS),
                  _t(b, "wrongname", 9443, {**verified, "sni": "other.internal"}, health=NO_CHECKS),
                  _t(b, "unverified", 9443, {"verify": "none"}),
                  _t(b, "tcptls", 9444, verified)],
        "services": [
            http("utls", 178, default_pool="secure", retries={"attempts": 0},
                 routes=[{"path_prefix": f"/{p}/", "pool": p} for p in ("nocert", "wrongname", "unverified")]),
            {"name": "ttls", "mode": "tcp", "listen": {"port": 179}, "pool": "tcptls"},
        ],
    }


def client_certs(b: Book) -> Group:
    """TLS listeners asking for client certificates: required on 8460, optional on 8461 (its subject in
    X-SSL-Client-DN)."""
    cert = [{"cert": "certs/www.example.com.crt", "key": "certs/www.example.com.key"}]
    tls = {"certificates": cert, "client_ca": "certs/clients-ca.pem"}
    optional = {**tls, "client_verify": "optional", "client_subject_header": "X-SSL-Client-DN"}
    return {"pools": [pool(b, "app", ["a"])],
            "services": [{**http("mtlsreq", 8460, default_pool="app"), "tls": tls},
                         {**http("mtlsopt", 8461, default_pool="app"), "tls": optional}]}


def ocsp(b: Book) -> Group:
    """A TLS listener stapling the OCSP response ctlplane fetched for its certificate (8462), and the same
    certificate without stapling (8463). The certificate's responder runs in the test process
    (``integration/harness/ocsp_lab.py``)."""
    cert = [{"cert": "certs/ocsp.crt", "key": "certs/ocsp.key"}]
    return {"pools": [pool(b, "app", ["a"])],
            "services": [{**http("stapled", 8462, default_pool="app"),
                          "tls": {"certificates": cert, "ocsp_stapling": True}},
                         {**http("unstapled", 8463, default_pool="app"), "tls": {"certificates": cert}}]}
