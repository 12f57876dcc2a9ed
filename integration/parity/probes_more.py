"""More probes: timeouts, health, cache, TLS, TCP, logs, processes and reloads (see ``probes``).

Each takes the scenario's :class:`~integration.parity.probes.Ctx` and arguments and returns an
observation that is the same on both engines when they behave the same.
"""

from __future__ import annotations

import json
import time
from typing import Any

from integration.harness.probe import hits
from integration.parity.probes import Ctx, Obs, _many, _request, _server


def p_slow_header(ctx: Ctx, port: int, wait: float) -> Obs:
    found = ctx.run({"op": "slow_header", "target": ctx.target(port), "first": "GET / HTTP/1.1\r\nHost: x\r\n",
                     "wait": wait})
    return {"answered": found["answered"], "closed": found["closed"],
            "closed_after_timeout": found["closed"] and 700 <= found["ms"] <= 2500}


def p_stall_body(ctx: Ctx, port: int, wait: float, timeout_ms: int) -> Obs:
    found = ctx.run({"op": "stall_body", "target": ctx.target(port), "wait": wait})
    return {"status": found["status"], "after_the_timeout": timeout_ms * 0.7 <= found["ms"] <= timeout_ms + 1500}


def p_slow_body(ctx: Ctx, port: int, pieces: int, gap: float) -> Obs:
    return {"status": ctx.run({"op": "slow_body", "target": ctx.target(port), "pieces": pieces, "gap": gap})["status"]}


def p_idle(ctx: Ctx, port: int, idle: float) -> Obs:
    return ctx.run({"op": "idle", "request": _request(ctx, port, {}), "idle": idle})


def p_timed(ctx: Ctx, port: int, request: dict[str, Any], below_ms: int) -> Obs:
    answer = _many(ctx, port, [request])[0]
    return {"status": answer["status"], "fast_enough": answer["ms"] < below_ms}


def p_passive(ctx: Ctx, port: int, count: int, fail: str | None = None, at_most: int | None = None) -> Obs:
    """Sequential requests over a pool with a failing server: how many failed (with ``at_most``: whether no
    more than that, all 502), and whether the tail is clean."""
    if fail:
        ctx.lab.control(fail.split(":")[0], fail.split(":", 1)[1])
    answers = _many(ctx, port, [{"path": f"/p{i}"} for i in range(count)])
    statuses = [a["status"] for a in answers]
    bad = [s for s in statuses if s != 200]
    servers = sorted({_server(a) for a in answers if _server(a)})
    if at_most is not None:  # the count depends on when the first health check ran (HAProxy), not the outcome
        return {"within": len(bad) <= at_most, "only_502": set(bad) <= {502},
                "last_6_ok": statuses[-6:] == [200] * 6, "servers": servers}
    return {"failed": len(bad), "failed_with": sorted(set(bad)), "last_6_ok": statuses[-6:] == [200] * 6,
            "servers": servers}


def p_warm(ctx: Ctx, port: int, warm: int, count: int) -> Obs:
    """After ``warm`` requests (a failing server taken out), who answers the next ``count``."""
    _many(ctx, port, [{"path": f"/w{i}"} for i in range(warm)])
    answers = _many(ctx, port, [{"path": f"/n{i}"} for i in range(count)])
    return {"statuses": sorted({a["status"] for a in answers}),
            "servers": sorted({_server(a) for a in answers if _server(a)})}


def p_cache(ctx: Ctx, port: int, steps: list[dict[str, Any]], wait: float = 0.0) -> Obs:
    """Requests to a one-backend cache; after each, how many reached the backend so far."""
    out = []
    for step in steps:
        if step.get("sleep"):
            time.sleep(step["sleep"])
            continue
        if step.get("control"):
            ctx.lab.control("a", step["control"])
            continue
        answer = _many(ctx, port, [step])[0]
        out.append([answer["status"], hits(ctx.lab, "a")])
    return out


def p_websocket(ctx: Ctx, port: int, idle: float = 0, path: str = "/ws", tls: bool = False,
                wait_close: float | None = None, band_ms: list[int] | None = None) -> Obs:
    """A WebSocket upgrade, a message round trip, then ``idle`` seconds of silence and another round trip, or
    (``wait_close``) how long the proxy keeps the silent tunnel: closed within ``band_ms``."""
    spec: dict[str, Any] = {"op": "websocket", "target": ctx.target(port), "path": path, "host": "www.example.com",
                            "tls": tls, "sni": "www.example.com" if tls else None}
    if wait_close is not None:
        spec["wait_close"] = wait_close
    else:
        spec["idle"] = idle
    found = ctx.run(spec)
    if band_ms is not None and "closed_ms" in found:
        ms = found.pop("closed_ms")
        print(f"{ctx.engine}: idle tunnel closed after {ms} ms")
        found["closed_in_band"] = ms is not None and band_ms[0] <= ms <= band_ms[1]
    return found


