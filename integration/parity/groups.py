"""The small models the parity scenarios run against: one per group, deployed once per engine.

Each group is a function of the lab's address book (``a``, ``b``, ``c``: the
echo backends; ``c1``, ``c2``: the clients) returning the model's pools,
services and proxy fields. ``dead`` is backend ``a``'s address on a port
where nothing listens (connections are refused). A group that holds a setting
one engine cannot honour is only deployed on the other; on that engine the
scenario expects the model's located refusal (``table.Scenario.refused``).
The TLS group names certificate files written by the probe context into
``certs/`` beside the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Book = dict[str, str]
Group = dict[str, Any]
HTTP, TCP, DEAD = 8080, 9000, 8081


def srv(book: Book, name: str, **fields: Any) -> dict[str, Any]:
    """Backend ``name`` (a, b, c) as a pool server; ``dead`` is a refusing port on a's host."""
    if name == "dead":
        return {"name": "dead", "address": book["a"], "port": DEAD, **fields}
    if name == "void":  # an address of the lab network nothing answers: connecting times out
        return {"name": "void", "address": book["void"], "port": HTTP, **fields}
    return {"name": name, "address": book[name], "port": fields.pop("port", HTTP), **fields}


def pool(book: Book, name: str, servers: list[Any], **fields: Any) -> dict[str, Any]:
    return {"name": name, "servers": [srv(book, s) if isinstance(s, str) else srv(book, s[0], **s[1])
                                      for s in servers], **fields}


def http(name: str, port: int, **fields: Any) -> dict[str, Any]:
    return {"name": name, "mode": "http", "listen": {"port": port}, **fields}


def routing(b: Book) -> Group:
    return {
        "pools": [pool(b, "pa", ["a"]), pool(b, "pb", ["b"]), pool(b, "pc", ["c"])],
        "services": [
            http("route", 80, default_pool="pc", routes=[
                {"host": "video.example.com", "pool": "pa"},
                {"host": "*.example.com", "pool": "pb"},
                {"path_prefix": "/api/", "pool": "pb"},
                {"path_prefix": "/api/", "header": {"name": "X-Tenant", "value": "gold"}, "pool": "pa"},
                {"host": "video.example.com", "path_prefix": "/v", "pool": "pc"},
            ]),
            http("nomatch", 81, routes=[{"path_prefix": "/only/", "pool": "pa"}]),
        ],
    }


def balance(b: Book) -> Group:
    pools = [
        pool(b, "rr", ["a", "b", "c"]),
        pool(b, "wrr", [("a", {"weight": 3}), "b"], balance={"strategy": "weighted_round_robin"}),
        pool(b, "lc", ["a", "b"], balance={"strategy": "least_connections"}),
        pool(b, "rnd", ["a", "b", "c"], balance={"strategy": "random"}),
        pool(b, "src", ["a", "b", "c"], balance={"strategy": "source_ip_hash"}),
        pool(b, "hhdr", ["a", "b", "c"], balance={"strategy": "hash", "key": "header", "name": "X-Key"}),
        pool(b, "hck", ["a", "b", "c"], balance={"strategy": "hash", "key": "cookie", "name": "k"}),
        pool(b, "huri", ["a", "b", "c"], balance={"strategy": "hash", "key": "uri"}),
        pool(b, "ck", ["a", "b", "c"], persistence={"type": "cookie"}),
        pool(b, "sip", ["a", "b", "c"], persistence={"type": "source_ip"}),
        pool(b, "cka", ["a", "b", "c"], persistence={"type": "cookie", "cookie": "LBK", "max_age": "90m",
                                                     "domain": "example.com", "same_site": "strict"}),
    ]
    services = [http(p["name"], 90 + i, default_pool=p["name"]) for i, p in enumerate(pools)]
    return {"pools": pools, "services": services, "proxy": {"workers": 2}}


def limits(b: Book) -> Group:
    return {
        "pools": [pool(b, "app", ["a"])],
        "services": [
            http("conn", 110, default_pool="app", limits={"connections_per_client": 2}),
            http("rate", 111, default_pool="app", limits={"requests_per_second": 10, "burst": 10}),
            http("ratedef", 112, default_pool="app", limits={"requests_per_second": 5}),
            http("ratexff", 113, default_pool="app", limits={"requests_per_second": 2, "burst": 0, "status": 503},
                 trusted_proxies=[f"{b['c2']}/32"]),
        ],
    }


