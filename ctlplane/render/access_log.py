"""The access logs, one line per HTTP request on both engines, the same fields on both.

``Proxy.access_log: default`` is the combined log format (client, time,
request line, status, bytes, referer, user agent) followed by ``host=``,
``upstream=``, ``pool=``, ``upstream_time_ms=``, ``total_time_ms=`` and ``request_id="…"``; ``json`` is one
JSON object per request with ``client`` (address), ``host`` (the Host header,
lower case, without port), ``path`` (without the query string), ``status``,
``upstream`` (the server's ``addr:port``), ``pool`` (the model's name of the
pool the request was sent to, ``-`` when none), ``upstream_time_ms`` (time to the
response headers; -1 when no server answered), ``total_time_ms`` and ``request_id`` (the
X-Request-ID the backend got: the client's, else a generated one of 32 hex digits). NGINX
gets ``log_format`` lines and two ``map`` blocks turning its seconds
(``0.002``) into whole milliseconds; HAProxy gets a ``log-format`` that prints
the header values it saved in transaction variables at request time (JSON-
or quote-escaped) and logs at level ``info``, so every request is logged.
Every string here is a fixed constant: no model value is printed through this
module.
"""

from __future__ import annotations

from typing import NamedTuple

FIELDS = ("client", "host", "path", "status", "upstream", "pool", "upstream_time_ms", "total_time_ms", "request_id")
TEXT_FIELDS = ("client", "time", "request", "status", "bytes", "referer", "user_agent", "host", "upstream", "pool",
               "upstream_time_ms", "total_time_ms", "request_id")

NGINX_TEXT_NAME = "ctlplane"
NGINX_TEXT_FORMAT = (
    '$remote_addr - - [$time_local] "$request" $status $bytes_sent "$http_referer" "$http_user_agent" '
    "host=$host upstream=$upstream_addr pool=$ctl_pool_name upstream_time_ms=$ctl_upstream_ms "
    'total_time_ms=$ctl_total_ms request_id="$ctl_request_id"'
)
NGINX_FORMAT_NAME = "ctlplane_json"
NGINX_FORMAT = (
    '{"client":"$remote_addr","host":"$host","path":"$uri","status":$status,'
    '"upstream":"$upstream_addr","pool":"$ctl_pool_name","upstream_time_ms":$ctl_upstream_ms,'
    '"total_time_ms":$ctl_total_ms,"request_id":"$ctl_request_id"}'
)


class MsMap(NamedTuple):
    """``map <source> <result>``: NGINX seconds with millisecond resolution to whole milliseconds, else -1."""

    source: str
    result: str


NGINX_MS_MAPS = (MsMap("$request_time", "$ctl_total_ms"), MsMap("$upstream_header_time", "$ctl_upstream_ms"))
# Regexes of those maps: "0.000"-"0.999" (leading zeros dropped), then "S.mmm" with S >= 1.
NGINX_MS_SMALL = r'"~^0\.0*(?<ctl_ms>\d+)$"'
NGINX_MS_LARGE = r'"~^(?<ctl_s>[1-9]\d*)\.(?<ctl_ms>\d{3})$"'

# HAProxy: the header values are saved while the request is there and printed at log time.
HAPROXY_SAVE_VARS = (
    ("txn.ctl_host", "req.hdr(host),host_only"),
    ("txn.ctl_path", "path"),
    ("txn.ctl_referer", "req.fhdr(referer)"),
    ("txn.ctl_ua", "req.fhdr(user-agent)"),
)
HAPROXY_TEXT_FORMAT = (
    "'%ci - - [%trl] %{+Q}r %ST %B \"%{+E}[var(txn.ctl_referer)]\" \"%{+E}[var(txn.ctl_ua)]\" "
    "host=%[var(txn.ctl_host)] upstream=%si:%sp pool=%[var(txn.ctl_pool)] upstream_time_ms=%Tr total_time_ms=%Ta "
    "request_id=\"%{+E}[var(txn.ctl_rid)]\"'"
)
HAPROXY_FORMAT = (
    "'{\"client\":\"%ci\",\"host\":\"%[var(txn.ctl_host),json(utf8s)]\","
    "\"path\":\"%[var(txn.ctl_path),json(utf8s)]\",\"status\":%ST,\"upstream\":\"%si:%sp\","
    "\"pool\":\"%[var(txn.ctl_pool)]\","
    "\"upstream_time_ms\":%Tr,\"total_time_ms\":%Ta,"
    "\"request_id\":\"%[var(txn.ctl_rid),json(utf8s)]\"}'"
)


# The pool's name: NGINX sets $ctl_pool to the upstream a proxying location chose (a map turns it into the
# model's name; a `set` variable survives the error_page jump to @ctlplane_empty), HAProxy sets txn.ctl_pool
# when the request enters the pool's backend. Neither is set for a request no pool took.
NGINX_POOL_VAR = "ctl_pool"
NGINX_POOL_NAME_VAR = "ctl_pool_name"
HAPROXY_POOL_VAR = "txn.ctl_pool"


def haproxy_format(kind: str) -> str:
    return HAPROXY_FORMAT if kind == "json" else HAPROXY_TEXT_FORMAT
