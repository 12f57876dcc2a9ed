"""Parity scenarios of per-route policies (issue 13 item 9; the table is ``table.SCENARIOS``): a route's
limits, timeouts, access lists and cache switch replace the service's for the requests it serves."""

from __future__ import annotations

from integration.parity.scenario import AREAS, S, ST, Scenario, _req

A = "Per-route policies"
assert A in AREAS

SCENARIOS_POLICIES: tuple[Scenario, ...] = (
    S("policy-route-rate", A, "/login at 1 request/s, burst 0, status 503, while the service allows 20/s: the "
      "second /login is refused at once, the other paths are not (nor counted by /login's budget)", "policies",
      "requests",
      {"port": 250, "show": ST, "requests": [_req("/login"), _req("/login"), _req("/login/x"), _req("/a"),
                                             _req("/b"), _req("/c")]},
      [{"status": 200}, {"status": 503}, {"status": 503}, {"status": 200}, {"status": 200}, {"status": 200}],
      ("Route.limits", "Limits.requests_per_second", "Limits.burst", "Limits.status")),
    S("policy-route-connections", A, "/conn/ allows 1 request in progress per client (the service 10): 3 slow "
      "ones 0.25 s apart, 1 passes", "policies", "concurrent",
      {"port": 250, "request": _req("/conn/x?sleep_ms=1500"), "count": 3, "stagger": 0.25}, [200, 429, 429],
      ("Route.limits", "Limits.connections_per_client")),
    S("policy-service-connections", A, "the same 3 slow requests elsewhere: the service's 10 in progress, all pass",
      "policies", "concurrent", {"port": 250, "request": _req("/other?sleep_ms=1500"), "count": 3},
      [200, 200, 200], ("Route.limits", "Limits.connections_per_client")),
    S("policy-route-server-timeout", A, "/slow/ has a 1s server timeout (the service 60s): a 2.5s answer is a 504 "
      "there, a 200 elsewhere", "policies", "requests",
      {"port": 250, "show": ST, "requests": [_req("/slow/x?sleep_ms=2500"), _req("/x?sleep_ms=2500")]},
      [{"status": 504}, {"status": 200}], ("Route.timeouts", "RouteTimeouts.server")),
    S("policy-route-access", A, "/admin/ denies c1 and replaces the service's list (which denies c2): c1 gets 403 "
      "there and 200 elsewhere", "policies", "requests",
      {"port": 250, "show": ST, "requests": [_req("/admin/x"), _req("/x")]},
      [{"status": 403}, {"status": 200}], ("Route.access", "Access.deny")),
    S("policy-route-access-other", A, "the same for c2: the route's list lets it in, the service's refuses it",
      "policies", "requests", {"port": 250, "client": "c2", "show": ST, "requests": [_req("/admin/x"), _req("/x")]},
      [{"status": 200}, {"status": 403}], ("Route.access", "Access.deny")),
    S("policy-route-cache-off", A, "cache: false on /live/: an answer with max-age is fetched every time there, "
      "served from the cache elsewhere", "policies", "cache",
      {"port": 251, "steps": [_req("/live/k?set=Cache-Control:max-age=60")] * 2
       + [_req("/k?set=Cache-Control:max-age=60")] * 2},
      [[200, 1], [200, 2], [200, 3], [200, 3]], ("Route.cache", "HttpService.cache")),
    S("policy-route-tunnel", A, "/ws/short/ has a 2s tunnel timeout (the service 1h): a silent WebSocket there is "
      "closed after 2s", "policies", "websocket",
      {"port": 252, "path": "/ws/short/x", "wait_close": 15, "band_ms": [1400, 6000]},
      {"status": 101, "accept_ok": True, "server": "a", "first": "a:hello", "closed": True, "closed_in_band": True},
      ("Route.timeouts", "RouteTimeouts.tunnel")),
    S("policy-header-route", A, "a header route with an access list of its own, falling back to a route of the "
      "same prefix without one; the header's first line decides when it is sent twice", "policy_header", "requests",
      {"port": 253, "show": ST, "requests": [_req("/beta/x", headers={"X-Beta": "1"}), _req("/beta/x"),
                                             _req("/beta/x", headers=[["X-Beta", "0"], ["X-Beta", "1"]]),
                                             _req("/beta/x", headers=[["X-Beta", "1"], ["X-Beta", "0"]])]},
      [{"status": 403}, {"status": 200}, {"status": 200}, {"status": 403}], ("Route.access", "Route.header"),
      refused={"nginx": "NGINX sets access lists per host and path, not per header"}),
)
