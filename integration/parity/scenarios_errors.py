"""Parity scenarios of custom error pages (issue 13 item 8; the table is ``table.SCENARIOS``)."""

from __future__ import annotations

from typing import Any

from integration.parity.scenario import S, Scenario, _req

E = "Error pages"
PAGES = ("HttpService.error_pages", "ErrorPage.status", "ErrorPage.file")
INTERCEPT = (*PAGES, "HttpService.intercept_errors")


def page(status: int, name: str) -> dict[str, Any]:
    return {"status": status, "page": name, "type": "text/html", "cache": "no-store"}


HDR = ["status", "res:content-type", "res:cache-control", "res:x-frame-options", "res:x-route", "res:x-request-id"]
BACKEND_500 = {"status": 500, "page": "backend", "type": "application/json", "cache": None}

SCENARIOS_ERRORS: tuple[Scenario, ...] = (
    S("errors-404", E, "a request no route takes gets the service's 404 page (text/html, no-store), status 404",
      "errors", "error_page", {"port": 230, "requests": [_req("/nothing")]}, [page(404, "4xx")], PAGES),
    S("errors-502", E, "a server refusing connections: the 5xx page with status 502", "errors", "error_page",
      {"port": 230, "requests": [_req("/dead/x")]}, [page(502, "5xx")], PAGES),
    S("errors-504", E, "a server slower than timeouts.server: the 5xx page with status 504", "errors",
      "error_page", {"port": 230, "requests": [_req("/slow/x?sleep_ms=3000")]}, [page(504, "5xx")],
      (*PAGES, "Timeouts.server")),
    S("errors-413", E, "a body over max_body_size: the 4xx page with status 413", "errors", "error_page",
      {"port": 230, "requests": [_req("/app/upload", method="POST", body=4096)]}, [page(413, "4xx")],
      (*PAGES, "HttpService.max_body_size")),
    S("errors-403", E, "a client an access list denies: the 4xx page with status 403", "errors", "error_page",
      {"port": 230, "requests": [_req("/app/x")], "client": "c2"}, [page(403, "4xx")], (*PAGES, "Access.deny")),
    S("errors-429", E, "a client over its rate limit: the 4xx page with status 429 (the answer before it is the "
      "backend's)", "errors", "error_page", {"port": 232, "requests": [_req("/a"), _req("/b")]},
      [{"status": 200, "page": "backend", "type": "application/json", "cache": None}, page(429, "4xx")],
      (*PAGES, "Limits.requests_per_second")),
    S("errors-intercept-500", E, "intercept_errors: a backend answering 500 (its body, say a stack trace, never "
      "reaches the client) is answered with the 5xx page, status 500", "errors", "error_page",
      {"_control": ["a:fail?status=500"], "port": 230, "requests": [_req("/app/x")]}, [page(500, "5xx")],
      INTERCEPT),
    S("errors-intercept-503", E, "intercept_errors: a backend's 503 is answered with the 5xx page, status 503",
      "errors", "error_page", {"_control": ["a:fail?status=503"], "port": 230, "requests": [_req("/app/x")]},
      [page(503, "5xx")], INTERCEPT),
    S("errors-intercept-other", E, "intercept_errors: a backend status without a page (401) passes through with "
      "the backend's body", "errors", "error_page",
      {"_control": ["a:fail?status=401"], "port": 230, "requests": [_req("/app/x")]},
      [{"status": 401, "page": "backend", "type": "application/json", "cache": None}], INTERCEPT),
    S("errors-passthrough", E, "without intercept_errors a backend's 500 passes through with its own body and "
      "headers", "errors", "error_page",
      {"_control": ["a:fail?status=500"], "port": 231, "requests": [_req("/x")]}, [BACKEND_500], INTERCEPT),
    S("errors-headers-service", E, "the service's response headers are on its error pages (a 404 nothing routes, "
      "a 502 of a refused server), as on every answer", "error_headers", "requests",
      {"port": 230, "requests": [_req("/nothing", headers={"X-Request-ID": "rid-404"}),
                                 _req("/dead/x", headers={"X-Request-ID": "rid-502"})],
       "show": HDR},
      [{"status": 404, "res:content-type": "text/html", "res:cache-control": "no-store",
        "res:x-frame-options": "DENY", "res:x-route": None, "res:x-request-id": "rid-404"},
       {"status": 502, "res:content-type": "text/html", "res:cache-control": "no-store",
        "res:x-frame-options": "DENY", "res:x-route": None, "res:x-request-id": "rid-502"}],
      (*PAGES, "Headers.response")),
    S("errors-headers-route", E, "a route's own response headers are on the error pages of its requests (set "
      "and remove, the service's others kept)", "error_headers", "requests",
      {"port": 230, "requests": [_req("/rdead/x", headers={"X-Request-ID": "rid-route"})], "show": HDR},
      [{"status": 502, "res:content-type": "text/html", "res:cache-control": "no-store",
        "res:x-frame-options": None, "res:x-route": "own", "res:x-request-id": "rid-route"}],
      (*PAGES, "Route.headers")),
    S("headers-respond-redirect", E, "a literal answer and a redirect carry the service's response headers, "
      "a route's own replacing them", "error_headers", "requests",
      {"port": 230, "requests": [_req("/ok", headers={"X-Request-ID": "rid-ok"}),
                                 _req("/go/a", headers={"X-Request-ID": "rid-go"})],
       "show": ["status", "res:x-frame-options", "res:x-route", "res:x-request-id"]},
      [{"status": 200, "res:x-frame-options": "DENY", "res:x-route": None, "res:x-request-id": "rid-ok"},
       {"status": 301, "res:x-frame-options": None, "res:x-route": "own", "res:x-request-id": "rid-go"}],
      ("Route.respond", "Route.redirect", "Headers.response", "Route.headers")),
)
