"""Parity scenarios of request and response headers and the request id (issue 13 item 5; the table is
``table.SCENARIOS``)."""

from __future__ import annotations

from integration.parity.scenario import S, Scenario, _req

# Every character NGINX or HAProxy could read as syntax: variables, samples, quotes, escapes, comments.
HOSTILE = "$host ${x} %[src] %% 100% 'single' \"double\" back\\slash #hash ;semi {brace} $"

H = "Headers"
OPS = ("HttpService.headers", "Headers.request", "Headers.response", "HeaderOps.set", "HeaderOps.add",
       "HeaderOps.remove", "HeaderEntry.name", "HeaderEntry.value")
SEEN = ["status", "server", "seen:x-env", "seen:x-via", "seen:x-secret", "seen:x-client-ip", "seen:x-scheme"]
ANSWER = ["status", "res:x-frame-options", "res:x-debug", "res:cache-control", "seen:x-env"]

SCENARIOS_HEADERS: tuple[Scenario, ...] = (
    S("headers-request", H, "request headers: set (a literal, the client's address, the scheme) replaces what the "
      "client sent, add keeps the client's line and adds one, remove drops it", "header_ops", "requests",
      {"port": 230, "requests": [_req(headers={"X-Env": "dev", "X-Via": "client", "X-Secret": "s"}), _req()],
       "show": SEEN},
      [{"status": 200, "server": "a", "seen:x-env": "prod", "seen:x-via": "client, ctlplane", "seen:x-secret": None,
        "seen:x-client-ip": "{c1}", "seen:x-scheme": "http"},
       {"status": 200, "server": "a", "seen:x-env": "prod", "seen:x-via": "ctlplane", "seen:x-secret": None,
        "seen:x-client-ip": "{c1}", "seen:x-scheme": "http"}], (*OPS, "HeaderEntry.value_from")),
    S("headers-response", H, "response headers: set replaces the server's header, remove drops one the server "
      "sent", "header_ops", "requests",
      {"port": 230, "requests": [_req("/?set=X-Frame-Options:SAMEORIGIN&set=X-Debug:1")], "show": ANSWER},
      [{"status": 200, "res:x-frame-options": "DENY", "res:x-debug": None, "res:cache-control": None,
        "seen:x-env": "prod"}], OPS),
    S("headers-route", H, "a route's entry for a header name replaces the service's (request and response); the "
      "service's other entries still apply", "header_ops", "requests",
      {"port": 230, "requests": [_req("/api/x?set=X-Frame-Options:SAMEORIGIN&set=X-Debug:1")],
       "show": [*ANSWER, "server", "seen:x-via"]},
      [{"status": 200, "server": "b", "res:x-frame-options": None, "res:x-debug": None,
        "res:cache-control": "no-store", "seen:x-env": "api", "seen:x-via": "ctlplane"}], ("Route.headers",)),
    S("headers-literal", H, "a literal value with '$', '%', quotes, backslashes, '#', ';' and braces reaches the "
      "server and the client byte for byte (never read as a variable or a sample)", "header_ops", "requests",
      {"port": 230, "requests": [_req("/lit/")], "show": ["status", "seen:x-lit", "res:x-lit"]},
      [{"status": 200, "seen:x-lit": HOSTILE, "res:x-lit": HOSTILE}], ("HeaderEntry.value",)),
    S("headers-own-answer", H, "response headers are on the proxy's own answers too (a 403 of the access list)",
      "header_ops", "requests",
      {"port": 231, "requests": [_req()], "show": ["status", "res:x-frame-options", "has:x-request-id"]},
      [{"status": 403, "res:x-frame-options": "DENY", "has:x-request-id": True}], ("Headers.response",)),
    S("headers-https", H, "value_from scheme and host over HTTPS: https, and the Host header as sent",
      "header_ops", "requests",
      {"port": 8446, "requests": [_req(tls=True, headers={"Host": "www.example.com:8446"})],
       "show": ["status", "seen:x-scheme", "res:x-scheme", "res:x-host"]},
      [{"status": 200, "seen:x-scheme": "https", "res:x-scheme": "https", "res:x-host": "www.example.com:8446"}],
      ("HeaderEntry.value_from",)),
    S("request-id", H, "X-Request-ID: generated (32 hex digits) when the client sent none, kept when it sent one; "
      "the server gets it and value_from request_id puts the same in the answer", "header_ops", "request_id",
      {"port": 230, "sent": "client-id-42"},
      {"generated_hex32": True, "answer_has_it": True, "kept_seen": "client-id-42", "kept_answer": "client-id-42"},
      ("HeaderEntry.value_from",)),
    S("request-id-log", H, "the access log names the request id the server got (text: request_id=\"…\")", "logs",
      "request_id_log", {"port": 200, "kind": "text", "sent": "client-id-43"},
      {"generated_logged": True, "kept_logged": True}, ("Proxy.access_log",)),
    S("request-id-log-json", H, "the json access log names the request id the server got (\"request_id\")",
      "logs_json", "request_id_log", {"port": 201, "kind": "json", "sent": "client-id-44"},
      {"generated_logged": True, "kept_logged": True}, ("Proxy.access_log",)),
    S("headers-header-route", H, "a route matching on a request header with headers of its own: they apply when "
      "the header matches", "header_by_header", "requests",
      {"port": 232, "requests": [_req(headers={"X-Tier": "gold"}), _req()], "show": ["status", "res:x-tier-seen"]},
      [{"status": 200, "res:x-tier-seen": "gold"}, {"status": 200, "res:x-tier-seen": None}], ("Route.headers",),
      refused={"nginx": "NGINX sets request and response headers per host and path, not per header"}),
)
