"""Probes of custom error pages (see ``probes``): which body an answer carries, with its status and headers."""

from __future__ import annotations

from typing import Any

from integration.parity.probes import Ctx, Obs, _many


def _page(answer: dict[str, Any]) -> str:
    """``4xx`` / ``5xx`` (the group's pages name themselves), ``backend`` (an echo answer), else ``other``."""
    body = answer.get("body")
    if isinstance(body, dict) and "server" in body:
        return "backend"
    text = body if isinstance(body, str) else ""
    for name in ("4xx", "5xx"):
        if f"ctlplane-page-{name}" in text:
            return name
    return "other"


def p_error_page(ctx: Ctx, port: int, requests: list[dict[str, Any]], client: str = "c1") -> Obs:
    """Requests one after the other: each answer's status, which page (or the backend's body) it carries, its
    Content-Type and Cache-Control."""
    answers = _many(ctx, port, requests, client)
    return [{"status": a["status"], "page": _page(a), "type": a["headers"].get("content-type"),
             "cache": a["headers"].get("cache-control")} for a in answers]
