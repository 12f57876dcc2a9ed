"""Authentication of HTTP requests: basic auth from an htpasswd file and an
optional sub-request to an external authorization service.

``HttpService.auth`` protects every request of the service; ``Route.auth``
protects the requests one route serves and replaces the service's for them
(``effective_auth``). The htpasswd file holds hashed entries only (which
hashes: ``ctlplane.model.htpasswd``); it is read, checked and watched like a
certificate (``model/assets.py``) and rendered into each release, never
referenced in place. A realm is a strict printable token (no quote,
backslash or ``$``; not ``off``, which NGINX would read as "no
authentication"), the same ``WWW-Authenticate: Basic realm="..."`` on both
engines. The Authorization header is removed before the request reaches the
backend unless ``forward_authorization`` says otherwise; answers to requests
carrying Authorization are never cached (``Cache``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from ctlplane.model.types import FilePath, Frozen, Name, PathPrefix


def _not_off(value: str) -> str:
    if value.lower() == "off":
        raise ValueError("realm 'off' would turn NGINX's authentication off: choose another name")
    return value


Realm = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9 ._,:/@()+-]{0,62}[A-Za-z0-9._)])?$",
        description="The realm a browser shows when asking for credentials: letters, digits, spaces and "
        ". _ , : / @ ( ) + - (at most 64; no quote, backslash or '$'; not 'off').",
        examples=["Restricted", "Admin area"],
    ),
    AfterValidator(_not_off),
]


DEFAULT_REALM = "Restricted"


class AuthRequest(Frozen):
    """Ask an external service whether a request may pass (NGINX ``auth_request``): the proxy sends it the
    request's headers (without the body, with X-Original-URI and X-Original-Method) and lets the request through
    when it answers 2xx; 401 and 403 are passed to the client (with the service's WWW-Authenticate), any other
    answer is a 500. NGINX only: HAProxy cannot make a sub-request without Lua."""

    pool: Name = Field(description="The pool of the authorization service (plain HTTP, protocol http).")
    path: PathPrefix = Field("/", description="The path asked on that service.", examples=["/auth", "/check"])


class Auth(Frozen):
    """Who may send requests: users of an htpasswd file (basic auth), an external authorization service, or
    both (then both must agree)."""

    htpasswd: FilePath | None = Field(
        None,
        description="An htpasswd file (absolute, or relative to the model file) of 'user:hash' lines; hashes only: "
        "sha512-crypt ($6$), sha256-crypt ($5$), bcrypt ($2b$, $2y$) or yescrypt ($y$). Plaintext, DES, MD5 "
        "($1$, $apr1$) and {SHA} are refused.",
        examples=["auth/users.htpasswd", "/etc/ctlplane/admins.htpasswd"],
    )
    realm: Realm | None = Field(
        None, description="The basic-auth realm (WWW-Authenticate: Basic realm=...); 'Restricted' if unset. Only "
        "with htpasswd (an authorization service sends its own WWW-Authenticate).", examples=["Admin area"])
    request: AuthRequest | None = Field(None, description="An external authorization service (NGINX only).")
    forward_authorization: bool = Field(
        False,
        description="Pass the client's Authorization header on to the backend (by default it is removed: the "
        "backend never sees the credentials).",
        examples=[True],
    )

    @model_validator(mode="after")
    def _something_to_check(self) -> Auth:
        if self.htpasswd is None and self.request is None:
            raise ValueError("auth needs htpasswd, request or both")
        if self.htpasswd is None and self.realm is not None:
            raise ValueError("realm needs htpasswd (the authorization service sends its own WWW-Authenticate)")
        return self

    @property
    def basic_realm(self) -> str:
        """The realm basic auth answers with."""
        return self.realm or DEFAULT_REALM


class AdminAuth(Frozen):
    """Basic auth of an internal listener (admin stats, metrics) from an htpasswd file. /healthz stays open
    (keepalived and ctlplane status use it), and the admin stats stay open to loopback clients (ctlplane status
    reads NGINX's /status there)."""

    htpasswd: FilePath = Field(description="An htpasswd file of 'user:hash' lines (the same hashes as Auth).",
                               examples=["auth/ops.htpasswd"])
    realm: Realm = Field(DEFAULT_REALM, description="The basic-auth realm.")
