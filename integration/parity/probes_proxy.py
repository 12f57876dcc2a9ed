"""Probes of the PROXY protocol (see ``probes``): a TCP connection that may start with a PROXY header."""

from __future__ import annotations

from typing import Any

from integration.parity.probes import Ctx, Obs


def p_proxied_tcp(ctx: Ctx, port: int, proxy: dict[str, Any] | None = None) -> Obs:
    """One TCP connection (starting with ``proxy``'s PROXY header when given): the first line it got."""
    from integration.harness.proxy_lab import ensure_proxy_backend

    ensure_proxy_backend(ctx.lab)
    found = ctx.run({"op": "tcp", "target": ctx.target(port), "proxy": proxy})
    return {"line": found.get("line")}


def p_proxied_log(ctx: Ctx, port: int, proxy: dict[str, Any]) -> Obs:
    """One request starting with ``proxy``'s PROXY header: the client address its access-log line starts with
    (the combined format's first field, on both engines)."""
    import time

    from integration.parity.probes import _many

    mark = f"/proxymark{int(time.time() * 1000) % 10**8}"
    [answer] = _many(ctx, port, [{"path": mark, "proxy": proxy}])
    path = ctx.dep.state_dir / "logs" / ("access.log" if ctx.engine == "nginx" else "haproxy.log")

    def line() -> str | None:
        text = path.read_text(errors="replace") if path.exists() else ""
        return next((ln for ln in text.splitlines() if mark in ln), None)

    deadline = time.monotonic() + 5.0  # NGINX flushes its log buffer every second
    found = line()
    while found is None and time.monotonic() < deadline:
        time.sleep(0.2)
        found = line()
    return {"status": answer["status"], "client": found.split()[0] if found else None}
