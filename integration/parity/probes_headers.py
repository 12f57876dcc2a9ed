"""Probes of the request id (see ``probes``): generated or kept, the same at the server, in the answer and in
the access log."""

from __future__ import annotations

import re
import time
from typing import Any

from integration.parity.probes import Ctx, Obs, _many, _seen

HEX32 = re.compile(r"[0-9a-f]{32}")


def p_request_id(ctx: Ctx, port: int, sent: str) -> Obs:
    """A request without X-Request-ID and one with ``sent``: whether the generated id is 32 hex digits and the
    answer carries the id the server got; the kept id as the server and the client saw it."""
    fresh, kept = _many(ctx, port, [{"path": "/rid"}, {"path": "/rid", "headers": {"X-Request-ID": sent}}])
    generated = _seen(fresh).get("x-request-id") or ""
    return {"generated_hex32": bool(HEX32.fullmatch(generated)),
            "answer_has_it": fresh["headers"].get("x-request-id") == generated,
            "kept_seen": _seen(kept).get("x-request-id"), "kept_answer": kept["headers"].get("x-request-id")}


def _log_line(ctx: Ctx, mark: str) -> str | None:
    path = ctx.dep.state_dir / "logs" / ("access.log" if ctx.engine == "nginx" else "haproxy.log")
    text = path.read_text(errors="replace") if path.exists() else ""
    return next((ln for ln in text.splitlines() if mark in ln), None)


def _wait_line(ctx: Ctx, mark: str) -> str:
    deadline = time.monotonic() + 5.0  # NGINX flushes its log buffer every second
    found = _log_line(ctx, mark)
    while found is None and time.monotonic() < deadline:
        time.sleep(0.2)
        found = _log_line(ctx, mark)
    return found or ""


def p_request_id_log(ctx: Ctx, port: int, kind: str, sent: str) -> Obs:
    """Two marked requests, one sending ``sent`` as X-Request-ID: whether each access-log line (text or json)
    names the id the server got."""
    mark = f"/ridmark{int(time.time() * 1000) % 10**8}"
    answers: list[dict[str, Any]] = _many(ctx, port, [{"path": f"{mark}-gen"},
                                                      {"path": f"{mark}-kept", "headers": {"X-Request-ID": sent}}])
    found = {}
    for answer, which in zip(answers, ("gen", "kept"), strict=True):
        rid = _seen(answer).get("x-request-id") or "?"
        field = f'request_id="{rid}"' if kind == "text" else f'"request_id":"{rid}"'
        found[which] = field in _wait_line(ctx, f"{mark}-{which}")
    return {"generated_logged": found["gen"], "kept_logged": found["kept"]}