def p_grpc(ctx: Ctx, port: int, service: str = "", tls: bool = False) -> Obs:
    """A gRPC health check through the proxy, from the test process (grpcio), over TLS or h2c."""
    from integration.harness.grpc_lab import ensure_grpc, health_check

    ensure_grpc(ctx.lab)
    ca = (ctx.dep.model_path.parent / "certs" / "ca.pem").read_bytes() if tls else None
    return health_check(ctx.target(port), service, ca_pem=ca, authority="www.example.com" if tls else None)


def p_h2c(ctx: Ctx, port: int) -> Obs:
    """An HTTP/1.1 request to a pool of the h2c backend, which answers with the protocol the proxy spoke."""
    from integration.harness.grpc_lab import ensure_grpc

    ensure_grpc(ctx.lab)
    answer = _many(ctx, port, [{"path": "/"}])[0]
    body = answer.get("body")
    return {"status": answer["status"], "server": _server(answer),
            "backend_saw": body.strip() if isinstance(body, str) else body}


def p_curl(ctx: Ctx, port: int, args: list[str], path: str = "/", show: list[str] | None = None,
           scheme: str = "https") -> Obs:
    url = f"{scheme}://www.example.com:{port}{path}"
    found = ctx.run({"op": "curl", "args": [*args, "--resolve", f"www.example.com:{port}:{ctx.dep.ip}", url]})
    out: dict[str, Any] = {"ok": found["code"] == 0, "status": found["status"],
                           "http_version": found["http_version"]}
    for name in show or []:
        value = found["headers"].get(name)
        if name == "set-cookie" and value:  # its attribute names
            value = sorted({a.strip().split("=")[0].lower() for a in value.split(";")[1:] if a.strip()})
        out[name] = value
    return out


def p_tcp(ctx: Ctx, port: int, count: int, client: str = "c1") -> Obs:
    lines = [ctx.run({"op": "tcp", "target": ctx.target(port)}, client)["line"] for _ in range(count)]
    return sorted(set(lines), key=str)


def p_tcp_pair(ctx: Ctx, port: int) -> Obs:
    return ctx.run({"op": "tcp_pair", "target": ctx.target(port)})


def p_tcp_idle(ctx: Ctx, port: int, idle: float, timeout_ms: int) -> Obs:
    """A silent connection: greeted, then closed by the proxy once the TCP timeouts have passed."""
    found = ctx.run({"op": "tcp_idle", "target": ctx.target(port), "idle": idle})
    return {"greeting": found["greeting"], "closed": found["closed"],
            "after_the_timeout": found["closed"] and timeout_ms * 0.7 <= found["ms"] <= timeout_ms + 1500}


def p_logs(ctx: Ctx, port: int, count: int, kind: str) -> Obs:
    """``count`` requests with a marked path: how many access-log lines name it, with the format's fields."""
    mark = f"/logmark{int(time.time() * 1000) % 10**8}"
    _many(ctx, port, [{"path": f"{mark}-{i}?q=1"} for i in range(count)])
    fields = ("host=", "upstream=", "pool=", "upstream_time_ms=", "total_time_ms=") if kind == "text" else \
        ('"client":', '"host":', '"path":', '"status":', '"upstream":', '"pool":', '"upstream_time_ms":',
         '"total_time_ms":')

    def lines() -> list[str]:  # NGINX's access log; HAProxy's stderr, appended to logs/haproxy.log by ctlplane
        path = ctx.dep.state_dir / "logs" / ("access.log" if ctx.engine == "nginx" else "haproxy.log")
        text = path.read_text(errors="replace") if path.exists() else ""
        return [ln for ln in text.splitlines() if mark in ln]

    deadline = time.monotonic() + 4.0  # NGINX flushes its log buffer every second
    found = lines()
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.2)
        found = lines()
    return {"lines": len(found), "fields": all(all(f in ln for f in fields) for ln in found)}


def p_inside(ctx: Ctx, urls: list[str]) -> Obs:
    """GETs from inside the proxy's container (its loopback listeners): the statuses (0: no connection)."""
    out = []
    for url in urls:
        code = ctx.exec_proxy(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "3", url]).strip()
        out.append(int(code) if code.isdigit() else -1)
    return out


_PROCS = (  # pid, user, program, and whether it sees any mount (a chrooted process sees none of its namespace's)
    "import os,pwd\n"
    "for p in os.listdir('/proc'):\n"
    "    if p.isdigit():\n"
    "        try:\n"
    "            uid=os.stat('/proc/'+p).st_uid; cmd=open('/proc/'+p+'/cmdline','rb').read().split(b'\\0')[0]\n"
    "            mounts=len(open('/proc/'+p+'/mountinfo').read())\n"
    "            name=os.path.basename(cmd.decode().split()[0]).rstrip(':') if cmd.strip() else '-'\n"
    "            print(p, pwd.getpwuid(uid).pw_name, name, mounts)\n"
    "        except OSError: pass\n"
)


