"""Parity scenarios of the PROXY protocol (issue 13 item 4; the table is ``table.SCENARIOS``)."""

from __future__ import annotations

from integration.parity.scenario import S, Scenario, _req

P = "PROXY protocol"
V1 = {"version": 1, "src": "198.51.100.7"}
V2 = {"version": 2, "src": "198.51.100.7"}
SEEN = ["status", "server", "seen:x-forwarded-for", "seen:x-real-ip"]
CLAIMED = {"status": 200, "server": "a", "seen:x-forwarded-for": "198.51.100.7", "seen:x-real-ip": "198.51.100.7"}
ACCEPT = ("Listen.accept_proxy_protocol",)

SCENARIOS_PROXY: tuple[Scenario, ...] = (
    S("proxy-in-v1", P, "accept_proxy_protocol: the client named by a PROXY v1 header is the client the backend "
      "is told about (X-Forwarded-For, X-Real-IP)", "proxy_in", "requests",
      {"port": 181, "requests": [_req(proxy=V1)], "show": SEEN}, [CLAIMED], ACCEPT),
    S("proxy-in-v2", P, "the same with a binary PROXY v2 header", "proxy_in", "requests",
      {"port": 181, "requests": [_req(proxy=V2)], "show": SEEN}, [CLAIMED], ACCEPT),
    S("proxy-in-access", P, "access lists judge the client the PROXY header names (a denied network: 403)",
      "proxy_in", "requests",
      {"port": 181, "requests": [_req(proxy={"version": 1, "src": "203.0.113.9"})], "show": ["status"]},
      [{"status": 403}], (*ACCEPT, "Access.deny")),
    S("proxy-in-limits", P, "limits are kept per claimed client: a second request of one client within the second "
      "is refused (rate 1/s, burst 0), another client behind the same balancer is not", "proxy_in", "requests",
      {"port": 183, "requests": [_req(proxy=V1), _req(proxy=V1), _req(proxy={"version": 1, "src": "198.51.100.8"})],
       "show": ["status"]}, [{"status": 200}, {"status": 429}, {"status": 200}],
      (*ACCEPT, "Limits.requests_per_second")),
    S("proxy-in-log", P, "the access log names the client the PROXY header names", "proxy_in", "proxied_log",
      {"port": 181, "proxy": V1}, {"status": 200, "client": "198.51.100.7"}, (*ACCEPT, "Proxy.access_log")),
    S("proxy-in-missing", P, "a connection without the PROXY header is closed without an answer", "proxy_in",
      "requests", {"port": 181, "requests": [_req()], "show": ["status"]}, [{"status": -1}], ACCEPT),
    S("proxy-in-tcp", P, "a tcp service behind the PROXY protocol passes the claimed client on to a server that "
      "reads PROXY v1", "proxy_in", "proxied_tcp", {"port": 182, "proxy": V1},
      {"line": "q from=198.51.100.7 v=1"}, (*ACCEPT, "Pool.send_proxy_protocol")),
    S("proxy-out-tcp-v1", P, "send_proxy_protocol v1 from a tcp service: the server learns the client's address",
      "proxy_out_tcp", "proxied_tcp", {"port": 184}, {"line": "q from={c1} v=1"}, ("Pool.send_proxy_protocol",)),
    S("proxy-out-tcp-v2", P, "send_proxy_protocol v2 from a tcp service", "proxy_out_v2", "proxied_tcp",
      {"port": 185}, {"line": "q from={c1} v=2"}, ("Pool.send_proxy_protocol",),
      refused={"nginx": "NGINX 1.22 sends PROXY protocol version 1 only"}),
    S("proxy-out-http", P, "send_proxy_protocol v2 from an http service: the server reads the client's address "
      "from the PROXY header", "proxy_out_v2", "requests",
      {"port": 186, "requests": [_req()], "show": ["status", "seen:x-backend-proxy-src",
                                                   "seen:x-backend-proxy-version"]},
      [{"status": 200, "seen:x-backend-proxy-src": "{c1}", "seen:x-backend-proxy-version": "2"}],
      ("Pool.send_proxy_protocol",), refused={"nginx": "sends the PROXY protocol to servers only from tcp services"}),
)
