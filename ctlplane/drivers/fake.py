"""A fake driver for tests of the apply logic: releases and processes in
memory, with a failure scripted at any step.

``FakeDriver.make(fail={"reload"})`` raises DriverError the first time that
step runs (``fail_always`` keeps failing, e.g. to make a restore fail too).
``events`` records every call in order, so a test can check the whole path
an apply took and the end state it left.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from ctlplane.drivers.base import STOPPED, Driver, Generation
from ctlplane.drivers.releases import release_id
from ctlplane.errors import DriverError, Finding
from ctlplane.render import Output

STEPS = ("lock", "stage", "activate", "start", "reload", "runtime", "stop")


@dataclass
class FakeState:
    releases: dict[str, dict[str, bytes]] = field(default_factory=dict)
    active: str | None = None
    generation: Generation = STOPPED
    next_pid: int = 100
    fail: set[str] = field(default_factory=set)
    fail_always: set[str] = field(default_factory=set)
    events: list[str] = field(default_factory=list)
    runtime_log: list[str] = field(default_factory=list)
    serving: str | None = None  # the release the running processes loaded

    def step(self, name: str) -> None:
        self.events.append(name)
        if name in self.fail_always or name in self.fail:
            self.fail.discard(name)
            raise DriverError(f"scripted failure at {name}", [Finding(f"fake {name} failed", source="driver")])

    def new_generation(self) -> Generation:
        self.next_pid += 10
        return Generation(self.next_pid, frozenset({self.next_pid + 1, self.next_pid + 2}))


class FakeStore:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.state.step("lock")
        yield

    def deployed(self) -> dict[str, bytes]:
        return dict(self.state.releases.get(self.state.active or "", {}))

    def active_release(self) -> str | None:
        return self.state.active

    def stage(self, files: Output) -> str:
        self.state.step("stage")
        rid = release_id(files)
        self.state.releases[rid] = {k: v.content for k, v in files.items()}
        return rid

    def activate(self, release: str) -> None:
        self.state.step("activate")
        self.state.active = release

    def prune(self, keep: set[str]) -> None:
        self.state.releases = {k: v for k, v in self.state.releases.items() if k in keep}


class FakeControl:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def generation(self) -> Generation:
        return self.state.generation

    def start(self) -> Generation:
        self.state.step("start")
        self.state.generation = self.state.new_generation()
        self.state.serving = self.state.active
        return self.state.generation

    def reload(self, before: Generation) -> Generation:
        self.state.step("reload")
        self.state.generation = Generation(before.master, self.state.new_generation().workers)
        self.state.serving = self.state.active
        return self.state.generation

    def runtime(self, commands: list[str]) -> None:
        self.state.step("runtime")
        self.state.runtime_log.extend(commands)
        self.state.serving = self.state.active

    def stop(self) -> None:
        self.state.step("stop")
        self.state.generation = STOPPED
        self.state.serving = None

    def log_tail(self, lines: int = 40) -> str:
        return ""


class FakeDriver(Driver):
    """A Driver over one FakeState."""

    @classmethod
    def make(cls, proxy: str = "p", engine: str = "nginx", **state: object) -> FakeDriver:
        fake_state = FakeState(**state)  # type: ignore[arg-type]
        return cls(proxy, engine, FakeStore(fake_state), FakeControl(fake_state))

    @property
    def state(self) -> FakeState:
        return self.store.state  # type: ignore[attr-defined, no-any-return]
