"""Probes of TLS to backends and client certificates (see ``probes``): the lab's TLS backend ``t`` started
before use, and HTTPS requests carrying a client certificate (or none) from a client container."""

from __future__ import annotations

from typing import Any

from integration.parity.probes import Ctx, Obs, _many, _request, observe


def p_backend_tls(ctx: Ctx, port: int, path: str, show: list[str]) -> Obs:
    """One plain request to a service whose pool speaks TLS to the lab's TLS backend."""
    from integration.harness.tls_lab import ensure_tls_backend

    ensure_tls_backend(ctx.lab)
    [answer] = _many(ctx, port, [_request(ctx, port, {"path": path})])
    return observe(answer, show)


def p_backend_tcp(ctx: Ctx, port: int) -> Obs:
    """One connection to a TCP service whose pool speaks TLS: the greeting line of the backend that answered."""
    from integration.harness.tls_lab import ensure_tls_backend

    ensure_tls_backend(ctx.lab)
    return [ctx.run({"op": "tcp", "target": ctx.target(port)})["line"]]


def p_client_cert(ctx: Ctx, port: int, cert: str | None, headers: dict[str, str] | None = None,
                  seen: str = "x-client-cert-subject") -> Obs:
    """One HTTPS GET with client certificate ``cert`` (good: from the CA the service trusts; rogue: from
    another; None: none): the status and the subject header the backend received (None when absent)."""
    from integration.harness.tls_lab import lab_pki

    files = lab_pki().client_files(cert)
    args = ["--cert", "{dir}/client.crt", "--key", "{dir}/client.key"] if files else []
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    url = f"https://www.example.com:{port}/"
    found = ctx.run({"op": "curl", "files": files, "body": True,
                     "args": [*args, "--resolve", f"www.example.com:{port}:{ctx.dep.ip}", url]})
    body: Any = found.get("body")
    headers_seen = {k.lower(): v for k, v in body.get("headers", {}).items()} if isinstance(body, dict) else {}
    return {"status": found["status"], "seen": headers_seen.get(seen) if found["status"] == 200 else None}


def p_ocsp_status(ctx: Ctx, port: int) -> Obs:
    """One TLS handshake asking for the certificate's status (``openssl s_client -status``, SNI
    www.example.com): whether an OCSP response was stapled, its response status and certificate status."""
    found = ctx.run({"op": "tls_status", "target": ctx.target(port), "servername": "www.example.com"})
    return {k: found[k] for k in ("stapled", "response_status", "cert_status")}
