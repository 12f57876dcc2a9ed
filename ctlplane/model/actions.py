"""What a route does instead of, or on the way to, its pool: redirect, respond, rewrite.

A route either proxies to a ``pool`` (optionally with its path ``rewrite``-n
first: the route's prefix stripped or replaced), or answers by itself: a
``redirect`` (301/302/307/308 to another host and/or path, the query kept by
default) or a ``respond`` (a status with a short literal body). Every value is
typed (host names, path prefixes, a bounded literal text): no regular
expression is ever taken from the model. A redirect's Location is relative
(a path and query) unless it names a host; then it is absolute, on the
scheme the request came in on. These answers are given after the client
address, a client certificate and the request body limit are judged, and
before limits and access lists, as the HTTPS redirect (NGINX's rewrite phase
comes before its access phases; HAProxy renders the same order).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ctlplane.model.types import Frozen, HostName, MimeType, PathPrefix, ResponseText

# Statuses NGINX gives a meaning of its own (444 closes the connection, 494-499 are its internal codes), and
# statuses that carry no body.
_NGINX_SPECIAL = {444, 494, 495, 496, 497, 498, 499}
_NO_BODY = {204, 205, 304}


class Redirect(Frozen):
    """Answer with a redirect. The Location keeps the request's path unless to_path or to_path_prefix changes
    it, and its query string unless keep_query is false; it is absolute (on the request's scheme) when to_host
    is set, else relative."""

    to_host: HostName | None = Field(
        None, description="Send the client to this host (an absolute Location on the scheme the request came in "
        "on, the default port); the request's host if unset (a relative Location).",
        examples=["www.example.com"],
    )
    to_path: PathPrefix | None = Field(
        None, description="Send every request of the route to exactly this path.", examples=["/maintenance"],
    )
    to_path_prefix: PathPrefix | None = Field(
        None, description="Replace the route's path_prefix by this prefix, keeping the rest of the path "
        "(/old/a/b -> /new/a/b).", examples=["/new/"],
    )
    status: Literal[301, 302, 307, 308] = Field(
        301, description="301/308 permanent, 302/307 temporary; 307 and 308 keep the method and body.",
        examples=[308],
    )
    keep_query: bool = Field(True, description="Keep the query string (?a=1) of the request.")

    @model_validator(mode="after")
    def _goes_somewhere(self) -> Redirect:
        if self.to_host is not None and self.to_host.startswith("*."):
            raise ValueError("to_host is one host name, not a wildcard")
        if self.to_path is not None and self.to_path_prefix is not None:
            raise ValueError("set to_path (one path) or to_path_prefix (a prefix replaced), not both")
        if self.to_host is None and self.to_path is None and self.to_path_prefix is None:
            raise ValueError("a redirect needs to_host, to_path or to_path_prefix")
        return self


class Rewrite(Frozen):
    """Change the path before the request is proxied (the client never sees it; the query string is kept)."""

    strip_prefix: bool = Field(
        False, description="Remove the route's path_prefix: /api/v1/x -> /x (a '/' is put in front of what "
        "remains, one of its leading slashes dropped: /api/v1 -> /).", examples=[True],
    )
    replace_prefix: PathPrefix | None = Field(
        None, description="Replace the route's path_prefix by this prefix: /old/x -> /new/x.", examples=["/new/"],
    )

    @model_validator(mode="after")
    def _one_way(self) -> Rewrite:
        if self.strip_prefix == (self.replace_prefix is not None):
            raise ValueError("set exactly one of strip_prefix: true and replace_prefix")
        return self


class Respond(Frozen):
    """Answer with a status and a short literal body (a maintenance page, a health answer), without a pool."""

    status: int = Field(
        ge=200, le=599, description="200-299 or 400-599 (not 204, 205: no body; not 444 or 494-499: NGINX's own); "
        "a redirect is a redirect.", examples=[503, 200],
    )
    body: ResponseText = Field(description="The body, sent as is.", examples=["ok"])
    content_type: MimeType = Field("text/plain", description="The Content-Type of the answer.",
                                   examples=["text/plain", "application/json"])

    @model_validator(mode="after")
    def _status_with_body(self) -> Respond:
        if 300 <= self.status < 400:
            raise ValueError("a 3xx answer is a redirect: use redirect instead of respond")
        if self.status in _NO_BODY:
            raise ValueError(f"status {self.status} carries no body")
        if self.status in _NGINX_SPECIAL:
            raise ValueError(f"status {self.status} has a meaning of its own in NGINX: use another status")
        return self


def check_route_action(path_prefix: str, host: str | None, pool: str | None, redirect: Redirect | None,
                       respond: Respond | None, rewrite: Rewrite | None) -> None:
    """A route proxies to a pool, redirects or responds: exactly one; a rewrite goes with a pool; no redirect
    to the very request it answers (a loop)."""
    given = [n for n, v in (("pool", pool), ("redirect", redirect), ("respond", respond)) if v is not None]
    if len(given) != 1:
        raise ValueError("a route needs exactly one of pool, redirect and respond" +
                         (f" (has {', '.join(given)})" if given else ""))
    if rewrite is not None and pool is None:
        raise ValueError("rewrite changes the path sent to a pool: it needs pool")
    if rewrite is not None and rewrite.strip_prefix and path_prefix == "/":
        raise ValueError("strip_prefix with path_prefix '/' changes nothing: set a longer path_prefix")
    if redirect is not None and redirect.to_host in (None, host) and redirect.to_path is None \
            and redirect.to_path_prefix in (None, path_prefix):
        raise ValueError("this redirect sends the client back to the same address (a loop): change to_host or the "
                         "path")
