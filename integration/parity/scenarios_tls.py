"""Parity scenarios of TLS to backends and client certificates (issue 13 item 3; the table is
``table.SCENARIOS``)."""

from __future__ import annotations

from integration.parity.scenario import S, Scenario

T = "TLS"
POOL = ("Pool.tls", "PoolTls.verify", "PoolTls.sni")
SHOW = ["status", "server", "seen:x-backend-tls-client"]
DN = r"CN=client-1,OU=Ops\, EU,O=Example Corp"  # integration/harness/tls_lab.py CLIENT_DN

SCENARIOS_TLS: tuple[Scenario, ...] = (
    S("upstream-tls-mtls", T, "a pool over TLS: the server's certificate verified against the CA and the SNI "
      "name, the proxy's client certificate presented to a server that requires one", "upstream_tls",
      "backend_tls", {"port": 178, "path": "/", "show": SHOW},
      {"status": 200, "server": "t", "seen:x-backend-tls-client": "CN=lb.client.internal"},
      (*POOL, "PoolTls.client_cert", "ClientCertificate.cert", "ClientCertificate.key")),
    S("upstream-tls-no-client-cert", T, "the same server without the proxy's client certificate refuses the "
      "handshake: 502", "upstream_tls", "backend_tls", {"port": 178, "path": "/nocert/", "show": SHOW[:2]},
      {"status": 502, "server": None}, ("PoolTls.client_cert",)),
    S("upstream-tls-wrong-name", T, "a server whose certificate does not carry the sni name is not trusted: 502",
      "upstream_tls", "backend_tls", {"port": 178, "path": "/wrongname/", "show": SHOW[:2]},
      {"status": 502, "server": None}, POOL),
    S("upstream-tls-unverified", T, "verify none: encrypted, the server's certificate not checked (and no client "
      "certificate sent)", "upstream_tls", "backend_tls", {"port": 178, "path": "/unverified/", "show": SHOW},
      {"status": 200, "server": "t", "seen:x-backend-tls-client": None}, ("PoolTls.verify",)),
    S("upstream-tls-tcp", T, "a TCP service whose pool speaks TLS: the server's certificate verified, the bytes "
      "relayed", "upstream_tls", "backend_tcp", {"port": 179}, ["t"],
      ("Pool.tls", "PoolTls.verify", "PoolTls.sni")),
    # --- client certificates on the listener -------------------------------------------------------------------
    S("mtls-required-valid", T, "client_verify required: a client certificate from client_ca is accepted and its "
      "subject (RFC 2253) reaches the backend in X-Client-Cert-Subject", "client_certs", "client_cert",
      {"port": 8460, "cert": "good"}, {"status": 200, "seen": DN}, ("Tls.client_ca", "Tls.client_verify")),
    S("mtls-required-missing", T, "client_verify required: no client certificate is a 400 after the handshake",
      "client_certs", "client_cert", {"port": 8460, "cert": None}, {"status": 400, "seen": None},
      ("Tls.client_verify",)),
    S("mtls-required-untrusted", T, "a client certificate from another CA is a 400 after the handshake",
      "client_certs", "client_cert", {"port": 8460, "cert": "rogue"}, {"status": 400, "seen": None},
      ("Tls.client_ca",)),
    S("mtls-optional-missing", T, "client_verify optional: no client certificate is served, without the subject "
      "header, even when the client sends one itself", "client_certs", "client_cert",
      {"port": 8461, "cert": None, "headers": {"X-SSL-Client-DN": "CN=admin"}, "seen": "x-ssl-client-dn"},
      {"status": 200, "seen": None}, ("Tls.client_verify", "Tls.client_subject_header")),
    S("mtls-optional-valid", T, "client_verify optional: a valid client certificate's subject in the header "
      "client_subject_header names", "client_certs", "client_cert",
      {"port": 8461, "cert": "good", "seen": "x-ssl-client-dn"}, {"status": 200, "seen": DN},
      ("Tls.client_subject_header",)),
    # --- OCSP stapling -----------------------------------------------------------------------------------------
    S("ocsp-stapled", T, "tls.ocsp_stapling: the handshake carries the OCSP response ctlplane fetched from the "
      "certificate's responder and verified (openssl s_client -status): successful, status good",
      "ocsp", "ocsp_status", {"port": 8462},
      {"stapled": True, "response_status": "successful (0x0)", "cert_status": "good"}, ("Tls.ocsp_stapling",)),
    S("ocsp-off", T, "without tls.ocsp_stapling the same certificate's handshake carries no OCSP response (the "
      "proxies never ask the responder themselves)", "ocsp", "ocsp_status", {"port": 8463},
      {"stapled": False, "response_status": None, "cert_status": None}, ("Tls.ocsp_stapling",)),
    S("mtls-optional-untrusted", T, "client_verify optional: a client certificate that does not verify is still a "
      "400", "client_certs", "client_cert", {"port": 8461, "cert": "rogue", "seen": "x-ssl-client-dn"},
      {"status": 400, "seen": None}, ("Tls.client_verify",)),
)
