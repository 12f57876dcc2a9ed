"""Hypothesis strategies for arbitrary *valid* models of one engine.

``models(engine, world)`` draws plain model data covering every feature of
the model: pools with every balancing strategy, active and passive checks,
persistence, server states and limits; http services with routes (host,
prefix, header), default pools, TLS (several certificates, explicit or SAN
host names, TLS 1.3 only, plain-HTTP redirect, HSTS), compression, caching,
static content, access lists, limits, timeouts and retries; tcp services;
proxies with workers, connection limits, admin listeners, local and docker
runtimes; HA pairs (active-passive and active-active, unicast, passwords);
and ``files.allowed_bases``. The draws respect the model's own rules and the
engine's documented refusals (``ctlplane/model/engines.py``), so each one must
pass validation: a draw that does not is a bug in this generator or in the
model, and the test says so instead of skipping it.

Backend servers are IP addresses only: a host name must resolve on the host
that runs ``nginx -t`` / ``haproxy -c``. Listen addresses are ones this host
can bind (0.0.0.0, 127.0.0.0/8, and :: and ::1 when IPv6 works), because
``nginx -t`` binds every listener and fails on an address the host does not
have. All listeners use distinct ports.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from tests.security.primitives import (
    COOKIE,
    HEADER,
    HEADER_VALUE,
    IFNAME,
    MIME,
    NGINX_NO_BACKUP,
    PATH,
    STRATEGIES,
    D,
    Ports,
    maybe,
    cidrs,
    durations,
    hosts,
    ips,
    listen_addresses,
    loopback_addresses,
    names,
    ports,
    sizes,
    timer,
)
from tests.security.world import CA_FILE, World


@st.composite
def pool(draw: Any, engine: str, mode: str, name: str) -> D:
    strategies = [s for s in STRATEGIES if mode == "http" or s != "hash"]
    strategy = draw(st.sampled_from(strategies))
    balance: D = {"strategy": strategy}
    if strategy == "hash":
        key = draw(st.sampled_from(["header", "cookie", "uri"]))
        balance["key"] = key
        if key != "uri":
            balance["name"] = draw(st.from_regex(HEADER if key == "header" else COOKIE, fullmatch=True))
    data: D = {"name": name}
    if strategy != "round_robin" or draw(st.booleans()):
        data["balance"] = balance
    persistence = None
    # source_ip persistence is a consistent hash that replaces the balance (refused otherwise, on both engines)
    source_ok = strategy in ("round_robin", "weighted_round_robin", "source_ip_hash")
    if (engine == "haproxy" or strategy in ("round_robin", "weighted_round_robin")) and draw(st.booleans()):
        if mode == "http" and (not source_ok or draw(st.booleans())):
            persistence = {"type": "cookie"}
            maybe(draw, persistence, "cookie", st.from_regex(COOKIE, fullmatch=True))
        else:
            persistence = {"type": "source_ip"}
        if persistence["type"] == "cookie" or source_ok:
            data["persistence"] = persistence
        else:
            persistence = None
    data["health"] = draw(health(engine, mode))
    backup_ok = engine == "haproxy" or (strategy not in NGINX_NO_BACKUP and persistence is None)
    server_names = draw(st.lists(names(), min_size=1, max_size=4, unique=True))
    data["servers"] = [draw(server(engine, n, backup_ok)) for n in server_names]
    if engine == "nginx" and all(s.get("backup") for s in data["servers"]):
        data["servers"][0]["backup"] = False
    # semantic refusal (ctlplane/model/engine_semantics.py): NGINX sends overflow to backups, HAProxy queues.
    if engine == "nginx" and any(s.get("backup") for s in data["servers"]):
        for s in data["servers"]:
            s.pop("max_connections", None)
    maybe(draw, data, "keepalive", st.integers(0, 10_000))
    # engine refusal (ctlplane/model/engine_protocols.py): NGINX speaks HTTP/2 to servers only for gRPC behind
    # TLS; grpc needs HTTP/2 from clients (tls.http2 may be drawn false): h2c on HAProxy's http pools
    # engine refusal (ctlplane/model/engine_protocols.py): NGINX sets TLS to servers and sends the PROXY protocol
    # per location / from stream only (v1): drawn on NGINX for tcp pools only; TLS only on http-protocol pools
    if engine == "haproxy" or mode == "tcp":
        if draw(st.booleans()):
            data["tls"] = draw(pool_tls())
        maybe(draw, data, "send_proxy_protocol", st.sampled_from(["v1", "v2"] if engine == "haproxy" else ["v1"]))
    if engine == "haproxy" and mode == "http" and "tls" not in data:
        maybe(draw, data, "protocol", st.sampled_from(["http", "h2c"]))
    return data


@st.composite
def pool_tls(draw: Any) -> D:
    data: D = {"verify": draw(st.sampled_from(["none", CA_FILE]))}
    if data["verify"] != "none" or draw(st.booleans()):
        data["sni"] = draw(hosts().filter(lambda h: not h.startswith("*")))
    if draw(st.booleans()):
        data["client_cert"] = {"cert": "certs/www.crt", "key": "certs/www.key"}
    return data


@st.composite
def health(draw: Any, engine: str, mode: str) -> D:
    out: D = {}
    if engine == "haproxy" and draw(st.booleans()):
        kind = draw(st.sampled_from(["http", "tcp"]))
        active: D = {"type": kind}
        if kind == "http":
            maybe(draw, active, "path", st.from_regex(PATH, fullmatch=True))
            maybe(draw, active, "host", hosts().filter(lambda h: not h.startswith("*")))
            maybe(draw, active, "expect_status", st.integers(100, 599))
        maybe(draw, active, "interval", timer(engine))
        maybe(draw, active, "rise", st.integers(1, 100))
        maybe(draw, active, "fall", st.integers(1, 100))
        out["active"] = active
    choice = draw(st.sampled_from(["default", "off", "set"]))
    if choice == "off":
        out["passive"] = None
    elif choice == "set":
        passive: D = {}
        maybe(draw, passive, "max_fails", st.integers(1, 1000))
        # engine limit (refused by ctlplane/model/engine_limits.py; see test_engine_limits.py): NGINX's fail_timeout takes whole seconds only.
        maybe(draw, passive, "window", timer(engine, step=1000 if engine == "nginx" else 1))
        out["passive"] = passive
    return out


@st.composite
def server(draw: Any, engine: str, name: str, backup_ok: bool) -> D:
    data: D = {"name": name, "address": draw(ips()), "port": draw(ports())}
    maybe(draw, data, "weight", st.integers(1 if engine == "nginx" else 0, 256))
    if backup_ok:
        maybe(draw, data, "backup", st.booleans())
    maybe(draw, data, "max_connections", st.integers(1, 1_000_000))
    # semantic refusal (ctlplane/model/engine_semantics.py): NGINX open source has no graceful drain.
    maybe(draw, data, "state", st.sampled_from(["active", "drain", "disabled"] if engine == "haproxy"
                                               else ["active", "disabled"]))
    return data


@st.composite
def routes(draw: Any, pools: list[str]) -> list[D]:
    out: list[D] = []
    seen: set[object] = set()
    for _ in range(draw(st.integers(0, 4))):
        route: D = {"pool": draw(st.sampled_from(pools))}
        maybe(draw, route, "host", hosts())
        maybe(draw, route, "path_prefix", st.from_regex(PATH, fullmatch=True).filter(
            lambda p: not p.startswith("/static")))
        if draw(st.booleans()):
            route["header"] = {"name": draw(st.from_regex(HEADER, fullmatch=True)),
                               "value": draw(st.from_regex(HEADER_VALUE, fullmatch=True))}
        header = route.get("header")
        key = (route.get("host"), route.get("path_prefix", "/"),
               (header["name"].lower(), header["value"]) if header else None)
        if key not in seen:
            seen.add(key)
            out.append(route)
    return out


@st.composite
def tls(draw: Any, world: World, ports_: Ports) -> D:
    chosen = draw(st.lists(st.sampled_from(world.certs), min_size=1, max_size=3))
    certificates = []
    for cert in chosen:
        entry: D = {"cert": cert.cert, "key": cert.key}
        maybe(draw, entry, "hosts", st.lists(hosts(), max_size=3))
        certificates.append(entry)
    data: D = {"certificates": certificates}
    maybe(draw, data, "min_version", st.sampled_from(["1.2", "1.3"]))
    maybe(draw, data, "http2", st.booleans())
    if draw(st.booleans()):
        data["redirect_http_port"] = ports_.take()
    if draw(st.booleans()):
        data["client_ca"] = CA_FILE
        maybe(draw, data, "client_verify", st.sampled_from(["optional", "required"]))
        maybe(draw, data, "client_subject_header", st.from_regex(HEADER, fullmatch=True))
    if draw(st.booleans()):
        hsts: D = {}
        maybe(draw, hsts, "max_age", durations())
        maybe(draw, hsts, "include_subdomains", st.booleans())
        maybe(draw, hsts, "preload", st.booleans())
        data["hsts"] = hsts
    return data


@st.composite
def common(draw: Any, data: D, http: bool, engine: str) -> None:
    """Access lists, limits, timeouts and retries (shared by http and tcp services)."""
    if draw(st.booleans()):
        access: D = {}
        maybe(draw, access, "allow", st.lists(cidrs(), max_size=3))
        maybe(draw, access, "deny", st.lists(cidrs(), max_size=3))
        data["access"] = access
    if draw(st.booleans()):
        limits: D = {}
        # engine limit (refused by ctlplane/model/engine_limits.py; see test_engine_limits.py): NGINX's limit_conn must be below 65536.
        maybe(draw, limits, "connections_per_client", st.integers(1, 65_535 if engine == "nginx" else 100_000))
        if http:
            maybe(draw, limits, "requests_per_second", st.integers(1, 100_000))
            if "requests_per_second" in limits:
                maybe(draw, limits, "burst", st.integers(0, 100_000))
            maybe(draw, limits, "status", st.integers(400, 599))
        data["limits"] = limits
    if draw(st.booleans()):
        timeouts: D = {}
        for key in ("connect", "client", "server") + (("request_header", "keep_alive", "tunnel") if http else ()):
            maybe(draw, timeouts, key, timer(engine))
        if engine == "haproxy":  # semantic refusal: NGINX open source has no request queue
            maybe(draw, timeouts, "queue", timer(engine))
        data["timeouts"] = timeouts
    if draw(st.booleans()):
        retries: D = {}
        maybe(draw, retries, "attempts", st.integers(0, 10))
        if http:
            maybe(draw, retries, "on_status", st.lists(st.sampled_from([502, 503, 504]), max_size=3))
        data["retries"] = retries


@st.composite
def http_service(draw: Any, engine: str, world: World, name: str, pools: list[str], ports_: Ports) -> D:
    data: D = {"name": name, "mode": "http", "listen": {"port": ports_.take()}}
    maybe(draw, data["listen"], "address", listen_addresses())
    data["routes"] = draw(routes(pools))
    maybe(draw, data, "default_pool", st.sampled_from(pools))
    if engine == "nginx" and draw(st.booleans()):
        count = draw(st.integers(1, 2))
        data["static"] = [{"path_prefix": f"/static{i}" + draw(st.sampled_from(["", "/"])),
                           "root": draw(st.sampled_from(world.static))} for i in range(count)]
    if not data["routes"] and "default_pool" not in data and "static" not in data:
        data["default_pool"] = pools[0]
    if draw(st.booleans()):
        data["tls"] = draw(tls(world, ports_))
    if draw(st.booleans()):
        compression: D = {}
        maybe(draw, compression, "types", st.lists(st.from_regex(MIME, fullmatch=True), min_size=1, max_size=4))
        if engine == "nginx":
            maybe(draw, compression, "min_length", sizes())
        data["compression"] = compression
    if draw(st.booleans()):
        cache: D = {}
        top = 4095 * 1024**2 if engine == "haproxy" else 64 * 1024**3
        maybe(draw, cache, "max_size", sizes(1024**2, top))
        # engine limit (refused by ctlplane/model/engine_limits.py; see test_engine_limits.py): NGINX's proxy_cache_valid and inactive take whole seconds only.
        maybe(draw, cache, "valid", durations(step=1000 if engine == "nginx" else 1))
        if engine == "nginx":
            maybe(draw, cache, "key", st.sampled_from(["host_uri", "uri"]))
        data["cache"] = cache
    maybe(draw, data, "hide_response_headers", st.lists(st.from_regex(HEADER, fullmatch=True), max_size=3))
    maybe(draw, data, "max_body_size", sizes(0, 64 * 1024**3))
    if draw(st.booleans()):  # one source of the client address: the PROXY header, or trusted proxies
        data["listen"]["accept_proxy_protocol"] = True
    else:
        maybe(draw, data, "trusted_proxies", st.lists(cidrs(), max_size=3))
    # semantic refusal (ctlplane/model/engine_semantics.py): NGINX sets the body limit per host and path, so a
    # header route may not differ from what it falls back to; route limits are drawn only without header routes.
    if engine == "haproxy" or not any("header" in r for r in data["routes"]):
        for route in data["routes"]:
            maybe(draw, route, "max_body_size", sizes(0, 64 * 1024**3))
    draw(common(data, http=True, engine=engine))
    return data


@st.composite
def tcp_service(draw: Any, engine: str, name: str, pools: list[str], ports_: Ports) -> D:
    data: D = {"name": name, "mode": "tcp", "listen": {"port": ports_.take()}, "pool": draw(st.sampled_from(pools))}
    maybe(draw, data["listen"], "address", listen_addresses())
    maybe(draw, data["listen"], "accept_proxy_protocol", st.booleans())
    draw(common(data, http=False, engine=engine))
    return data


def _pools_of(svc: D) -> set[str]:
    if svc["mode"] == "tcp":
        return {svc["pool"]}
    return {r["pool"] for r in svc["routes"]} | ({svc["default_pool"]} if "default_pool" in svc else set())


def align_shared_pools(services: list[D]) -> None:
    """HAProxy sets connect/server/queue/tunnel timeouts and retries per pool: services sharing a pool get equal
    ones."""
    group = list(range(len(services)))

    def find(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i, a in enumerate(services):
        for j in range(i):
            if _pools_of(a) & _pools_of(services[j]):
                group[find(i)] = find(j)
    for i, svc in enumerate(services):
        first = services[find(i)]
        if first is svc:
            continue
        timeouts = dict(svc.get("timeouts", {}))
        for key in ("connect", "server", "queue", "tunnel"):
            timeouts.pop(key, None)
            if key in first.get("timeouts", {}):
                timeouts[key] = first["timeouts"][key]
        svc["timeouts"] = timeouts
        svc["retries"] = copy.deepcopy(first.get("retries", {}))


@st.composite
def proxy(draw: Any, engine: str, name: str, services: list[str], ports_: Ports, container: str | None) -> D:
    data: D = {"name": name, "engine": engine, "services": draw(st.permutations(services))}
    docker = container is not None
    if container is not None:
        runtime: D = {"kind": "docker", "container": container}
        maybe(draw, runtime, "image", st.from_regex(r"[a-z0-9][a-z0-9._/-]{0,30}(:[A-Za-z0-9._-]{1,20})?",
                                                     fullmatch=True))
        maybe(draw, runtime, "network", names())
        if draw(st.booleans()):
            runtime["config_dir"] = f"state/{name}"
        data["runtime"] = runtime
    elif draw(st.booleans()):
        runtime = {"kind": "local"}
        if draw(st.booleans()):
            runtime["state_dir"] = f"state/{name}"
        data["runtime"] = runtime
    maybe(draw, data, "workers", st.one_of(st.just("auto"), st.integers(1, 64)))
    maybe(draw, data, "max_connections", st.integers(64, 1_000_000))
    if docker or draw(st.booleans()):
        data["admin"] = {"port": ports_.take()}
        maybe(draw, data["admin"], "address", loopback_addresses())
    if ports_.values and draw(st.booleans()):  # a spare port (none left in an HA pair's shared pool)
        data["metrics"] = {"port": ports_.take()}
        maybe(draw, data["metrics"], "address", loopback_addresses())
    maybe(draw, data, "access_log", st.sampled_from(["default", "json"]))
    maybe(draw, data, "user", st.sampled_from(["nobody", "www-data", "root"]))  # users that exist on the host
    maybe(draw, data, "group", st.sampled_from(["nogroup", "www-data", "root"]))
    maybe(draw, data, "drain_timeout", timer(engine))
    return data


@st.composite
def pair(draw: Any, name: str, nodes: list[str]) -> D:
    mode = draw(st.sampled_from(["active_passive", "active_active"]))
    unicast = draw(st.booleans())
    node_data = []
    for node in nodes:
        entry: D = {"proxy": node}
        maybe(draw, entry, "interface", st.from_regex(IFNAME, fullmatch=True))
        if unicast:
            entry["address"] = draw(st.ip_addresses(v=4).map(str))
        else:
            maybe(draw, entry, "address", st.ip_addresses(v=4).map(str))
        node_data.append(entry)
    owners = nodes[:1] if mode == "active_passive" else nodes
    router_ids = draw(st.lists(st.integers(1, 255), min_size=len(owners), max_size=len(owners), unique=True))
    vips = [{"address": draw(st.tuples(st.ip_addresses(v=4), st.integers(1, 32)).map(lambda t: f"{t[0]}/{t[1]}")),
             "router_id": rid, "owner": owner} for owner, rid in zip(owners, router_ids, strict=True)]
    data: D = {"name": name, "mode": mode, "nodes": node_data, "virtual_ips": vips, "unicast": unicast}
    maybe(draw, data, "advert_interval", st.integers(1, 255).map(lambda n: f"{n}s"))
    maybe(draw, data, "preempt", st.booleans())
    maybe(draw, data, "auth_password", st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True))
    owner = draw(st.integers(2, 254))
    data["priority_owner"] = owner
    data["priority_peer"] = draw(st.integers(1, owner - 1))
    if draw(st.booleans()):
        check: D = {}
        maybe(draw, check, "interval", st.integers(1, 60).map(lambda n: f"{n}s"))
        maybe(draw, check, "timeout", st.integers(1, 60).map(lambda n: f"{n}s"))
        maybe(draw, check, "fall", st.integers(1, 10))
        maybe(draw, check, "rise", st.integers(1, 10))
        data["check"] = check
    return data


@st.composite
def models(draw: Any, engine: str, world: World) -> D:
    """One valid model for ``engine``: services, the pools they use, one proxy or an HA pair of two."""
    n_http = draw(st.integers(0, 3))
    n_tcp = draw(st.integers(0 if n_http else 1, 2))
    service_names = draw(st.lists(names(), min_size=n_http + n_tcp, max_size=n_http + n_tcp, unique=True))
    n_http_pools = draw(st.integers(1, 3)) if n_http else draw(st.integers(0, 1))
    n_tcp_pools = draw(st.integers(1, 2)) if n_tcp else 0
    pool_names = draw(st.lists(names(), min_size=n_http_pools + n_tcp_pools, max_size=n_http_pools + n_tcp_pools,
                               unique=True))
    http_pools, tcp_pools = pool_names[:n_http_pools], pool_names[n_http_pools:]
    pools = [draw(pool(engine, "http", n)) for n in http_pools] + [draw(pool(engine, "tcp", n)) for n in tcp_pools]
    ports_ = Ports(draw(st.lists(ports(), min_size=2 * (n_http + n_tcp) + 2, max_size=2 * (n_http + n_tcp) + 2,
                                 unique=True)))
    services = [draw(http_service(engine, world, n, http_pools, ports_)) for n in service_names[:n_http]]
    services += [draw(tcp_service(engine, n, tcp_pools, ports_)) for n in service_names[n_http:]]
    if engine == "haproxy":
        align_shared_pools(services)
    data: D = {"services": services}
    if pools or draw(st.booleans()):
        data["pools"] = pools
    proxy_names = draw(st.lists(names(), min_size=2, max_size=2, unique=True))
    if draw(st.integers(0, 3)) == 0:  # an HA pair of two docker proxies running the same services
        admin_port = ports_.take()
        containers = draw(st.lists(names(), min_size=2, max_size=2, unique=True))
        data["proxies"] = [draw(proxy(engine, n, service_names, Ports([admin_port]), c))
                           for n, c in zip(proxy_names, containers, strict=True)]
        data["pairs"] = [draw(pair(draw(names()), proxy_names))]
    else:
        data["proxies"] = [draw(proxy(engine, proxy_names[0], service_names, ports_, None))]
    if draw(st.booleans()):
        data["files"] = {"allowed_bases": [str(world.base / "certs")]}
    return data
