"""``ctlplane watch`` running in a thread for a test, stopped cleanly afterwards.

``Watching(model_path)`` starts :func:`ctlplane.watch_loop.run_watch` on a
thread with its own stop event and collects every reported
:class:`~ctlplane.watch_loop.Cycle` with the monotonic time it was reported;
:meth:`Watching.wait_cycles` waits for the n-th one; :meth:`Watching.stop`
sets the event and joins the thread (run_watch stops and joins its
watchdog observer before returning), failing if it does not end in time.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ctlplane.watch_loop import Cycle, run_watch
from integration.harness.wait import wait_until


class Watching:
    def __init__(self, model_path: Path) -> None:
        self.model_path = model_path
        self.cycles: list[tuple[float, Cycle]] = []  # (time.monotonic() when reported, cycle)
        self.crashed: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ctlplane-watch", daemon=True)

    def _run(self) -> None:
        try:
            run_watch(str(self.model_path), stop=self._stop,
                      report=lambda cycle: self.cycles.append((time.monotonic(), cycle)))
        except BaseException as exc:  # noqa: BLE001 - surfaced by wait_cycles/stop
            self.crashed.append(exc)

    def __enter__(self) -> Watching:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_cycles(self, n: int, timeout: float = 20.0) -> list[tuple[float, Cycle]]:
        """Wait until ``n`` cycles were reported (the first is the apply at start); return them all."""
        wait_until(lambda: self.crashed or len(self.cycles) >= n, timeout=timeout, what=f"{n} watch cycle(s)")
        if self.crashed:
            raise AssertionError(f"watch loop crashed: {self.crashed[0]!r}")
        return list(self.cycles)

    def stop(self, timeout: float = 15.0) -> float:
        """Stop the loop; return how long stopping took (seconds)."""
        started = time.monotonic()
        self._stop.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"watch loop did not stop within {timeout:g}s"
        if self.crashed:
            raise AssertionError(f"watch loop crashed: {self.crashed[0]!r}")
        return time.monotonic() - started
