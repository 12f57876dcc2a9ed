"""The pure decisions of ``ctlplane watch``: when a burst of file events is
over (:class:`Debouncer`, with the clock passed in), which event paths matter
(:func:`relevant`, :func:`is_editor_temp`) and which directories to watch
(:func:`watch_dirs`). Nothing here touches the file system, threads or
watchdog; the loop that does lives in ``watch_loop.py``. A path matters when
it is the model or a referenced file (these win over every ignore rule), or a
directory or symlink on the way to one (a Kubernetes ``..data`` swap, a
certificate directory moved into place); editor temp files never do.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

QUIET = 0.2  # seconds without events before applying: editor saves and k8s swaps finish well within it
FINAL_EVENTS = frozenset({"closed", "moved"})  # watchdog event types that complete a save
MAX_WAIT = 2.0  # seconds: a continuous stream of events still applies at least this often
RECONCILE = 30.0  # seconds without a change after which the watcher checks the proxies again
# Members joining (Docker): a scale-up's start events reach the stream over seconds on a busy engine, with
# gaps longer than QUIET. Joins whose burst begins within JOIN_STORM of the last all-joins burst wait for
# JOIN_SETTLE without events (at most JOIN_MAX_WAIT): the first join still applies after QUIET.
JOIN_SETTLE = 1.0
JOIN_STORM = 2.0
JOIN_MAX_WAIT = 5.0

# vim: .name.swp/.swx/.swpx (any .sw? suffix), the 4913 write test, name~ backups;
# emacs: .#name lock links and #name# autosaves; generic: *.tmp, *.part, *.bak.
_TEMP = re.compile(r"(\.sw[a-px]x?|~|\.tmp|\.part|\.bak)$|^(4913|\.#.*|#.*#)$")


@dataclass
class Debouncer:
    """Coalesces events: due once ``quiet`` seconds passed since the last event, or ``max_wait`` seconds since
    the first one of the burst, whichever comes first — except that a burst that began after a quiet spell
    is due at once on the event that completes a save (``final``: a file closed after writing, or renamed
    into place), so a single save applies without waiting, while a stream of saves is still coalesced.

    Events that only add members (``joining``: a container started or became healthy) are patient when they
    follow other joins closely: such a burst waits for ``settle`` seconds without events (at most
    ``settle_max_wait``), so a scale-up is two applies however its events are spaced. One event that is not
    a join (a member leaving, a file saved) makes its burst due after the usual quiet period."""

    quiet: float = QUIET
    max_wait: float = MAX_WAIT
    settle: float = JOIN_SETTLE
    settle_max_wait: float = JOIN_MAX_WAIT
    storm_window: float = JOIN_STORM
    _first: float | None = field(default=None, repr=False)
    _last: float | None = field(default=None, repr=False)
    _final: float | None = field(default=None, repr=False)  # when a save of a burst that began idle completed
    _fresh: bool = field(default=True, repr=False)  # the pending burst began after a quiet spell
    _previous: float | None = field(default=None, repr=False)  # the last event of the burst before
    _joins_only: bool = field(default=True, repr=False)  # every event of the pending burst was a join
    _storm: bool = field(default=False, repr=False)  # the pending burst began soon after a burst of joins
    _previous_joins: float | None = field(default=None, repr=False)  # the last event of the last joins' burst

    def event(self, now: float, final: bool = False, joining: bool = False) -> None:
        if self._first is None:
            self._first = now
            self._fresh = self._previous is None or now - self._previous >= self.quiet
            self._joins_only = True
            self._storm = self._previous_joins is not None and now - self._previous_joins < self.storm_window
        self._last = now
        self._joins_only = self._joins_only and joining
        if final and self._fresh and self._final is None:
            self._final = now

    @property
    def pending(self) -> bool:
        return self._first is not None

    def deadline(self) -> float | None:
        """When the pending burst becomes due (None when nothing is pending)."""
        if self._first is None or self._last is None:
            return None
        if self._final is not None:
            return self._final
        quiet, max_wait = self.quiet, self.max_wait
        if self._joins_only and self._storm:
            quiet, max_wait = max(self.settle, quiet), max(self.settle_max_wait, max_wait)
        return min(self._last + quiet, self._first + max_wait)

    def due(self, now: float) -> bool:
        deadline = self.deadline()
        return deadline is not None and now >= deadline

    def reset(self) -> None:
        """Forget the burst (call when its apply starts: later events start a new burst)."""
        self._previous = self._last
        self._previous_joins = self._last if self._joins_only else None
        self._first = self._last = self._final = None


def is_editor_temp(path: str) -> bool:
    """True for the scratch files editors and atomic writers leave beside the real one."""
    return bool(_TEMP.search(os.path.basename(path)))


def relevant(path: str, watched: Iterable[str], model_path: str) -> bool:
    """Does an event on ``path`` (absolute) call for a new apply?

    ``watched`` holds the absolute paths of the model, every referenced file and
    every symlink met while resolving them (see ``watch_loop.watched_paths``).
    """
    watched = set(watched) | {model_path}
    if path in watched:
        return True
    if is_editor_temp(path):
        return False
    name = os.path.basename(path)
    if name == "..data":  # Kubernetes ConfigMap/Secret volumes swap this symlink atomically
        return os.path.dirname(path) in watch_dirs(watched)
    prefix = path.rstrip(os.sep) + os.sep
    return any(w.startswith(prefix) for w in watched)  # a directory (or a link to one) on the way


def watch_dirs(watched: Iterable[str]) -> set[str]:
    """The directories to watch (non-recursively): every watched path's parent."""
    return {os.path.dirname(p) for p in watched}
