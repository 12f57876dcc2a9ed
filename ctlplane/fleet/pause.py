"""A test hook of the fleet agent: hold its apply transaction at one step until a file says go on.

Fault tests must kill an agent at an exact moment of its transaction (after stage, after activate, during the
reload), which lasts milliseconds. With ``CTLPLANE_AGENT_PAUSE_AT`` set to ``staged``, ``activated`` or
``reloading`` in an agent's environment, :func:`pause_step` gives the transaction a step observer that, at that
step, writes ``<fleet home>/paused-<step>`` on the node, logs ``{"event": "paused", ...}`` and waits until
``<fleet home>/resume`` exists (checked every 0.2 s, at most :data:`LIMIT_S`); it does not wait at all while
that file exists. The controller passes the variable on to the agents only when ``ctlplane apply`` itself runs
with it set (``controller.TEST_HOOKS``); unset, as in production, the agent has no step observer at all. Used
by ``integration/fleet/test_faults.py``; never set it on a production fleet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from ctlplane.drivers.control import Step, no_step
from ctlplane.errors import CtlplaneError, Finding

ENV = "CTLPLANE_AGENT_PAUSE_AT"
STEPS = ("staged", "activated", "reloading")
LIMIT_S = 300.0
EVERY_S = 0.2


def pause_step(env: Mapping[str, str], home: Path, log: Callable[[dict[str, object]], None],
               sleep: Callable[[float], None], clock: Callable[[], float]) -> Step:
    """The transaction's step observer ``env`` asks for: ``no_step`` unless :data:`ENV` names a step."""
    at = env.get(ENV, "")
    if not at:
        return no_step
    if at not in STEPS:
        message = f"{ENV}={at[:40]!r} is not one of {', '.join(STEPS)}"
        raise CtlplaneError(message, [Finding(message, source="fleet")])
    resume = home / "resume"

    def step(name: str) -> None:
        if name != at or resume.exists():
            return
        home.mkdir(parents=True, exist_ok=True)
        (home / f"paused-{name}").write_text(name + "\n")
        log({"event": "paused", "at": name, "until": str(resume)})
        end = clock() + LIMIT_S
        while not resume.exists() and clock() < end:
            sleep(EVERY_S)

    return step
