"""The group models of request and response headers (issue 13 item 5), merged into ``groups.GROUPS`` through
``groups_day2``. ``hops`` sets, adds and removes headers on the service and overrides them on routes (``/api/``
on another backend, ``/lit/`` with hostile literal values); ``hdeny`` refuses every client (the proxy's own 403
carries the response headers); ``hopss`` is HTTPS (the scheme); ``hbyhdr`` gives a header route headers of its
own (NGINX refuses it)."""

from __future__ import annotations

from integration.parity.groups import Book, Group, http, pool
from integration.parity.scenarios_headers import HOSTILE
_SET = [{"name": "X-Env", "value": "prod"}, {"name": "X-Client-IP", "value_from": "client_ip"},
        {"name": "X-Scheme", "value_from": "scheme"}]
_RESPONSE = {"set": [{"name": "X-Frame-Options", "value": "DENY"}],
             "add": [{"name": "X-Request-ID", "value_from": "request_id"}], "remove": ["X-Debug"]}


def header_ops(b: Book) -> Group:
    cert = [{"cert": "certs/www.example.com.crt", "key": "certs/www.example.com.key"}]
    headers = {"request": {"set": _SET, "add": [{"name": "X-Via", "value": "ctlplane"}], "remove": ["X-Secret"]},
               "response": _RESPONSE}
    routes = [
        {"path_prefix": "/api/", "pool": "api",
         "headers": {"request": {"set": [{"name": "X-Env", "value": "api"}]},
                     "response": {"set": [{"name": "Cache-Control", "value": "no-store"}],
                                  "remove": ["X-Frame-Options"]}}},
        {"path_prefix": "/lit/", "pool": "app",
         "headers": {"request": {"set": [{"name": "X-Lit", "value": HOSTILE}]},
                     "response": {"set": [{"name": "X-Lit", "value": HOSTILE}]}}},
    ]
    return {"pools": [pool(b, "app", ["a"]), pool(b, "api", ["b"])],
            "services": [http("hops", 230, default_pool="app", headers=headers, routes=routes),
                         http("hdeny", 231, default_pool="app", access={"allow": ["192.0.2.0/24"]},
                              headers={"response": _RESPONSE}),
                         {**http("hopss", 8446, default_pool="app", headers={
                             "request": {"set": _SET},
                             "response": {"add": [{"name": "X-Scheme", "value_from": "scheme"},
                                                  {"name": "X-Host", "value_from": "host"}]}}),
                          "tls": {"certificates": cert}}]}


def header_by_header(b: Book) -> Group:
    """A route matching on a request header, with response headers of its own."""
    return {"pools": [pool(b, "app", ["a"])],
            "services": [http("hbyhdr", 232, default_pool="app", routes=[
                {"header": {"name": "X-Tier", "value": "gold"}, "pool": "app",
                 "headers": {"response": {"set": [{"name": "X-Tier-Seen", "value": "gold"}]}}}])]}
