"""Traffic from a client container, and what came back.

:func:`run_load` runs ``load.py`` inside a client container with one
``exec_run`` and parses its JSON. :class:`Traffic` answers the questions
tests ask: how many answers each backend gave (``counts``), which backends
served each distinct request (``servers_by_request``), and whether anything
failed (``failures``). Bounded on both sides: the script stops at ``count``
requests or ``deadline`` seconds, and the Docker call has the client's timeout.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

LOAD_SCRIPT = "/opt/ctlplane-harness/load.py"
MAX_COUNT = 20_000
MAX_DEADLINE = 45.0


@dataclass(frozen=True)
class Request:
    """One request shape: ``target`` is ``IP:PORT``; headers may include ``Host``."""

    target: str
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "path": self.path, "headers": dict(self.headers), "method": self.method}


@dataclass(frozen=True)
class Result:
    index: int
    status: int  # HTTP status; 0 for a TCP answer; -1 for a failure
    server: str  # X-Server (HTTP) / first line (TCP); the error text on failure
    ms: float


@dataclass
class Traffic:
    """The results of one load run, in request order."""

    results: list[Result]
    elapsed: float
    unsent: int
    shapes: int  # how many request shapes were cycled through

    def ok(self, status: int | None = 200) -> list[Result]:
        return [r for r in self.results if (r.status == status if status is not None else r.status >= 0)]

    def failures(self) -> list[Result]:
        return [r for r in self.results if r.status < 0]

    def counts(self, status: int | None = 200) -> Counter[str]:
        """Answers per backend name (only answers with ``status``; None: every non-failure)."""
        return Counter(r.server for r in self.ok(status))

    def statuses(self) -> Counter[int]:
        return Counter(r.status for r in self.results)

    def servers_by_request(self) -> dict[int, set[str]]:
        """For each request shape (index into the ``requests`` list), the backends that answered it."""
        found: dict[int, set[str]] = {}
        for r in self.ok(None):
            found.setdefault(r.index % self.shapes, set()).add(r.server)
        return found

    def summary(self) -> str:
        return (f"{len(self.results)} answers in {self.elapsed:.2f}s, unsent {self.unsent}, "
                f"statuses {dict(self.statuses())}, servers {dict(self.counts(None))}, "
                f"first failures {[r.server for r in self.failures()[:3]]}")


def run_load(container: Any, requests: list[Request] | Request, *, count: int | None = None, concurrency: int = 4,
             timeout: float = 5.0, deadline: float = 20.0, mode: str = "http", keepalive: bool = True,
             retry: bool = True) -> Traffic:
    """Run the load script in ``container`` and return its results (``retry=False``: no second try on a
    failed keep-alive connection, and each failure says whether its connection was reused)."""
    shapes = [requests] if isinstance(requests, Request) else list(requests)
    total = len(shapes) if count is None else count
    if not shapes or not 0 < total <= MAX_COUNT or not 0 < deadline <= MAX_DEADLINE:
        raise ValueError(f"load must be bounded: 1..{MAX_COUNT} requests, deadline 0..{MAX_DEADLINE}s")
    spec = {"mode": mode, "requests": [s.as_dict() for s in shapes], "count": total, "concurrency": concurrency,
            "timeout": timeout, "deadline": deadline, "keepalive": keepalive, "retry": retry}
    result = container.exec_run(["python3", LOAD_SCRIPT, json.dumps(spec)], demux=True)
    out, err = (result.output[0] or b""), (result.output[1] or b"")
    if result.exit_code != 0:
        raise RuntimeError(f"load script failed ({result.exit_code}): {err.decode(errors='replace')[-2000:]}")
    data = json.loads(out)
    results = [Result(int(i), int(status), str(server), float(ms)) for i, status, server, ms in data["results"]]
    return Traffic(results, float(data["elapsed"]), int(data["unsent"]), len(shapes))
