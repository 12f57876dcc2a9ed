"""The one decision of how a proxy reaches a new release: pure, shared by apply, plan and the CLI.

``decide(serving, new, running, engine)`` compares the files of the release
the proxy serves (``None`` when that is unknown) with the new rendered files:
nothing when they are the same release (content *and* modes), a start when
the proxy does not run, HAProxy runtime-API commands when only server
weights, states or plain added servers differ (``runtime_plan``), a reload
otherwise. A :class:`Change` says which, with the commands and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ctlplane.render import Output
from ctlplane.render.release import release_id, unseal
from ctlplane.runtime_plan import runtime_commands

Kind = Literal["none", "start", "runtime", "reload"]


@dataclass(frozen=True)
class Change:
    """How applying a release reaches a proxy."""

    kind: Kind
    commands: tuple[str, ...] = ()
    why: str = ""

    def describe(self) -> str:
        text = {"none": "no change", "start": "start", "reload": "reload",
                "runtime": f"runtime ({len(self.commands)} command(s), no reload)"}[self.kind]
        return f"{text} ({self.why})" if self.why else text


NO_CHANGE = Change("none")


def decide(serving: Output | None, new: Output, running: bool, engine: str, *, why: str = "") -> Change:
    """How to go from ``serving`` (the running release's files; None: unknown) to ``new``."""
    if not running:
        return Change("start", why=why)
    if serving is None:
        return Change("reload", why=why or "the release it serves is unknown")
    serving_id, new_id = release_id(serving), release_id(new)
    if serving_id == new_id:
        return Change("none")
    if {p: f.mode for p, f in serving.items()} == {p: f.mode for p, f in new.items()}:
        commands = _runtime_between(engine, serving_id, serving, new_id, new)
        if commands:
            return Change("runtime", commands)
    return Change("reload", why=why)


_RUNTIME_MEMO: dict[tuple[str, str, str], tuple[str, ...]] = {}


def _runtime_between(engine: str, serving_id: str, serving: Output, new_id: str, new: Output) -> tuple[str, ...]:
    """The runtime commands from one release to another, remembered by their ids (content digests): an apply
    decides twice on the same pair (plan, then the compare-and-swap), and comparing two large configs is the
    costly part of deciding."""
    key = (engine, serving_id, new_id)
    if key not in _RUNTIME_MEMO:
        old_bytes = {p: f.content for p, f in unseal(serving).items()}
        new_bytes = {p: f.content for p, f in unseal(new).items()}
        if len(_RUNTIME_MEMO) >= 8:
            _RUNTIME_MEMO.pop(next(iter(_RUNTIME_MEMO)))
        _RUNTIME_MEMO[key] = tuple(runtime_commands(engine, old_bytes, new_bytes) or ())
    return _RUNTIME_MEMO[key]
