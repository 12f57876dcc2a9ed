"""Waiting for a condition with a deadline instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold in time (an AssertionError, so pytest reports it as a failure)."""


def wait_until(check: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> T:
    """Call ``check`` until it returns something truthy (returned) or ``timeout`` seconds pass (WaitTimeout).

    Exceptions raised by ``check`` count as "not yet"; the last one is reported on timeout.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
            if result:
                return result
            last = result
        except Exception as exc:  # noqa: BLE001 - not ready yet
            last = exc
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{what}: not true within {timeout:g}s (last: {last!r})")
        time.sleep(interval)
