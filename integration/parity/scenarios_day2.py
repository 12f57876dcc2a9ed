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
    # --- HTTP/2 and gRPC ---------------------------------------------------------------------------------------
    S("grpc-tls", UP, "a gRPC call (the standard health service) over TLS with HTTP/2 by ALPN, to a pool with "
      "protocol grpc", "grpc", "grpc", {"port": 8450, "tls": True},
      {"code": "OK", "status": "SERVING", "server": "g"}, ("Pool.protocol",)),
    S("grpc-status", UP, "a gRPC error status travels back in the trailers (NOT_FOUND for an unknown service)",
      "grpc", "grpc", {"port": 8450, "tls": True, "service": "no.such.Service"},
      {"code": "NOT_FOUND", "status": None}, ("Pool.protocol",)),
    S("grpc-beside-http", UP, "the same TLS listener serves HTTP/2 and HTTP/1.1 clients from an HTTP pool",
      "grpc", "curl", {"port": 8450, "args": ["--http2"]}, {"ok": True, "status": 200, "http_version": "2"},
      ("Tls.http2",)),
    S("grpc-plain", UP, "gRPC on a plain listener (the client speaks HTTP/2 without TLS)", "grpc_plain", "grpc",
      {"port": 176}, {"code": "OK", "status": "SERVING", "server": "g"}, ("Pool.protocol",),
      refused={"nginx": "NGINX 1.22 accepts HTTP/2 on a plain listener only as its one protocol"}),
    S("h2c-backend", UP, "protocol h2c: the proxy speaks HTTP/2 without TLS to the servers (the client HTTP/1.1)",
      "h2c", "h2c", {"port": 177}, {"status": 200, "server": "h2c", "backend_saw": "HTTP/2.0"}, ("Pool.protocol",),
      refused={"nginx": "NGINX 1.22 speaks HTTP/2 to servers only for gRPC"}),
)
