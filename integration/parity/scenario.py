"""One row of the parity table: :class:`Scenario`, and the shorthands the table is written with.

See ``table`` for what the fields mean; ``_req`` builds a request of a probe's sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Scenario:
    id: str
    area: str
    says: str
    group: str
    probe: str
    args: dict[str, Any]
    expect: Any
    fields: tuple[str, ...]
    items: tuple[int, ...] = ()
    refused: dict[str, str] = field(default_factory=dict)  # engine -> a part of the located refusal
    differs: dict[str, Any] | None = None  # engine -> outcome, when documented instead of refused
    why: str = ""


def _req(path: str = "/", **kw: Any) -> dict[str, Any]:
    return {"path": path, **kw}


S = Scenario
R = "requests"
ST, SV = ["status"], ["status", "server"]
AREAS = ("Routing", "Balancing", "Persistence", "Limits", "Access lists", "Forwarded headers", "Request bodies",
         "Timeouts and retries", "Health", "Compression", "Caching", "TLS", "TCP", "Logs and internals", "Reloads",
         "WebSocket and HTTP/2", "PROXY protocol", "Redirects and rewrites", "Headers", "Authentication",
         "Error pages", "Per-route policies")
