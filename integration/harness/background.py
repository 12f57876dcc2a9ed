"""Traffic that keeps flowing in a thread while a test changes the proxy (reloads, edits under watch).

``Background(client, request)`` runs bounded load runs back to back, each at
most ``chunk`` seconds, in a thread until :meth:`Background.stop`, which
joins it and returns every answer as one :class:`Traffic` (indices
renumbered so that they follow sending order across runs). The whole run is
capped at ``limit`` seconds, so a test that forgets to stop cannot load the
lab forever. Between two runs there is a gap of one ``exec`` (~0.1 s);
keep-alive connections live for one run.
"""

from __future__ import annotations

import threading
import time

from integration.harness.containers import Client
from integration.harness.traffic import MAX_COUNT, Request, Result, Traffic


class Background:
    def __init__(self, client: Client, request: Request, *, concurrency: int = 2, keepalive: bool = True,
                 retry: bool = True, chunk: float = 2.0, limit: float = 90.0) -> None:
        self.client, self.request = client, request
        self.options = {"concurrency": concurrency, "keepalive": keepalive, "retry": retry}
        self.chunk, self.limit = chunk, limit
        self.runs: list[Traffic] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"traffic-{client.name}", daemon=True)

    def __enter__(self) -> Background:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        ends = time.monotonic() + self.limit
        while not self._stop.is_set():
            deadline = min(self.chunk, ends - time.monotonic())
            if deadline <= 0.05:
                return
            try:
                self.runs.append(self.client.load(self.request, count=MAX_COUNT, deadline=deadline, **self.options))
            except BaseException as exc:  # noqa: BLE001 - reported by stop()
                self.errors.append(exc)
                return

    def stop(self) -> Traffic:
        """Stop after the current run (at most ``chunk`` seconds) and return everything that came back."""
        self._stop.set()
        self._thread.join(self.chunk + 30)
        if self._thread.is_alive():
            raise RuntimeError(f"background traffic from {self.client.name} did not stop")
        if self.errors:
            raise self.errors[0]
        return merge(self.runs)


def merge(runs: list[Traffic]) -> Traffic:
    """One Traffic from consecutive runs of a single request shape, in sending order.

    ``unsent`` is 0: the runs are bounded by their deadline, not by a count.
    """
    results: list[Result] = []
    for run in runs:
        base = len(results)
        results += [Result(base + n, r.status, r.server, r.ms) for n, r in enumerate(sorted(run.results,
                                                                                          key=lambda r: r.index))]
    return Traffic(results, sum(r.elapsed for r in runs), 0, 1)