def access(b: Book) -> Group:
    return {
        "pools": [pool(b, "app", ["a"]), pool(b, "tcpapp", [("a", {"port": TCP})])],
        "services": [
            http("deny", 120, default_pool="app", access={"deny": [f"{b['c1']}/32"]}),
            http("allow", 121, default_pool="app", access={"allow": [f"{b['c2']}/32"]}),
            http("trusted", 122, default_pool="app", access={"deny": ["203.0.113.0/24"]},
                 trusted_proxies=[f"{b['c2']}/32"]),
            {"name": "tcpdeny", "mode": "tcp", "listen": {"port": 123}, "pool": "tcpapp",
             "access": {"deny": [f"{b['c1']}/32"]}},
        ],
    }


def headers(b: Book) -> Group:
    return {
        "pools": [pool(b, "app", ["a"])],
        "services": [
            http("fwd", 130, default_pool="app"),
            http("trusted", 131, default_pool="app", trusted_proxies=[f"{b['c2']}/32", "198.51.100.0/24"]),
            http("hide", 132, default_pool="app", hide_response_headers=["X-Backend"]),
            {**http("dual", 133, default_pool="app"), "listen": {"address": "::", "port": 133}},
        ],
    }


def body(b: Book) -> Group:
    return {
        "pools": [pool(b, "app", ["a"])],
        "services": [http("body", 140, default_pool="app", routes=[
            {"path_prefix": "/upload/", "pool": "app", "max_body_size": "5m"},
            {"path_prefix": "/free/", "pool": "app", "max_body_size": 0},
        ])],
    }


def prepare(group: str, directory: Any) -> None:
    """Files a group's model names, written beside it: certificates (tls), a static site (static)."""
    if group in ("upstream_tls", "client_certs"):
        from integration.harness.tls_lab import write_group_files

        write_group_files(directory / "certs")
    if group == "ocsp":
        from integration.harness.ocsp_lab import write_group_files as ocsp_files

        ocsp_files(directory / "certs")
    if group in ("tls", "grpc", "client_certs", "header_ops"):
        from integration.harness.tls import make_pki

        pki = make_pki(["www.example.com"])
        pki.write(directory / "certs")
        (directory / "certs" / "ca.pem").write_text(pki.ca_pem)  # for clients that verify (gRPC)
    if group in ("auth", "admin_auth"):
        from integration.harness.auth_lab import write_htpasswd

        write_htpasswd(directory / "auth" / "users.htpasswd")
    if group in ("errors", "error_headers"):
        from integration.parity.groups_errors import write_pages

        write_pages(directory)
    if group == "static":
        (directory / "site").mkdir(parents=True, exist_ok=True)
        (directory / "site" / "hello.txt").write_text("hello\n")


def timeouts(b: Book) -> Group:
    return {
        "pools": [pool(b, "slow", ["a", "b", "c"], health={"passive": None}),
                  pool(b, "flaky", ["dead", "a"], health={"passive": None}),
                  pool(b, "app", ["a"]),
                  pool(b, "one", [("a", {"max_connections": 1})]),
                  pool(b, "void", ["void"], health={"passive": None})],
        "services": [
            http("slow", 150, default_pool="slow", timeouts={"server": "1s"}),
            http("retry", 151, default_pool="flaky"),
            http("client", 152, default_pool="app", timeouts={"request_header": "1s", "keep_alive": "1s"}),
            http("noqueue", 153, default_pool="one"),
            http("clienttime", 154, default_pool="app", timeouts={"client": "1s"}),
            http("connecttime", 156, default_pool="void", timeouts={"connect": "1s"}, retries={"attempts": 0}),
        ],
    }


def queue(b: Book) -> Group:
    return {"pools": [pool(b, "one", [("a", {"max_connections": 1})])],
            "services": [http("queue", 155, default_pool="one", timeouts={"queue": "5s"})]}


def health(b: Book) -> Group:
    off = {"retries": {"attempts": 0}}
    return {
        "pools": [pool(b, "passive", ["a", "dead"]), pool(b, "errors", ["a", "b"]),
                  pool(b, "off", ["a", "dead"], health={"passive": None}),
                  pool(b, "backup", ["dead", ("b", {"backup": True})]),
                  pool(b, "spare", ["a", ("b", {"backup": True})]),
                  pool(b, "maint", ["a", ("b", {"state": "disabled"})]),
                  pool(b, "allout", [("a", {"state": "disabled"})]),
                  pool(b, "nolive", ["dead"])],
        "services": [http("passive", 160, default_pool="passive", **off), http("errors", 161, default_pool="errors", **off),
                     http("off", 162, default_pool="off", **off), http("backup", 163, default_pool="backup"),
                     http("spare", 164, default_pool="spare"), http("maint", 165, default_pool="maint"),
                     http("allout", 166, default_pool="allout"), http("nolive", 167, default_pool="nolive")],
    }


