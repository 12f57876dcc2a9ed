"""The request and response headers of a service and its routes on NGINX (``model.headers``).

Request headers are ``proxy_set_header`` (``grpc_set_header``) lines: set is
the value, remove an empty value (NGINX then sends no such header), add the
client's own value (``$http_<name>``, empty when it sent none) followed by
each added value, so the server gets both lines. ``proxy_set_header`` in a
location replaces every one the server block set, so a location whose route
changes the request headers repeats ctlplane's forwarded headers with its own
list (``Location.set_headers``). Response headers are ``add_header … always``
(every status, also NGINX's own answers) in each location, beside HSTS and the
persistence cookie; set and remove also hide the backend's header
(``proxy_hide_header``, which likewise replaces the server's list in a
location: the location repeats it whole, ``Location.hide``). Literal values are
printed with ``nl``, which writes a ``$`` as ``${ctl_dollar}`` (a ``geo``
variable holding a lone dollar), so nothing a user typed is read as a
variable; ``value_from`` names one of the fixed variables of ``SOURCES``.
"""

from __future__ import annotations

from typing import NamedTuple

from ctlplane.model.headers import Op
from ctlplane.render import nginx_names as names
from ctlplane.render.backend_headers import ALWAYS_HIDDEN

_NGINX_HIDES = {"server", "date"}  # NGINX never passes these from the backend (it sets its own)
REQUEST_ID_VAR = "ctl_request_id"  # the client's X-Request-ID, else $request_id (32 hex digits); nginx_forwarding
SOURCES = {"client_ip": "remote_addr", "request_id": REQUEST_ID_VAR, "scheme": "scheme", "host": "ctl_host"}


class Header(NamedTuple):
    """``add_header NAME VALUE always;`` / ``proxy_set_header NAME VALUE;``: name a HeaderName (through
    ``nq``); value literal text (through ``nl``) or a fixed variable name (printed after '$')."""

    name: str
    text: str | None = None
    var: str | None = None


def hidden(headers: list[str]) -> tuple[str, ...]:
    """The always-hidden headers, then the given ones, each once (case-insensitively), without those NGINX
    already replaces."""
    every = [*ALWAYS_HIDDEN, *headers]
    kept = {h.lower(): h for h in reversed(every) if h.lower() not in _NGINX_HIDES}
    return tuple(dict.fromkeys(kept[h.lower()] for h in every if h.lower() in kept))


def _value(op: Op) -> Header:
    if op.source is not None:
        return Header(op.name, var=SOURCES[op.source])
    return Header(op.name, text=op.value)


def request_headers(ops: tuple[Op, ...]) -> tuple[Header, ...]:
    """The ``proxy_set_header`` lines of the effective request operations."""
    out: list[Header] = []
    kept: set[str] = set()
    for op in ops:
        if op.op == "remove":
            out.append(Header(op.name, text=""))
        elif op.op == "set":
            out.append(_value(op))
        else:
            if op.name.lower() not in kept:  # the client's own line first, once
                kept.add(op.name.lower())
                out.append(Header(op.name, var=names.header_var(op.name)))
            out.append(_value(op))
    return tuple(out)


def response_headers(ops: tuple[Op, ...]) -> tuple[tuple[Header, ...], tuple[str, ...]]:
    """The ``add_header`` lines of the effective response operations, and the backend headers they hide."""
    adds = tuple(_value(op) for op in ops if op.op != "remove")
    hides = tuple(op.name for op in ops if op.op in ("set", "remove"))
    return adds, hides
