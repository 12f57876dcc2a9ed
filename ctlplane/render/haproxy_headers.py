"""The request id and the model's request and response headers on HAProxy (``model.headers``).

Every HTTP request gets ``txn.ctl_rid``: the client's first X-Request-ID,
else a generated one (a UUID without its dashes: 32 hex digits, as NGINX's
``$request_id``); it is sent to the server as X-Request-ID and logged.
Request headers are ``http-request set-header / add-header / del-header``,
response headers ``http-after-response`` ones, which HAProxy runs on every
answer, its own (403, 404, 429, 503...) included, as NGINX's ``add_header …
always``. When a route has headers of its own, the frontend first marks which
route the request takes (``txn.ctl_route``, the service's one route pick:
``haproxy_actions.route_picks``) before any rule can answer; each such route's
effective list (``model.headers.effective``) applies ``if`` its mark, the
service's ``unless`` one of them. Behind ``redirect_http_port`` response
headers apply on TLS only (NGINX's redirect server has no location and adds
none). Literal values are printed with ``hf`` (``%`` doubled, never a
sample); ``value_from`` picks one of the fixed expressions of ``SOURCES``
(the Host header is saved at request time: the request is gone when the
answer comes).
"""

from __future__ import annotations

from typing import NamedTuple

from ctlplane.model.headers import Op, effective
from ctlplane.model.service import HttpService

REQUEST_ID_VAR = "txn.ctl_rid"
REQUEST_ID_RULES = (("req.fhdr(x-request-id,1)", ""),
                    ("uuid,regsub(-,,g)", "unless { var(txn.ctl_rid) -m len 1: }"))
HOST_VAR = "txn.ctl_host_in"
SOURCES = {"client_ip": "%[src]", "request_id": f"%[var({REQUEST_ID_VAR})]", "scheme": "%[ssl_fc,iif(https,http)]",
           "host": f"%[var({HOST_VAR})]"}
_ACTIONS = {"set": "set-header", "add": "add-header", "remove": "del-header"}


class HeaderRule(NamedTuple):
    """``<phase> <action> <name> [<value>] [<cond>]``: phase, action, expr and cond are fixed strings chosen
    here; name is a HeaderName (printed with ``hq``), literal a model value (printed with ``hf``)."""

    phase: str  # http-request | http-after-response
    action: str  # set-header | add-header | del-header
    name: str
    literal: str | None
    expr: str | None
    cond: str


def has_route_headers(svc: HttpService) -> bool:
    """Some route has headers of its own: its rules read the service's route pick (haproxy_actions.route_picks)."""
    return any(r.headers.request.names() or r.headers.response.names() for r in svc.routes)


class HeaderRules(NamedTuple):
    saves: tuple[tuple[str, str], ...]  # (variable, fetch) saved at request time for the response rules
    request: tuple[HeaderRule, ...]
    response: tuple[HeaderRule, ...]


def _rule(phase: str, op: Op, cond: str) -> HeaderRule:
    expr = SOURCES[op.source] if op.source is not None else None
    return HeaderRule(phase, _ACTIONS[op.op], op.name, op.value, expr, cond)


def _cond(mark: str, tls_only: bool) -> str:
    terms = ([mark] if mark else []) + (["{ ssl_fc }"] if tls_only else [])
    return "if " + " ".join(terms) if terms else ""


def _side(svc: HttpService, side: str, phase: str, tls_only: bool) -> tuple[HeaderRule, ...]:
    service_ops = getattr(svc.headers, side)
    own = [(j, getattr(r.headers, side)) for j, r in enumerate(svc.routes) if getattr(r.headers, side).names()]
    rules: list[HeaderRule] = []
    for j, ops in own:
        mark = f"{{ var(txn.ctl_route) -m int {j} }}"
        rules += [_rule(phase, op, _cond(mark, tls_only)) for op in effective(service_ops, ops)]
    others = f"!{{ var(txn.ctl_route) -m int {' '.join(str(j) for j, _ in own)} }}" if own else ""
    return tuple(_rule(phase, op, _cond(others, tls_only)) for op in effective(service_ops, None)) + tuple(rules)


def header_rules(svc: HttpService) -> HeaderRules:
    """The header rules of one service; a route's read the service's route pick (``txn.ctl_route``)."""
    tls_only = bool(svc.tls and svc.tls.redirect_http_port)
    response = _side(svc, "response", "http-after-response", tls_only)
    request = _side(svc, "request", "http-request", False)
    uses_host = any(r.expr == SOURCES["host"] for r in (*request, *response))
    return HeaderRules(((HOST_VAR, "req.hdr(host)"),) if uses_host else (), request, response)
