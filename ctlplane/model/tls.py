"""TLS in the model: termination on a service (certificates, versions, HSTS, HTTP/2, client certificates) and
TLS from the proxy to a pool's servers (verification against a CA, SNI, a client certificate).

Every file named here is read, confined and checked by ``ctlplane.model.assets`` (keys must not be
readable by everyone) and copied into the release, never referenced in place.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ctlplane.model.types import Duration, FilePath, Frozen, HeaderName, HostName, Port

CLIENT_SUBJECT_HEADER = "X-Client-Cert-Subject"


class Hsts(Frozen):
    """HTTP Strict Transport Security header."""

    max_age: Duration = Field(31_536_000_000, description="How long browsers remember to use HTTPS only.")
    include_subdomains: bool = Field(False, description="Add includeSubDomains.")
    preload: bool = Field(False, description="Add preload (for browsers' preload lists).")


class Certificate(Frozen):
    """A certificate and its private key (PEM files)."""

    cert: FilePath = Field(description="PEM certificate chain, leaf first.")
    key: FilePath = Field(description="PEM private key; must not be readable by everyone.")
    hosts: list[HostName] = Field(
        default_factory=list,
        description="SNI names this certificate serves; filled from its subjectAltName DNS names when empty.",
    )


class Tls(Frozen):
    """TLS termination. Defaults follow Mozilla's intermediate profile."""

    certificates: list[Certificate] = Field(
        min_length=1, description="Certificates chosen by SNI; the first is the default."
    )
    min_version: Literal["1.2", "1.3"] = Field("1.2", description="Oldest TLS version accepted (1.2 or 1.3).")
    redirect_http_port: Port | None = Field(
        None, description="Also listen for plain HTTP on this port and redirect every request to HTTPS."
    )
    hsts: Hsts | None = Field(None, description="Send Strict-Transport-Security on HTTPS responses.")
    http2: bool = Field(True, description="Offer HTTP/2 (ALPN h2) besides HTTP/1.1 on the TLS listener.")
    client_ca: FilePath | None = Field(
        None,
        description="Ask clients for a certificate and verify it against the CA certificates in this PEM file "
        "(mutual TLS). A client presenting a certificate that does not verify gets 400 on both engines.",
        examples=["certs/clients-ca.pem"],
    )
    client_verify: Literal["optional", "required"] | None = Field(
        None,
        description="With client_ca (default required): required — a request without a client certificate gets "
        "400; optional — it is served, without the subject header.",
        examples=["required", "optional"],
    )
    client_subject_header: HeaderName | None = Field(
        None,
        description="With client_ca: the request header that carries the verified client certificate's subject "
        "to the backend (default X-Client-Cert-Subject), as an RFC 2253 distinguished name (CN=client,O=Example); "
        "a value the client sent in it is always removed, and the header is absent when the client sent no "
        "certificate.",
        examples=["X-Client-Cert-Subject", "X-SSL-Client-DN"],
    )

    ocsp_stapling: bool = Field(
        False,
        description="Staple an OCSP response to the handshake (TLS status_request), the same on both engines: "
        "ctlplane asks the responder each certificate names (its Authority Information Access OCSP URL) at "
        "apply and watch time, verifies the answer (signed by the issuer or a responder it delegated to, status "
        "good, for this certificate, current) and ships it in the release; the proxies never reach the "
        "responder. A response past half its validity is fetched again; when the responder cannot be reached the "
        "previous response is stapled while it is valid (with a warning), an expired one never. Every "
        "certificate must name an OCSP responder and carry its issuer after the leaf in its file.",
        examples=[True],
    )

    @model_validator(mode="after")
    def _client_settings_need_ca(self) -> Tls:
        if self.client_ca is None:
            for name in ("client_verify", "client_subject_header"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} needs client_ca (the CA that client certificates are verified against)")
        return self


class ClientCertificate(Frozen):
    """The certificate the proxy presents to servers that ask for one (PEM files)."""

    cert: FilePath = Field(description="PEM certificate chain, leaf first.")
    key: FilePath = Field(description="PEM private key; must not be readable by everyone.")


class PoolTls(Frozen):
    """TLS from the proxy to the pool's servers (HTTPS or TLS-wrapped TCP backends)."""

    verify: Literal["none"] | FilePath = Field(
        description="A PEM file of the CA certificates the servers' certificates must chain to (their name is "
        "checked against sni), or none: encrypt without verifying the servers (an on-path attacker can read the "
        "traffic).",
        examples=["certs/backend-ca.pem", "none"],
    )
    sni: HostName | None = Field(
        None,
        description="The server name sent in SNI and, with a CA in verify, the name the servers' certificates must "
        "carry (required then). Unset with verify none: no SNI is sent.",
        examples=["billing.internal"],
    )
    client_cert: ClientCertificate | None = Field(
        None, description="A client certificate presented to the servers (mutual TLS to backends)."
    )

    @model_validator(mode="after")
    def _verified_needs_name(self) -> PoolTls:
        if self.sni is not None and self.sni.startswith("*."):
            raise ValueError("sni is one server name, not a wildcard")
        if self.verify != "none" and self.sni is None:
            raise ValueError("verify with a CA needs sni: the name the servers' certificates must carry")
        return self
