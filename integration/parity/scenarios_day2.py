"""Parity scenarios of issue 13's capabilities: WebSocket and other HTTP upgrades, HTTP/2 and gRPC
(the table is ``table.SCENARIOS``)."""

from __future__ import annotations

from integration.parity.scenario import S, Scenario

UP = "WebSocket and HTTP/2"
ECHO = {"status": 101, "accept_ok": True, "server": "a", "first": "a:hello", "after_idle": "a:again"}

SCENARIOS_DAY2: tuple[Scenario, ...] = (
    S("ws-echo", UP, "a WebSocket upgrade passes through: the backend's 101 (its Sec-WebSocket-Accept intact) and "
      "a message round trip in each direction", "websocket", "websocket", {"port": 170, "idle": 0},
      ECHO, ("HttpTimeouts.tunnel",)),
    S("ws-route", UP, "an upgrade is routed like any request (path prefix /ws/chat/ to another pool)", "websocket",
      "websocket", {"port": 170, "path": "/ws/chat/x", "idle": 0},
      {**ECHO, "server": "b", "first": "b:hello", "after_idle": "b:again"}, ("Route.path_prefix",)),
    S("ws-idle-outlives-http-timeouts", UP, "timeouts client, server and keep_alive 1s, tunnel 30s: a WebSocket "
      "silent for 4s still carries a message", "websocket", "websocket", {"port": 170, "idle": 4},
      ECHO, ("HttpTimeouts.tunnel", "Timeouts.client", "Timeouts.server", "HttpTimeouts.keep_alive")),
    S("ws-tunnel-timeout", UP, "tunnel 2s (the HTTP timeouts 60s): a silent WebSocket is closed after 2s",
      "websocket", "websocket", {"port": 171, "wait_close": 15, "band_ms": [1400, 6000]},
      {"status": 101, "accept_ok": True, "server": "a", "first": "a:hello", "closed": True, "closed_in_band": True},
      ("HttpTimeouts.tunnel",)),
    S("ws-tls", UP, "a WebSocket over TLS on a listener that offers HTTP/2 (the client asks for HTTP/1.1)",
      "tls", "websocket", {"port": 8443, "idle": 0, "tls": True}, ECHO, ("Tls.http2",)),
)