def drain(b: Book) -> Group:
    return {"pools": [pool(b, "app", ["a", ("b", {"state": "drain"})], persistence={"type": "cookie"})],
            "services": [http("drain", 168, default_pool="app")]}


def active(b: Book) -> Group:
    check = {"type": "http", "path": "/healthz", "host": "app.internal", "interval": "500ms", "rise": 1, "fall": 1}
    tcp_check = {"type": "tcp", "interval": "500ms", "rise": 1, "fall": 1}
    # the echo's uncounted /_ctl/hits answer names the server (a check on a counted path would add hits that the
    # cache scenarios, sharing the lab's backends, count)
    body_check = {**check, "path": "/_ctl/hits", "expect_body": '"server": "a"'}
    return {"pools": [pool(b, "app", ["a", "b"], health={"active": check}),
                      pool(b, "tcpapp", ["dead", ("a", {"port": TCP})], health={"active": tcp_check, "passive": None}),
                      pool(b, "bodyapp", ["a", "b"], health={"active": body_check}),
                      # no passive check here: its 10s window would set the spread of every first check to 10s
                      pool(b, "slow", ["a", "b"], slow_start="60s", health={"passive": None})],
            "services": [http("active", 169, default_pool="app"),
                         {"name": "tcpactive", "mode": "tcp", "listen": {"port": 172}, "pool": "tcpapp",
                          "retries": {"attempts": 0}},
                         http("bodycheck", 173, default_pool="bodyapp"), http("slowstart", 174, default_pool="slow")]}


def backup_limit(b: Book) -> Group:
    return {"pools": [pool(b, "app", [("a", {"max_connections": 1}), ("b", {"backup": True})])],
            "services": [http("overflow", 159, default_pool="app")]}


def compression(b: Book) -> Group:
    return {"pools": [pool(b, "app", ["a"])],
            "services": [http("gzip", 170, default_pool="app",
                              compression={"types": ["text/plain", "application/json"]})]}


def min_length(b: Book) -> Group:
    return {"pools": [pool(b, "app", ["a"])],
            "services": [http("gzipmin", 171, default_pool="app",
                              compression={"types": ["text/plain"], "min_length": "1k"})]}


def cache(b: Book) -> Group:
    return {"pools": [pool(b, "app", ["a"])],
            "services": [http("cache", 180, default_pool="app", cache={})]}


def cache_uri(b: Book) -> Group:
    return {"pools": [pool(b, "app", ["a"])],
            "services": [http("cacheuri", 181, default_pool="app", cache={"key": "uri"})]}


def static(b: Book) -> Group:
    return {"pools": [pool(b, "app", ["a"])],
            "services": [http("static", 182, default_pool="app", static=[{"path_prefix": "/s/", "root": "site"}])]}


def header_body(b: Book) -> Group:
    return {"pools": [pool(b, "app", ["a"]), pool(b, "big", ["b"])],
            "services": [http("hbody", 141, default_pool="app", routes=[
                {"path_prefix": "/", "header": {"name": "X-Big", "value": "yes"}, "pool": "big",
                 "max_body_size": "5m"}])]}


def tls(b: Book) -> Group:
    cert = [{"cert": "certs/www.example.com.crt", "key": "certs/www.example.com.key"}]
    return {
        "pools": [pool(b, "app", ["a"]), pool(b, "sticky", ["a", "b"], persistence={"type": "cookie"})],
        "services": [
            {**http("tls", 8443, default_pool="app", routes=[{"path_prefix": "/sticky/", "pool": "sticky"}]),
             "tls": {"certificates": cert, "redirect_http_port": 8080,
                     "hsts": {"max_age": "1d", "include_subdomains": True, "preload": True}}},
            {**http("h1only", 8444, default_pool="app"), "tls": {"certificates": cert, "http2": False}},
            {**http("tls13", 8445, default_pool="app"), "tls": {"certificates": cert, "min_version": "1.3"}},
        ],
    }


