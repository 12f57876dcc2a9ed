"""The opt-in JSON access log (``Proxy.access_log: json``), the same on both engines.

Owns the field list and each engine's way of writing it: one JSON object per
HTTP request with ``client`` (address), ``host`` (Host header), ``path``
(without the query string), ``status``, ``upstream`` (the server's
``addr:port``), ``upstream_time_ms`` (time to the response headers; -1 when
no server answered) and ``total_time_ms``. NGINX gets a ``log_format ...
escape=json`` and two ``map`` blocks turning its seconds (``0.002``) into
whole milliseconds; HAProxy gets a ``log-format`` that JSON-escapes the host
and path it saved in transaction variables at request time. Every string here
is a fixed constant: no model value is printed through this module.
"""

from __future__ import annotations

from dataclasses import dataclass

FIELDS = ("client", "host", "path", "status", "upstream", "upstream_time_ms", "total_time_ms")

NGINX_FORMAT_NAME = "ctlplane_json"
NGINX_FORMAT = (
    '{"client":"$remote_addr","host":"$host","path":"$uri","status":$status,'
    '"upstream":"$upstream_addr","upstream_time_ms":$ctl_upstream_ms,"total_time_ms":$ctl_total_ms}'
)


@dataclass(frozen=True)
class MsMap:
    """``map <source> <result>``: NGINX seconds with millisecond resolution to whole milliseconds, else -1."""

    source: str
    result: str


NGINX_MS_MAPS = (MsMap("$request_time", "$ctl_total_ms"), MsMap("$upstream_response_time", "$ctl_upstream_ms"))
# Regexes of those maps: "0.000"-"0.999" (leading zeros dropped), then "S.mmm" with S >= 1.
NGINX_MS_SMALL = r'"~^0\.0*(?<ctl_ms>\d+)$"'
NGINX_MS_LARGE = r'"~^(?<ctl_s>[1-9]\d*)\.(?<ctl_ms>\d{3})$"'

# HAProxy: the host and path are saved while the request is there, printed JSON-escaped at log time.
HAPROXY_SAVE_VARS = (
    ("txn.ctl_host", "req.hdr(host)"),
    ("txn.ctl_path", "path"),
)
HAPROXY_FORMAT = (
    "'{\"client\":\"%ci\",\"host\":\"%[var(txn.ctl_host),json(utf8s)]\","
    "\"path\":\"%[var(txn.ctl_path),json(utf8s)]\",\"status\":%ST,\"upstream\":\"%si:%sp\","
    "\"upstream_time_ms\":%Tr,\"total_time_ms\":%Ta}'"
)
