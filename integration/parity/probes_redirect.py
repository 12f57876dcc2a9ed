"""Probes of redirects, literal answers and path rewrites (see ``probes``)."""

from __future__ import annotations

from typing import Any

from integration.parity.probes import Ctx, Obs, _request


def p_answers(ctx: Ctx, port: int, requests: list[dict[str, Any]], show: list[str], client: str = "c1") -> Obs:
    """Requests one after the other; per answer the asked-for facts: ``status``, ``location`` (the Location
    header), ``type`` (Content-Type), ``text`` (a body that is not the echo backend's JSON), ``uri`` (the path
    and query the backend received; None when no backend answered)."""
    spec = {"op": "requests", "requests": [_request(ctx, port, r) for r in requests]}
    out = []
    for answer in ctx.run(spec, client):
        body = answer.get("body")
        facts = {"status": answer["status"], "location": answer["headers"].get("location"),
                 "type": answer["headers"].get("content-type"),
                 "text": body if isinstance(body, str) else None,
                 "uri": body.get("uri") if isinstance(body, dict) else None}
        out.append({k: facts[k] for k in show})
    return out
