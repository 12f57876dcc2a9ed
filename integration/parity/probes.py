"""Probes: a scenario's request sequence, sent from the lab's clients, reduced to an outcome.

This module holds the context, the shared helpers and the HTTP request, balancing and limit
probes; ``probes_more`` the timing, health, cache, TLS, TCP, log, process and reload ones.

Each probe takes a :class:`Ctx` (the lab, one engine's deployment of the
scenario's group) and the scenario's arguments, and returns a small JSON-like
observation built so that the same behaviour gives the same value on both
engines: statuses, which backend answered, whether a header is there, whether
a count falls in the band the model promises. Raw traffic goes through
``parity_client.py`` inside a client container; backend hit counters are read
straight from the echo backends. Strings in arguments may name lab addresses
as ``{c1}``, ``{c2}``, ``{a}`` ...; :func:`resolve` fills them in.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from integration.harness.deploy import Deployment
from integration.harness.lab import Lab
from integration.harness.stats import fits_weights

SCRIPT = "/opt/ctlplane-harness/parity_client.py"
Obs = Any


@dataclass
class Ctx:
    lab: Lab
    dep: Deployment
    engine: str
    book: dict[str, str]

    def target(self, port: int) -> str:
        return f"{self.dep.ip}:{port}"

    def run(self, spec: dict[str, Any], client: str = "c1") -> Any:
        container = self.lab.clients[0 if client == "c1" else 1].container
        done = container.exec_run(["python3", SCRIPT, json.dumps(spec)], demux=True)
        out, err = (done.output[0] or b""), (done.output[1] or b"")
        if done.exit_code != 0:
            raise RuntimeError(f"parity_client failed ({done.exit_code}): {err.decode(errors='replace')[-2000:]}")
        return json.loads(out)

    def exec_proxy(self, argv: list[str]) -> str:
        done = self.dep.container.exec_run(argv)
        return bytes(done.output or b"").decode("utf-8", "replace")


def resolve(value: Any, book: dict[str, str]) -> Any:
    """``{c1}`` etc. replaced by the lab's addresses, recursively."""
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: book.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [resolve(v, book) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, book) for k, v in value.items()}
    return value


def _request(ctx: Ctx, port: int, req: dict[str, Any]) -> dict[str, Any]:
    headers = req.get("headers", {})
    pairs = [list(h) for h in headers] if isinstance(headers, list) else [[k, v] for k, v in headers.items()]
    return {"target": ctx.target(port), "path": req.get("path", "/"), "method": req.get("method", "GET"),
            "headers": pairs, "body": req.get("body", 0), "chunked": req.get("chunked", False),
            "no_host": req.get("no_host", False), "proxy": req.get("proxy"), "tls": req.get("tls", False),
            "version": req.get("version", "1.1")}


def _seen(answer: dict[str, Any]) -> dict[str, str]:
    body = answer.get("body")
    if isinstance(body, dict) and isinstance(body.get("headers"), dict):
        return {k.lower(): v for k, v in body["headers"].items()}
    return {}


def _server(answer: dict[str, Any]) -> str | None:
    return answer["headers"].get("x-server") if answer["status"] > 0 else None


def observe(answer: dict[str, Any], show: list[str]) -> dict[str, Any]:
    """The asked-for facts of one answer: status, server, res:<header>, has:<header>, seen:<header> (what the
    backend received), body_bytes (what the backend read)."""
    facts: dict[str, Any] = {}
    for key in show:
        kind, _, name = key.partition(":")
        if kind == "status":
            facts[key] = answer["status"]
        elif kind == "server":
            facts[key] = _server(answer)
        elif kind == "res":
            facts[key] = answer["headers"].get(name)
        elif kind == "has":
            facts[key] = name in answer["headers"]
        elif kind == "seen":
            facts[key] = _seen(answer).get(name)
        elif kind == "body_bytes":
            body = answer.get("body")
            facts[key] = body.get("body_bytes") if isinstance(body, dict) else None
    return facts


def p_requests(ctx: Ctx, port: int, requests: list[dict[str, Any]], show: list[str], client: str = "c1",
               keepalive: bool = False) -> Obs:
    """Requests one after the other; the asked-for facts of each answer."""
    spec = {"op": "requests", "keepalive": keepalive, "requests": [_request(ctx, port, r) for r in requests]}
    return [observe(a, show) for a in ctx.run(spec, client)]


def p_concurrent(ctx: Ctx, port: int, request: dict[str, Any], count: int, client: str = "c1",
                 timeout: float = 5.0, stagger: float = 0.0) -> Obs:
    """``count`` copies of one request at once (or ``stagger`` seconds apart): the sorted statuses."""
    spec = {"op": "concurrent", "timeout": timeout, "stagger": stagger,
            "requests": [_request(ctx, port, request)] * count}
    return sorted(a["status"] for a in ctx.run(spec, client))


def _many(ctx: Ctx, port: int, requests: list[dict[str, Any]], client: str = "c1") -> list[dict[str, Any]]:
    return ctx.run({"op": "requests", "requests": [_request(ctx, port, r) for r in requests]}, client)


def p_distribution(ctx: Ctx, port: int, count: int, weights: dict[str, float]) -> Obs:
    """Answers per backend fit the weights (chi-square, p = 0.001), every answer 200."""
    answers = _many(ctx, port, [{"path": f"/d{i}"} for i in range(count)])
    counts = Counter(_server(a) for a in answers)
    fits, _, _ = fits_weights(counts, weights)
    return {"all_ok": all(a["status"] == 200 for a in answers), "servers": sorted(k for k in counts if k),
            "fits_weights": fits}


