"""Pausing Python's cyclic garbage collector while a model is loaded or rendered.

Loading and rendering a large model allocate hundreds of thousands of small objects (validated models,
view records, text pieces) that live until the step ends, and none of them form cycles that need the
collector: reference counting frees them. With the collector running, every few hundred allocations it
walks the young objects again and, now and then, every object of the process; at 10,000 servers that was
10-20 % of the time (measured with ``gc.callbacks``). Pausing it for the step and restoring it afterwards
keeps that work out; nested or concurrent steps leave it to the outermost to restore. Planning and applying
are paused steps too (``apply.prepare``, ``apply.apply_prepared``): they hold the new build beside the old one
while the transaction reads the running proxy's server states and decides, and a ``watch`` cycle at 10,000
servers took about 40 ms less with the collector resting through the whole cycle (A/B alternated in one run).

A CLI command pauses it from its start (:func:`command_paused`): a short command's imports build thousands of
long-lived objects (pydantic's validators, the renderer's classes) and the collector walked them some 70 times,
about 10 ms of a 300 ms validation. A command that runs until it is stopped (``watch``, the fleet agent, a
fleet rollout) calls :func:`resume_for_long_run` first, and the collector runs again from there on. When the
CLI's process ends, what is still alive is frozen first (:func:`freeze_at_exit`): the interpreter's last
collection, which runs even with the collector off, then does not walk the whole model and every library's
objects only to free them with the process (about 40 ms of a 300 ms validation, measured).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import threading
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
_LOCK = threading.Lock()
_state = {"depth": 0, "enabled_before": True, "freeze_at_exit": False}


def paused_gc(step: Callable[P, R]) -> Callable[P, R]:
    """``step`` runs with the cyclic collector paused (restored as it was when the last running step ends)."""

    @functools.wraps(step)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with _LOCK:
            if _state["depth"] == 0:
                _state["enabled_before"] = gc.isenabled()
                gc.disable()
            _state["depth"] += 1
        try:
            return step(*args, **kwargs)
        finally:
            with _LOCK:
                _state["depth"] -= 1
                if _state["depth"] == 0 and _state["enabled_before"]:
                    gc.enable()

    return run


@contextlib.contextmanager
def command_paused() -> Iterator[None]:
    """A CLI command runs with the collector paused (unless it resumes it), restored as it was afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def resume_for_long_run() -> None:
    """A command that runs until stopped (or for minutes) collects cycles again from here on."""
    gc.enable()


def freeze_at_exit() -> None:
    """Register (once) the freeze of every live object when the process exits, before its last collection."""
    if not _state.get("freeze_at_exit"):
        _state["freeze_at_exit"] = True
        atexit.register(gc.freeze)
