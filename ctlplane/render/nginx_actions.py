"""NGINX's side of the route actions (``model/actions.py``): redirect, respond and rewrite in a location.

Every model string is printed through ``nq`` (``set $ctl_to_host "…"``); the
``return`` values and ``rewrite`` replacements are fixed strings chosen here,
joining those variables with NGINX's own (``$scheme``) and the captures of
a regex on the raw request line (``$request_uri``), never ``$uri``, which is
decoded and would let ``%0d%0a`` into a header. The one regex holding model
text is the route's prefix, every non-alphanumeric character escaped.

* redirect: ``absolute_redirect off`` keeps a relative Location relative; the
  rest of the path and the query string (``?`` included, as HAProxy's
  ``pathq``) are captured from ``$request_uri``, the rest's leading ``/`` and
  ``\\`` left out after a new prefix ending in ``/`` (``//evil.com`` would be
  another host to a browser). A request whose raw path does
  not start with the prefix (NGINX matched it after decoding or merging
  slashes) goes to the new prefix itself.
* respond: ``return <status> "<body>"`` with ``types {}`` and ``default_type``
  (the Content-Type of the model whatever the path's extension) and gzip off
  (HAProxy does not compress its own answers).
* rewrite: ``rewrite <regex> <replacement> break`` after the other rewrite
  directives of the location (``break`` ends them), on the decoded and
  normalized path, which NGINX re-encodes when it proxies.
"""

from __future__ import annotations

from typing import NamedTuple

from ctlplane.model.actions import Redirect, Respond, Rewrite

_REST = "(?<ctl_rest>[^?]*)"
# the leading '/' and '\' of the rest, outside the capture, when the new prefix ends in '/' (as HAProxy's
# regsub in haproxy_actions): '/old//evil.com' to '/' is '/evil.com', never the other host '//evil.com'
SLASHES = r"[/\\]*"
_QUERY = "(?<ctl_query>.*)"


class NginxRedirect(NamedTuple):
    status: int
    host: str | None  # set $ctl_to_host (nq)
    path: str | None  # set $ctl_to_path (nq): the new prefix or the exact path
    match: str | None  # regex on $request_uri (nq), capturing $ctl_rest and/or $ctl_query; None: no capture
    location: str  # fixed: the Location when ``match`` matches (or always, without ``match``)
    fallback: str  # fixed: the Location when it does not


class NginxRespond(NamedTuple):
    status: int
    body: str  # nq
    content_type: str  # nq


class NginxRewrite(NamedTuple):
    regex: str  # nq
    prefix: str | None  # set $ctl_rw_prefix (nq); None: strip
    replacement: str  # fixed


def regex_literal(text: str) -> str:
    """``text`` as a PCRE literal: every character but ASCII letters and digits escaped with a backslash."""
    return "".join(c if c.isascii() and c.isalnum() else "\\" + c for c in text)


def redirect(route_prefix: str, r: Redirect) -> NginxRedirect:
    lead = "$scheme://$ctl_to_host" if r.to_host else ""
    query = "$ctl_query" if r.keep_query else ""
    if r.to_path is not None:
        match = "^[^?]*" + _QUERY if r.keep_query else None
        where = lead + "$ctl_to_path" + query
        return NginxRedirect(r.status, r.to_host, r.to_path, match, where, where)
    if r.to_path_prefix is not None:
        match = "^" + regex_literal(route_prefix) + _slashes(r.to_path_prefix) + _REST + _QUERY
        return NginxRedirect(r.status, r.to_host, r.to_path_prefix, match, lead + "$ctl_to_path$ctl_rest" + query,
                             lead + "$ctl_to_path")
    return NginxRedirect(r.status, r.to_host, None, "^" + _REST + _QUERY, lead + "$ctl_rest" + query, lead + "/")


def _slashes(new_prefix: str) -> str:
    """Leading slashes and backslashes of the rest are dropped after a new prefix ending in '/'."""
    return SLASHES if new_prefix.endswith("/") else ""


def respond(r: Respond) -> NginxRespond:
    return NginxRespond(r.status, r.body, r.content_type)


def rewrite(route_prefix: str, r: Rewrite) -> NginxRewrite:
    """Strip: the prefix and the slashes and backslashes after it go, a slash is put in front; replace: the
    prefix is swapped (the same slashes dropped after a new prefix ending in '/'). ``(?s)``: '.' also matches a
    decoded line break, so nothing after one is lost."""
    head = "(?s)^" + regex_literal(route_prefix)
    if r.strip_prefix:
        return NginxRewrite(head + SLASHES + "(.*)", None, "/$1")
    assert r.replace_prefix is not None
    return NginxRewrite(head + _slashes(r.replace_prefix) + "(.*)", r.replace_prefix, "$ctl_rw_prefix$1")