def p_workers(ctx: Ctx) -> Obs:
    """Who the proxy's processes run as (the master root, every worker the model's user), and whether the
    workers are chrooted (a process chrooted to a plain directory sees no mount at all)."""
    rows = [r.split() for r in ctx.exec_proxy(["python3", "-c", _PROCS]).splitlines()]
    engine = [r for r in rows if len(r) == 4 and r[2] == ctx.engine]
    masters = [p for p in engine if p[1] == "root"]
    workers = [p for p in engine if p[1] != "root"]
    return {"master_root": len(masters) == 1, "worker_users": sorted({p[1] for p in workers}),
            "workers_chrooted": bool(workers) and all(p[3] == "0" for p in workers)}


def p_reload_keeps(ctx: Ctx, port: int, kind: str) -> Obs:
    """Which backend serves a client before and after a reload (source address, or its cookie)."""
    if kind == "cookie":
        first = _many(ctx, port, [{}])[0]
        cookie = first["headers"].get("set-cookie", "").split(";")[0]
        req = {"headers": {"Cookie": cookie}}
    else:
        first, req = _many(ctx, port, [{}])[0], {}
    _reload(ctx)
    after = _many(ctx, port, [req] * 6)
    return {"same_server": {_server(a) for a in after} == {_server(first)}}


def p_slow_start(ctx: Ctx, port: int, count: int) -> Obs:
    """Server b of pool ``slow`` goes to maintenance and comes back; right after, how many of ``count`` requests
    it serves (half without slow start), and whether it serves at all a while later."""
    pools = json.loads(json.dumps(ctx.dep.model["pools"]))
    slow = next(p for p in pools if p["name"] == "slow")
    server_b = next(s for s in slow["servers"] if s["name"] == "b")
    server_b["state"] = "disabled"
    ctx.dep.update(pools=pools)
    server_b["state"] = "active"
    ctx.dep.update(pools=pools)
    first = [_server(a) for a in _many(ctx, port, [{}] * count)]
    deadline, back = time.monotonic() + 30.0, False
    while not back and time.monotonic() < deadline:  # the ramp goes on: b serves again within seconds
        back = "b" in [_server(a) for a in _many(ctx, port, [{}] * count)]
    print(f"{ctx.engine}: b served {first.count('b')} of {count} right after it came back")
    return {"b_share_small": first.count("b") <= count // 4, "b_back": back}


def p_reload_rate(ctx: Ctx, port: int, budget: int) -> Obs:
    """1 request per second, ``budget`` at once: the budget spent before a reload, then 20 requests after it.
    Without a hand-over of the counters all 20 would pass; at one request per second a reload gives back a few."""
    spent = _many(ctx, port, [{}] * budget)
    _reload(ctx)
    after = _many(ctx, port, [{}] * 20)
    print(f"{ctx.engine}: after the reload {[a['status'] for a in after]}")
    return {"spent_before": sum(a["status"] == 200 for a in spent) >= budget - 1,
            "refused_after": sum(a["status"] == 429 for a in after) >= 10}


def p_reload_cuts(ctx: Ctx, port: int) -> Obs:
    """drain_timeout 2s: a download still running 2s after a reload is cut; a shorter one completes."""
    import threading

    found: dict[str, Any] = {}
    # A first reload absorbs HAProxy's wait for its local peers' resync right after a cold start (up to 5 s,
    # so that rate counters survive the reload): the measured reload below then happens at once, and the
    # download is still running 2 s after it, whatever ran before this probe.
    _reload(ctx)
    long_req = _request(ctx, port, {"path": "/drip?chunks=12&ms=500"})
    short_req = _request(ctx, port, {"path": "/drip?chunks=3&ms=300"})
    runner = threading.Thread(target=lambda: found.update(
        answers=ctx.run({"op": "concurrent", "timeout": 12.0, "requests": [long_req, short_req]})))
    runner.start()
    time.sleep(0.3)
    _reload(ctx)
    runner.join(20)
    long_answer, short_answer = found["answers"]
    return {"long_cut": long_answer["status"] == -1, "short_complete": short_answer["status"] == 200}


def _reload(ctx: Ctx) -> None:
    """Apply the group's model with one more route (a change that needs a reload on both engines)."""
    from integration.harness.proxyinfo import generation

    before = generation(ctx.dep)
    services = json.loads(json.dumps(ctx.dep.model["services"]))
    stamp = f"/reload{int(time.monotonic() * 1000)}/"
    for svc in services:
        if svc["mode"] == "http":
            svc.setdefault("routes", []).append({"path_prefix": stamp, "pool": svc["default_pool"]})
    ctx.dep.update(services=services)
    after = generation(ctx.dep)
    assert after.workers != before.workers, (before, after)  # new workers: it was a reload
