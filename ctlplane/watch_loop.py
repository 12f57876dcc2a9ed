"""The effects of ``ctlplane watch``: a watchdog observer on the directories
that hold the model, every file it references and every symlink met on the
way, feeding a :class:`~ctlplane.watch.Debouncer`; one worker (the caller's
thread) that applies when a burst is over, never two applies at once, and
hands each outcome to an injected ``report`` as a :class:`Cycle`. Errors
never stop the loop: the proxies keep their last good configuration (apply
guarantees it) and the next save is tried again. Before each apply the
watched set is recomputed from the model, so a newly referenced certificate
is watched; an unloadable model keeps the previous set. An optional event
source (``events``: Docker's, for discovered pools) pokes the same debouncer,
so a burst of container events is one apply too. watchdog is imported only
here, and only when the loop starts.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ctlplane.errors import CtlplaneError, ModelError
from ctlplane.transaction import ApplyResult

if TYPE_CHECKING:
    from ctlplane.apply import Prepared
    from ctlplane.discovery import Source
    from ctlplane.ocsp import Responder
    from ctlplane.pipeline import Build
from ctlplane.watch import FINAL_EVENTS, MAX_WAIT, QUIET, RECONCILE, Debouncer, relevant, watch_dirs

ApplyFn = Callable[[str], list[ApplyResult]]
ReferencedFn = Callable[[str], Iterable[str]]
RECONCILE_TRIGGER = "reconcile"
TICK = 0.1  # seconds: the longest the idle loop waits before looking at the stop event again
MAX_LINKS = 40  # like the kernel's ELOOP limit


class Poke(Protocol):
    """How ``events`` tell the loop that something changed (``joining``: it can only add members)."""

    def __call__(self, reason: str, joining: bool = False) -> None: ...


class Events(Protocol):
    """Another source of changes than files (Docker's event stream): told the model before each apply."""

    def refresh(self, model_path: str, poke: Poke) -> None:
        """Follow what the model at ``model_path`` needs; call ``poke(reason)`` when something changed
        (``joining=True`` when it only adds members)."""

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Cycle:
    """One apply of the watch loop: why it ran, what it did or the error, what is watched."""

    trigger: str  # "start" or the path whose change caused it
    results: tuple[ApplyResult, ...] = ()
    error: CtlplaneError | None = None
    watching: tuple[str, ...] = ()  # directories watched while this apply ran
    unwatchable: tuple[str, ...] = ()  # wanted directories not watched (missing: an ancestor stands in)


class Planner:
    """The default work of a cycle, building the model once: ``referenced`` (asked first, to watch the files
    the model names) builds it and keeps the result, ``apply`` applies that build (or builds it, when the
    first step could not). ``discovery``: the source of discovered pool members; ``ocsp``: the OCSP responders
    (by default the network); ``notes``: told the prepared apply before it runs (the CLI prints which
    containers were left out and the OCSP warnings)."""

    def __init__(self, discovery: Source | None = None, notes: Callable[[Prepared], None] | None = None,
                 ocsp: Responder | None = None) -> None:
        from ctlplane.apply import ocsp_responder

        self.discovery, self.notes, self.ocsp = discovery, notes, ocsp_responder(ocsp)
        self._built: tuple[str, Build] | None = None

    def referenced(self, path: str) -> tuple[str, ...]:
        from ctlplane.pipeline import build

        self._built = None
        try:
            built = build(path, discovery=self.discovery, ocsp=self.ocsp)
        except ModelError:
            return referenced_files(path)  # the apply reports the problem; watch what the model names meanwhile
        self._built = (path, built)
        return built.assets.watched

    def apply(self, path: str) -> list[ApplyResult]:
        from ctlplane.apply import apply_prepared, prepare

        built, self._built = self._built, None
        prepared = prepare(built[1] if built and built[0] == path else path, discovery=self.discovery,
                           ocsp=self.ocsp)
        if self.notes is not None:
            self.notes(prepared)
        return apply_prepared(prepared)


def default_apply(path: str) -> list[ApplyResult]:
    from ctlplane.apply import apply_model

    return apply_model(path)


def referenced_files(path: str) -> tuple[str, ...]:
    """Absolute paths of the files the model reads (certificates, keys); raises ModelError if it cannot load.

    When some referenced file is missing or unusable, its path is still returned, so that its
    directory is watched and the file appearing triggers the next apply.
    """
    from ctlplane.model.assets import read_assets, resolve_path
    from ctlplane.model.load import load_file
    from ctlplane.model.service import HttpService

    loaded = load_file(path)
    try:
        return read_assets(loaded).watched
    except ModelError:
        return tuple(str(resolve_path(loaded.base_dir, value))
                     for svc in loaded.model.services if isinstance(svc, HttpService) and svc.tls
                     for cert in svc.tls.certificates for value in (cert.cert, cert.key))


def link_chain(path: str) -> list[str]:
    """``path`` (absolute), every symlink met while resolving it, and where it finally leads."""
    current = os.path.abspath(path)
    chain = [current]
    for _ in range(MAX_LINKS):
        link = _first_link(current)
        if link is None:
            break
        rest = os.path.relpath(current, link)
        target = os.path.join(os.path.dirname(link), os.readlink(link))
        current = os.path.normpath(os.path.join(target, rest) if rest != "." else target)
        chain.append(link)
    return list(dict.fromkeys([*chain, current]))


def _first_link(path: str) -> str | None:
    parts = Path(path).parts
    for i in range(2, len(parts) + 1):
        prefix = os.path.join(*parts[:i])
        if os.path.islink(prefix):
            return prefix
    return None


def _existing(directory: str) -> str:
    """``directory`` or, while it does not exist, its nearest existing ancestor (whose events say when it appears)."""
    while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
        directory = os.path.dirname(directory)
    return directory


def watched_paths(model_path: str, referenced: Iterable[str]) -> frozenset[str]:
    return frozenset(p for f in (model_path, *referenced) for p in link_chain(f))


def apply_once(model_path: str, apply: ApplyFn = default_apply, trigger: str = "start") -> Cycle:
    """Run one apply and capture its outcome; nothing escapes but KeyboardInterrupt/SystemExit."""
    return guarded(trigger, lambda: Cycle(trigger, tuple(apply(model_path))))


def guarded(trigger: str, work: Callable[[], Cycle]) -> Cycle:
    """``work()``, with every error turned into a Cycle that reports it (a watcher never dies of one)."""
    try:
        return work()
    except CtlplaneError as error:
        return Cycle(trigger, error=error)
    except Exception as exc:  # noqa: BLE001 - a long-running watcher reports a bug and keeps going
        return Cycle(trigger, error=CtlplaneError(f"unexpected {type(exc).__name__}: {exc}"))


def _event_types() -> list[type[Any]]:
    from watchdog import events as e

    # Not opened/closed_no_write (our own reads of the model) nor DirModified (any entry of the dir changed).
    return [e.FileCreatedEvent, e.FileModifiedEvent, e.FileClosedEvent, e.FileAttribEvent, e.FileMovedEvent,
            e.FileDeletedEvent, e.DirCreatedEvent, e.DirMovedEvent, e.DirDeletedEvent]


class _Watcher:
    """State shared by the observer thread (``on_event``) and the worker (everything else)."""

    def __init__(self, model_path: str, apply: ApplyFn, referenced: ReferencedFn, debouncer: Debouncer,
                 clock: Callable[[], float], reconcile: float = RECONCILE, events: Events | None = None) -> None:
        self.model = os.path.abspath(model_path)
        self.events = events
        self.apply, self.referenced, self.debouncer, self.clock = apply, referenced, debouncer, clock
        self.reconcile = reconcile
        self.last = clock()
        self.lock = threading.Lock()  # guards debouncer, trigger, stale
        self.wake = threading.Event()
        self.refs: tuple[str, ...] = ()
        self.watched: frozenset[str] = frozenset({self.model})  # replaced whole; read without the lock
        self.watches: dict[str, Any] = {}  # directory -> ObservedWatch
        self.stale: set[str] = set()  # watched directories deleted or moved away since
        self.trigger = "start"

    def on_event(self, event: Any) -> None:
        paths = [os.fsdecode(p) for p in (event.src_path, event.dest_path) if p]
        if event.is_directory and event.event_type in ("deleted", "moved") and paths[0] in self.watches:
            with self.lock:
                self.stale.add(paths[0])
        hit = next((p for p in paths if relevant(p, self.watched, self.model)), None)
        if hit is not None:
            with self.lock:
                if not self.debouncer.pending:
                    self.trigger = hit
                self.debouncer.event(self.clock(), final=event.event_type in FINAL_EVENTS)
            self.wake.set()

    def poke(self, reason: str, joining: bool = False) -> None:
        """A change seen by ``events`` (any thread): like a relevant file event."""
        with self.lock:
            if not self.debouncer.pending:
                self.trigger = reason
            self.debouncer.event(self.clock(), joining=joining)
        self.wake.set()

    def next_burst(self, stop: threading.Event) -> str | None:
        """Wait (at most TICK) for a burst to be due; return its trigger and start a new burst."""
        with self.lock:
            deadline = self.debouncer.deadline()
        timeout = TICK if deadline is None else min(TICK, max(0.0, deadline - self.clock()))
        if timeout > 0 and not stop.is_set():
            self.wake.wait(timeout)
            self.wake.clear()
        with self.lock:
            if not self.debouncer.due(self.clock()):
                return None
            self.debouncer.reset()
            return self.trigger

    def refresh(self, observer: Any, handler: Any) -> tuple[str, ...]:
        """Recompute the watched paths and (re)schedule directories; return the unwatchable ones."""
        try:
            self.refs = tuple(self.referenced(self.model))
        except Exception:  # noqa: BLE001, S110 - the model does not load, or a file cannot be read: keep watching
            pass  # what it referenced last (the model itself always); the apply reports what is wrong
        self.watched = watched_paths(self.model, self.refs)
        if self.events is not None:
            self.events.refresh(self.model, self.poke)
        wanted = {_existing(d) for d in watch_dirs(self.watched)}
        with self.lock:
            stale, self.stale = self.stale, set()
        for directory in (set(self.watches) - wanted) | (stale & set(self.watches)):
            try:
                observer.unschedule(self.watches.pop(directory))
            except (KeyError, OSError):
                pass  # its emitter already ended with the directory
        missing = sorted(d for d in watch_dirs(self.watched) if _existing(d) != d)
        for directory in sorted(wanted - set(self.watches)):
            try:
                self.watches[directory] = observer.schedule(handler, directory, event_filter=_event_types())
            except OSError:
                missing.append(directory)
        return tuple(missing)

    def cycle(self, trigger: str, observer: Any, handler: Any) -> Cycle:
        self.last = self.clock()

        def work() -> Cycle:
            missing = self.refresh(observer, handler)
            done = apply_once(self.model, self.apply, trigger)
            return Cycle(done.trigger, done.results, done.error, tuple(sorted(self.watches)), missing)

        return guarded(trigger, work)

    def reconcile_due(self) -> bool:
        """No change for ``reconcile`` seconds: time to look at the proxies again (one killed by hand comes
        back; logs are rotated)."""
        return self.reconcile > 0 and self.clock() - self.last >= self.reconcile


def run_watch(model_path: str, *, stop: threading.Event, report: Callable[[Cycle], None],
              apply: ApplyFn | None = None, referenced: ReferencedFn | None = None,
              quiet: float = QUIET, max_wait: float = MAX_WAIT, clock: Callable[[], float] = time.monotonic,
              reconcile: float = RECONCILE, events: Events | None = None) -> None:
    """Apply now, then after every relevant burst of changes (files, and ``events`` when given), and every
    ``reconcile`` seconds without one (0: never), until ``stop`` is set.

    Returns once the observer is stopped and joined. ``report`` runs on the caller's thread.
    """
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    planner = Planner()  # the model is built once per cycle, unless a caller injects its own steps
    watcher = _Watcher(model_path, apply or planner.apply, referenced or planner.referenced,
                       Debouncer(quiet, max_wait), clock, reconcile, events)

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: Any) -> None:
            watcher.on_event(event)

    handler, observer = Handler(), Observer()
    observer.start()
    try:
        report(watcher.cycle("start", observer, handler))
        while not stop.is_set():
            trigger = watcher.next_burst(stop)
            if trigger is None and watcher.reconcile_due():
                trigger = RECONCILE_TRIGGER
            if trigger is not None and not stop.is_set():
                report(watcher.cycle(trigger, observer, handler))
    finally:
        if events is not None:
            events.stop()
        observer.stop()
        observer.join()
