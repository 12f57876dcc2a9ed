"""The soak gate of a fleet node, pure: the share of 5xx answers in a proxy's access log since an apply against
the share before it, and whether every pool has a healthy server.

Both access log formats of ``ctlplane.render.access_log`` are read: ``json`` (one object per line, its
``status``) and ``default`` (the combined format: the status follows the quoted request line), on both engines;
lines that are not access lines (HAProxy's own messages share its log) are skipped. :func:`judge` says why a
gate is breached, or None.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ctlplane.model.fleet import Gate

_TEXT_STATUS = re.compile(r'\] "(?:[^"\\]|\\.)*" ([1-5][0-9]{2}) ')
_JSON_START = '{"client":'


@dataclass(frozen=True)
class Answers:
    """Requests counted in a stretch of access log, and how many of them were answered 5xx."""

    total: int = 0
    errors: int = 0

    @property
    def share(self) -> float:
        return self.errors / self.total if self.total else 0.0

    def __add__(self, other: Answers) -> Answers:
        return Answers(self.total + other.total, self.errors + other.errors)


def statuses(text: str) -> Iterable[int]:
    """The HTTP status of every access-log line in ``text``."""
    for line in text.splitlines():
        start = line.find(_JSON_START)
        if start >= 0:
            try:
                status = json.loads(line[start:]).get("status")
            except (ValueError, AttributeError):
                continue
            if isinstance(status, int):
                yield status
            continue
        match = _TEXT_STATUS.search(line)
        if match:
            yield int(match.group(1))


def count(text: str) -> Answers:
    found = list(statuses(text))
    return Answers(len(found), sum(500 <= s <= 599 for s in found))


def judge(gate: Gate, before: Answers, since: Answers, unhealthy: Iterable[str]) -> str | None:
    """Why the gate is breached (None: it holds): a rise of the 5xx share above ``max_5xx_increase``, or (with
    ``pools_healthy``) a pool without a healthy server (``unhealthy``: each one's summary)."""
    rise = since.share - before.share
    if since.total and rise > gate.max_5xx_increase:
        return (f"the share of 5xx answers rose from {before.share:.1%} ({before.errors} of {before.total}) to "
                f"{since.share:.1%} ({since.errors} of {since.total}), more than the gate's "
                f"{gate.max_5xx_increase:.1%}")
    bad = list(unhealthy) if gate.pools_healthy else []
    if bad:
        return "pools without a healthy server: " + "; ".join(bad)
    return None
