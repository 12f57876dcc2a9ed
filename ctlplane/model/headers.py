"""Request and response headers a service or a route sets, adds and removes.

``headers: {request: {set, add, remove}, response: {set, add, remove}}`` on an
HTTP service and on a route. A value is either a literal (``value``: printable
ASCII, no leading or trailing space; ``$`` and ``%`` reach the client as
typed on both engines) or one of a few values the proxy knows (``value_from``:
the client address, the request id, the scheme, the Host header). Headers the
engines frame or ctlplane manages itself (Host, Content-Length, the
hop-by-hop headers, X-Forwarded-*, X-Real-IP, X-Request-ID on requests,
Server and Date on responses...) are refused, so that what a header ends up as
never depends on the order of two writers. :func:`effective` merges a route's
entries over its service's: an entry of the route for a header name replaces
every entry of the service for that name, in that direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ctlplane.model.types import Frozen, HeaderName, shared_default

HeaderText = Annotated[
    str,
    Field(
        pattern=r"^[!-~](?:[ -~]{0,254}[!-~])?$",
        description="A literal header value: printable ASCII (space allowed inside), at most 256 characters, "
        "no leading or trailing space. Sent exactly as typed on both engines ('$', '%', quotes and backslashes "
        "included): it is never read as a variable.",
        examples=["production", "max-age=60, public"],
    ),
]

Source = Literal["client_ip", "request_id", "scheme", "host"]

# Refused everywhere: the engines frame messages with these, or they belong to one hop.
FRAMING = frozenset({"connection", "content-length", "keep-alive", "proxy-connection", "te", "trailer",
                     "transfer-encoding", "upgrade"})
# Refused on requests: ctlplane sets them (routing, forwarded headers, the request id) or the engine needs them.
REQUEST_MANAGED = frozenset({"host", "expect", "x-forwarded-for", "x-forwarded-host", "x-forwarded-port",
                             "x-forwarded-proto", "x-real-ip", "x-request-id"})
# Refused on responses: the engines write them on their own answers (and NGINX cannot replace them).
RESPONSE_MANAGED = frozenset({"content-encoding", "content-type", "date", "server"})


class HeaderEntry(Frozen):
    """One header to set or add: its name and either a literal ``value`` or ``value_from``."""

    name: HeaderName
    value: HeaderText | None = Field(None, description="The literal value.", examples=["production"])
    value_from: Source | None = Field(
        None,
        description="A value the proxy knows instead of a literal: client_ip (the client's address, the one "
        "access lists and X-Real-IP use), request_id (this request's X-Request-ID, the client's or generated), "
        "scheme (http or https) or host (the Host header as the client sent it).",
        examples=["client_ip", "request_id"],
    )

    @model_validator(mode="after")
    def _one_value(self) -> HeaderEntry:
        if (self.value is None) == (self.value_from is None):
            raise ValueError("give exactly one of value (a literal) or value_from")
        return self


class HeaderOps(Frozen):
    """What to do to the headers in one direction. A name appears in at most one of set, add and remove; set
    names it once; add may repeat it (each entry is one more header line)."""

    set: list[HeaderEntry] = Field(
        default_factory=list, description="Headers replaced by this value (any the message had are dropped).",
        examples=[[{"name": "X-Env", "value": "production"}]],
    )
    add: list[HeaderEntry] = Field(
        default_factory=list, description="Header lines added after any the message already has.",
        examples=[[{"name": "X-Client-IP", "value_from": "client_ip"}]],
    )
    remove: list[HeaderName] = Field(
        default_factory=list, description="Headers removed.", examples=[["X-Internal-Token"]],
    )

    def names(self) -> frozenset[str]:
        """Every header name this touches, lower case."""
        return frozenset({e.name.lower() for e in (*self.set, *self.add)} | {n.lower() for n in self.remove})

    @model_validator(mode="after")
    def _one_operation_per_name(self) -> HeaderOps:
        seen: dict[str, str] = {}
        for op, names in (("set", [e.name for e in self.set]), ("add", [e.name for e in self.add]),
                          ("remove", list(self.remove))):
            for name in names:
                before = seen.get(name.lower())
                if before is not None and not (before == op == "add"):
                    raise ValueError(f"header {name!r} is in {before} and {op}: one operation per header name")
                seen[name.lower()] = op
        return self


class Headers(Frozen):
    """Request headers (towards the servers) and response headers (towards the client) to set, add and
    remove. Response headers apply to every answer of the service, also the proxy's own (403, 404, 429,
    502, 503, 504). A route's entry for a header name replaces the service's entries for that name."""

    request: HeaderOps = Field(
        default_factory=shared_default(HeaderOps), description="Headers of the request sent to the servers.",
        examples=[{"set": [{"name": "X-Client-IP", "value_from": "client_ip"}], "remove": ["X-Internal-Token"]}],
    )
    response: HeaderOps = Field(
        default_factory=shared_default(HeaderOps), description="Headers of the answer sent to the client.",
        examples=[{"set": [{"name": "X-Frame-Options", "value": "DENY"}],
                   "add": [{"name": "X-Request-ID", "value_from": "request_id"}]}],
    )

    @model_validator(mode="after")
    def _not_managed(self) -> Headers:
        for side, ops, managed in (("request", self.request, REQUEST_MANAGED),
                                   ("response", self.response, RESPONSE_MANAGED)):
            for name in sorted(ops.names()):
                if name in FRAMING or name in managed:
                    raise ValueError(f"{side} header {name!r} is managed by the proxy (framing, hop-by-hop or set "
                                     "by ctlplane): choose another header")
        for op, names in (("set", [e.name for e in self.response.set]), ("remove", list(self.response.remove))):
            for name in names:
                if name.lower() == "set-cookie":
                    raise ValueError(f"response.{op} of Set-Cookie would touch the persistence cookie: use add")
        return self


@dataclass(frozen=True)
class Op:
    """One effective operation: ``set`` / ``add`` (with a literal or a source) or ``remove``."""

    op: str
    name: str
    value: str | None = None
    source: str | None = None


def _ops(ops: HeaderOps) -> tuple[Op, ...]:
    if not (ops.remove or ops.set or ops.add):
        return ()  # most services and routes: asked a few times each, for every service
    return (*(Op("remove", n) for n in ops.remove), *(Op("set", e.name, e.value, e.value_from) for e in ops.set),
            *(Op("add", e.name, e.value, e.value_from) for e in ops.add))


def effective(service: HeaderOps, route: HeaderOps | None) -> tuple[Op, ...]:
    """The service's operations on the names the route leaves alone, then the route's."""
    if route is None:
        return _ops(service)
    mine = route.names()
    return tuple(o for o in _ops(service) if o.name.lower() not in mine) + _ops(route)
