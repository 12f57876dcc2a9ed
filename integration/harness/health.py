"""Taking echo backends down for real and bringing them back, for health-check tests.

:func:`stop` kills a backend's container (SIGKILL: its address then drops
packets, as a dead host does, so connects time out instead of being
refused); :func:`start` starts it again on the same address and waits for
its READY line. :func:`stopped` is the context manager tests use: whatever
happens in the test, the backends run again afterwards, so the module's lab
stays usable. :func:`timed_wait` is ``wait_until`` that also returns how long
the condition took.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from integration.harness.containers import Echo
from integration.harness.wait import wait_until

T = TypeVar("T")


def _ready_lines(echo: Echo) -> int:
    return echo.container.logs().count(b"READY")


def stop(echo: Echo) -> None:
    echo.container.stop(timeout=0)


def start(*echoes: Echo, timeout: float = 15.0) -> None:
    """Start the stopped ones among ``echoes`` (all at once) and wait until each printed READY again."""
    waiting = []
    for echo in echoes:
        echo.container.reload()
        if echo.container.status != "running":
            waiting.append((echo, _ready_lines(echo)))
            echo.container.start()
    for echo, before in waiting:
        wait_until(lambda e=echo, n=before: _ready_lines(e) > n, timeout=timeout,  # type: ignore[misc]
                   what=f"echo backend {echo.name} READY again")


@contextmanager
def stopped(*echoes: Echo) -> Iterator[None]:
    """The backends are down inside the block; they are started again when it ends, even on failure."""
    try:
        for echo in echoes:
            stop(echo)
        yield
    finally:
        start(*echoes)


def timed_wait(check: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05) -> tuple[T, float]:
    """``wait_until(check)``; returns its result and the seconds it took."""
    started = time.monotonic()
    result = wait_until(check, timeout=timeout, interval=interval, what=what)
    return result, time.monotonic() - started
