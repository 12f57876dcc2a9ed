"""Holding TCP connections open from a client container, for connection-limit tests.

:func:`tcp_limit` runs ``netprobe.py tcp_limit`` in a client container and
streams its output: once the client holds its connections (and tried the
extra ones), ``during()`` runs on the host (e.g. another client connects)
while they stay open; then one held connection is closed and a new one is
tried. Returns what each phase saw. Bounded by the script's own timeouts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PROBE_SCRIPT = "/opt/ctlplane-harness/netprobe.py"


@dataclass(frozen=True)
class LimitRun:
    held: list[tuple[bool, str]]  # (served, backend name or error) per held connection
    extra: list[tuple[bool, str]]  # the connections tried beyond them
    during: Any  # what during() returned
    reopened: tuple[bool, str]  # a new connection after one held connection was closed
    tries: int


def tcp_limit(client: Any, target: str, *, hold: int, extra: int = 1, pause: float = 1.0, timeout: float = 3.0,
              during: Callable[[], Any] = lambda: None) -> LimitRun:
    spec = {"target": target, "hold": hold, "extra": extra, "pause": pause, "timeout": timeout}
    result = client.container.exec_run(["python3", PROBE_SCRIPT, "tcp_limit", json.dumps(spec)],
                                       stream=True, demux=True)
    phases: dict[str, dict[str, Any]] = {}
    found: Any = None
    buffer, errors = b"", b""
    for out, err in result.output:
        errors += err or b""
        buffer += out or b""
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            phase = json.loads(line)
            phases[phase["phase"]] = phase
            if phase["phase"] == "held":
                found = during()  # the connections are still held open meanwhile
    if set(phases) != {"held", "after_close"}:
        raise RuntimeError(f"tcp_limit probe ended early: {phases} {errors.decode(errors='replace')[-2000:]}")
    held, after = phases["held"], phases["after_close"]
    return LimitRun([tuple(h) for h in held["held"]], [tuple(e) for e in held["extra"]], found,  # type: ignore[misc]
                    tuple(after["reopened"]), int(after["tries"]))  # type: ignore[arg-type]