def tcp(b: Book) -> Group:
    return {
        "pools": [pool(b, "rr", [("a", {"port": TCP}), ("b", {"port": TCP})]),
                  pool(b, "one", [("a", {"port": TCP})]), pool(b, "one2", [("a", {"port": TCP})]),
                  pool(b, "flaky", ["dead", ("a", {"port": TCP})])],
        "services": [
            {"name": "rr", "mode": "tcp", "listen": {"port": 190}, "pool": "rr"},
            {"name": "limit", "mode": "tcp", "listen": {"port": 191}, "pool": "one",
             "limits": {"connections_per_client": 1}},
            {"name": "dual", "mode": "tcp", "listen": {"address": "::", "port": 192}, "pool": "one"},
            {"name": "idle", "mode": "tcp", "listen": {"port": 193}, "pool": "one2",
             "timeouts": {"client": "1s", "server": "1s"}},
            {"name": "retry", "mode": "tcp", "listen": {"port": 194}, "pool": "flaky"},
        ],
    }


def logs(b: Book) -> Group:
    return {"pools": [pool(b, "app", ["a"])], "services": [http("logs", 200, default_pool="app")],
            "proxy": {"admin": {"port": 8404}, "metrics": {"port": 9100}}}


def listen_also(b: Book) -> Group:
    """Services on two loopback addresses of the proxy's container (listen.also), HTTP and TCP."""
    both = {"address": "127.0.0.1", "also": ["127.0.0.2"]}
    return {"pools": [pool(b, "app", ["a"]), pool(b, "tcpapp", [("a", {"port": TCP})])],
            "services": [http("twice", 220, default_pool="app", listen={**both, "port": 220}),
                         {"name": "tcptwice", "mode": "tcp", "listen": {**both, "port": 221}, "pool": "tcpapp"}]}


def logs_json(b: Book) -> Group:
    return {"pools": [pool(b, "app", ["a"])], "services": [http("jlogs", 201, default_pool="app")],
            "proxy": {"access_log": "json"}}


def admin_public(b: Book) -> Group:
    return {"pools": [pool(b, "app", ["a"])], "services": [http("web", 202, default_pool="app")],
            "proxy": {"admin": {"address": "0.0.0.0", "port": 8404}}}


def reload(b: Book) -> Group:
    return {
        "pools": [pool(b, "src", ["a", "b", "c"], persistence={"type": "source_ip"}),
                  pool(b, "ck", ["a", "b", "c"], persistence={"type": "cookie"}),
                  pool(b, "app", ["a"])],
        "services": [http("src", 210, default_pool="src"), http("ck", 211, default_pool="ck"),
                     http("long", 212, default_pool="app"),
                     http("rate", 213, default_pool="app", limits={"requests_per_second": 1, "burst": 59})],
        "proxy": {"drain_timeout": "2s"},
    }


def _day2() -> dict[str, Callable[[Book], Group]]:
    """Issue 13's groups (``groups_day2`` uses this module's helpers, so it is imported once they exist)."""
    from integration.parity.groups_day2 import GROUPS_DAY2

    return GROUPS_DAY2


GROUPS: dict[str, Callable[[Book], Group]] = {
    "routing": routing, "balance": balance, "limits": limits, "access": access, "headers": headers, "body": body,
    "timeouts": timeouts, "queue": queue, "health": health, "drain": drain, "active": active,
    "backup_limit": backup_limit, "compression": compression, "min_length": min_length, "cache": cache,
    "cache_uri": cache_uri, "static": static, "header_body": header_body, "tls": tls, "tcp": tcp, "logs": logs,
    "logs_json": logs_json, "listen_also": listen_also, "admin_public": admin_public, "reload": reload, **_day2(),
}


def model(group: str, engine: str, book: Book, runtime: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole model of ``group`` for one proxy ``lb`` of ``engine``."""
    found = GROUPS[group](book)
    proxy = {"name": "lb", "engine": engine, "services": [s["name"] for s in found["services"]],
             **found.get("proxy", {})}
    if runtime is not None:
        proxy["runtime"] = runtime
    return {"version": 1, "pools": found["pools"], "services": found["services"], "proxies": [proxy]}


FAKE_BOOK: Book = {"a": "10.213.7.10", "b": "10.213.7.11", "c": "10.213.7.12", "c1": "10.213.7.50",
                   "c2": "10.213.7.51", "void": "10.213.7.98", "g": "10.213.7.20",
                   "t": "10.213.7.21", "q": "10.213.7.22"}