def p_least_conn(ctx: Ctx, port: int) -> Obs:
    """Backend a answers slowly: with requests in parallel, least connections sends most of them to b."""
    ctx.lab.control("a", "slow?ms=300")
    answers = ctx.run({"op": "threads", "threads": 4, "each": 10, "request": _request(ctx, port, {"path": "/l"})})
    counts = Counter(_server(a) for a in answers)
    return {"all_ok": all(a["status"] == 200 for a in answers), "b_serves_most": counts["b"] >= 2 * counts["a"]}


def p_spread(ctx: Ctx, port: int, count: int) -> Obs:
    counts = Counter(_server(a) for a in _many(ctx, port, [{"path": f"/r{i}"} for i in range(count)]))
    return {"servers": sorted(k for k in counts if k), "each_over_10_percent": min(counts.values()) > count / 10}


def p_per_client(ctx: Ctx, port: int, count: int) -> Obs:
    """Each client (its own source address) is answered by one backend only."""
    out = {}
    for client in ("c1", "c2"):
        answers = _many(ctx, port, [{"path": f"/c{i}"} for i in range(count)], client)
        out[client] = len({_server(a) for a in answers}) == 1 and all(a["status"] == 200 for a in answers)
    return out


def p_hash_key(ctx: Ctx, port: int, kind: str) -> Obs:
    """One key value always reaches one backend; twelve values reach at least two."""
    def req(v: str) -> dict[str, Any]:
        if kind == "header":
            return {"headers": {"X-Key": v}}
        if kind == "cookie":
            return {"headers": {"Cookie": f"k={v}"}}
        return {"path": f"/same?q={v}"}

    same = {_server(a) for a in _many(ctx, port, [req("one")] * 10)}
    spread = {_server(a) for a in _many(ctx, port, [req(f"v{i}") for i in range(12)])}
    return {"same_key_one_server": len(same) == 1, "keys_spread": len(spread) >= 2}


def p_cookie(ctx: Ctx, port: int, visitors: int = 6, values: bool = False) -> Obs:
    """New visitors get a cookie (its attributes, with their values if asked, names in lower case) and are
    balanced; with it they stay on their backend."""
    firsts = _many(ctx, port, [{}] * visitors)
    cookies = [a["headers"].get("set-cookie", "") for a in firsts]
    attrs = sorted({_attribute(a, values) for c in cookies for a in c.split(";")[1:] if a.strip()})
    sticky = True
    for first, cookie in zip(firsts, cookies, strict=True):
        answers = _many(ctx, port, [{"headers": {"Cookie": cookie.split(";")[0]}}] * 8)
        sticky &= {_server(a) for a in answers} == {_server(first)}
    return {"cookie_attributes": attrs, "sticky": sticky, "first_visits_spread": len({_server(a) for a in firsts}) > 1}


def _attribute(text: str, value: bool) -> str:
    name, _, given = text.strip().partition("=")
    return f"{name.lower()}={given}" if value and given else name.lower()


def p_conn_limit(ctx: Ctx, port: int) -> Obs:
    """Six slow requests from c1 (limit 2), 0.15 s apart, all in progress together; c2 meanwhile is not limited
    by c1. (Sent in the same instant, HAProxy may refuse one that NGINX admits: it counts a request in progress
    when its rules run, so two arriving together on two threads each see the other.)"""
    import threading

    found: dict[str, Any] = {}
    slow = _request(ctx, port, {"path": "/slow?sleep_ms=1500"})
    worker = threading.Thread(target=lambda: found.update(c1=ctx.run({"op": "concurrent", "stagger": 0.15,
                                                                       "requests": [slow] * 6})))
    worker.start()
    time.sleep(0.5)
    other = _many(ctx, port, [{}] * 2, "c2")
    worker.join(30)
    statuses = Counter(str(a["status"]) for a in found["c1"])
    return {"c1": dict(sorted(statuses.items())), "c2": [a["status"] for a in other]}


def p_rate(ctx: Ctx, port: int, rate: int, burst: int) -> Obs:
    """A burst at once, then paced traffic above the rate: how many pass at once, and per second later."""
    burst_answers = ctx.run({"op": "concurrent", "requests": [_request(ctx, port, {})] * (burst + 10)})
    passed = sum(a["status"] == 200 for a in burst_answers)
    time.sleep((burst + 1) / rate + 1.5)  # the budget fills up again
    paced = ctx.run({"op": "paced", "request": _request(ctx, port, {}), "rate": 3 * rate, "duration": 4.6})
    steady = [ms for ms, status in paced if status == 200 and 2500 <= ms < 4500]  # the burst allowance spent
    per_second = len(steady) / 2.0
    per_window = [sum(1 for ms, st in paced if st == 200 and k * 500 <= ms < (k + 1) * 500) for k in range(9)]
    print(f"{ctx.engine}: {passed} of {burst + 10} passed at once; accepted per 500 ms while paced at "
          f"{3 * rate}/s: {per_window}; steady {per_second}/s")
    return {"at_once": "burst+1" if burst + 1 <= passed <= burst + 3 else passed,
            "sustained": "rate" if 0.7 * rate <= per_second <= 1.3 * rate else per_second,
            "refused_status": sorted({a["status"] for a in burst_answers} - {200})}


def _registry() -> dict[str, Callable[..., Obs]]:
    from integration.parity import (probes_auth, probes_errors, probes_headers, probes_more, probes_proxy,
                                    probes_redirect, probes_tls)

    found = {}
    for module in (globals(), vars(probes_more), vars(probes_tls), vars(probes_proxy), vars(probes_redirect),
                   vars(probes_headers), vars(probes_auth), vars(probes_errors)):
        found.update({name.removeprefix("p_"): fn for name, fn in module.items()
                      if name.startswith("p_") and callable(fn)})
    return found


PROBES: dict[str, Callable[..., Obs]] = _registry()
