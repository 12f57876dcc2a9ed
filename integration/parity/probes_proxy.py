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
