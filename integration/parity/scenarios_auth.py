"""Parity scenarios of authentication (issue 13 item 7; the table is ``table.SCENARIOS``)."""

from __future__ import annotations

from integration.parity.auth_users import USERS, basic
from integration.parity.scenario import S, Scenario, _req

A = "Authentication"
CHALLENGE = 'Basic realm="Lab realm"'
GOOD = {"Authorization": basic("sha512")}
BASIC = ("HttpService.auth", "Auth.htpasswd", "Auth.realm")

SCENARIOS_AUTH: tuple[Scenario, ...] = (
    S("auth-missing", A, "a request without credentials: 401 and WWW-Authenticate: Basic realm=\"<realm>\"",
      "auth", "requests", {"port": 230, "requests": [_req("/x")], "show": ["status", "res:www-authenticate"]},
      [{"status": 401, "res:www-authenticate": CHALLENGE}], BASIC),
    S("auth-wrong", A, "a wrong password, an unknown user, a malformed header: 401", "auth", "requests",
      {"port": 230, "requests": [_req("/x", headers={"Authorization": basic("sha512", "nope")}),
                                 _req("/x", headers={"Authorization": basic("nobody")}),
                                 _req("/x", headers={"Authorization": "Basic %%%"})], "show": ["status"]},
      [{"status": 401}] * 3, BASIC),
    S("auth-hashes", A, "each accepted hash type verifies on both engines: sha512-crypt, sha256-crypt, bcrypt "
      "$2b$ and $2y$, yescrypt", "auth", "requests",
      {"port": 230, "requests": [_req("/x", headers={"Authorization": basic(u)}) for u in USERS],
       "show": ["status", "server"]}, [{"status": 200, "server": "a"}] * len(USERS), BASIC),
    S("auth-route", A, "auth on one route: its requests ask for credentials, the rest of the service does not",
      "auth", "requests",
      {"port": 231, "requests": [_req("/open"), _req("/private/x"), _req("/private/x", headers=GOOD)],
       "show": ["status"]}, [{"status": 200}, {"status": 401}, {"status": 200}], ("Route.auth", "Auth.htpasswd")),
    S("auth-route-unusual-path", A, "a route's auth holds for its paths however they are written: encoded "
      "(/%70rivate/x) or with doubled slashes (//private//x) it asks for credentials on both engines; "
      "'/open/../private/x' asks on NGINX (which resolves it) and is refused on HAProxy", "auth", "requests",
      {"port": 231, "requests": [_req("/%70rivate/x"), _req("//private//x"), _req("/open/../private/x")],
       "show": ["status"]}, [{"status": 401}, {"status": 401}, {"status": 401}], ("Route.auth", "Route.path_prefix"),
      differs={"nginx": [{"status": 401}, {"status": 401}, {"status": 401}],
               "haproxy": [{"status": 401}, {"status": 401}, {"status": 400}]},
      why="HAProxy 2.6 cannot resolve dot segments without an experimental directive: a service with path routes "
          "refuses such a path (400) rather than match its raw form (see `route-path-dots`)."),
    S("auth-not-forwarded", A, "the backend does not see the client's Authorization header", "auth", "requests",
      {"port": 230, "requests": [_req("/x", headers=GOOD)], "show": ["status", "seen:authorization"]},
      [{"status": 200, "seen:authorization": None}], ("Auth.forward_authorization",)),
    S("auth-forwarded", A, "forward_authorization: true passes it on", "auth", "requests",
      {"port": 232, "requests": [_req("/x", headers=GOOD)], "show": ["status", "seen:authorization"]},
      [{"status": 200, "seen:authorization": GOOD["Authorization"]}], ("Auth.forward_authorization",)),
    S("auth-request", A, "an authorization service decides (auth_request): its 401 reaches the client, its 200 "
      "lets the request through, the credentials not forwarded", "auth_request", "auth_request",
      {"port": 233, "path": "/sso/x"}, {"denied": 401, "allowed": 200, "backend_saw_authorization": False},
      ("Auth.request", "AuthRequest.pool", "AuthRequest.path"),
      refused={"haproxy": "cannot ask an authorization service without Lua"}),
    S("auth-metrics", A, "a metrics listener beyond loopback with auth: /metrics asks for credentials",
      "admin_auth", "requests",
      {"port": 9100, "requests": [_req("/metrics"), _req("/metrics", headers=GOOD)],
       "show": ["status", "res:www-authenticate"]},
      [{"status": 401, "res:www-authenticate": 'Basic realm="Ops"'}, {"status": 200, "res:www-authenticate": None}],
      ("Metrics.auth", "AdminAuth.htpasswd", "AdminAuth.realm")),
    S("auth-admin-healthz", A, "an admin listener beyond loopback with auth: /healthz stays open (keepalived and "
      "ctlplane status use it; the stats, /stats on HAProxy and /status on NGINX, ask for credentials: "
      "tests/render/test_auth.py)", "admin_auth", "requests",
      {"port": 8404, "requests": [_req("/healthz")], "show": ["status"]}, [{"status": 200}],
      ("Admin.auth",)),
)
