"""The fleet's rollout record: the labels of the never-running service ``ctl-<fleet>-state``.

The record says which phase the fleet is in (idle | rolling | rolling-back | halted), the
release being rolled out (target), the fleet's last-known-good release, the wave reached,
the controller that owns the rollout (hostname, pid and a random part) with its last
heartbeat, and why the last rollout halted (the node that failed and the reason). Every
write is a service update naming the version read before: a compare-and-swap, so of two
controllers that read the same record only one can write it; the loser gets
:class:`FleetBusy`. A rolling or rolling-back record whose heartbeat is older than the stale
limit (3 x the wave deadline) belongs to a dead controller and may be taken over; so does one
whose owner ran on this host under a pid that no longer runs (:func:`owner_gone`): a killed
controller is re-run at once, not after three deadlines.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NoReturn

from ctlplane.drivers.procfs import pid_alive
from ctlplane.errors import Finding
from ctlplane.fleet.specs import L_LKG, L_WAVE, state_name, state_spec
from ctlplane.fleet.swarm import Clock, Service, Swarm, SwarmConflict

ACTIVE = ("rolling", "rolling-back")
L_PHASE, L_TARGET, L_OWNER = "ctlplane.phase", "ctlplane.target", "ctlplane.owner"
L_HEARTBEAT, L_REASON, L_FAILED = "ctlplane.heartbeat", "ctlplane.reason", "ctlplane.failed"
_OWNER = re.compile(r"(?P<host>.+)-(?P<pid>[0-9]{1,10})-[0-9a-f]{8}")


class FleetBusy(SwarmConflict):
    """Another controller owns the fleet's rollout (or won the race to claim it)."""


def controller_id() -> str:
    """This controller's identity: hostname, pid and a random part."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def owner_gone(owner: str, heartbeat: float, now: float, stale_s: float, host: str,
               alive: Callable[[int], bool]) -> str:
    """Why the controller ``owner`` of an active record is gone ("" while it may be alive): its heartbeat is older
    than ``stale_s``, or it ran on ``host`` (this one) under a pid ``alive`` says does not run (pure)."""
    age = now - heartbeat
    if age > stale_s:
        return f"its last heartbeat is {age:.0f} s old (stale after {stale_s:g} s)"
    match = _OWNER.fullmatch(owner)
    if match is not None and match.group("host") == host and not alive(int(match.group("pid"))):
        return f"its process (pid {match.group('pid')}) no longer runs on this host ({host})"
    return ""


def gone_check(stale_s: float) -> Callable[[Record], str]:
    """:func:`owner_gone` for records read now, on this host (what ``ctlplane status`` asks)."""
    host = socket.gethostname()
    return lambda r: owner_gone(r.owner, r.heartbeat, time.time(), stale_s, host, pid_alive)


@dataclass(frozen=True)
class Record:
    """The fleet's rollout record as plain data (``failed``: the id of the node a halt names)."""

    phase: str = "idle"
    target: str = ""
    lkg: str = ""
    wave: int = -1
    owner: str = ""
    heartbeat: float = 0.0
    reason: str = ""
    failed: str = ""

    def labels(self) -> dict[str, str]:
        return {L_PHASE: self.phase, L_TARGET: self.target, L_LKG: self.lkg, L_WAVE: str(self.wave),
                L_OWNER: self.owner, L_HEARTBEAT: str(int(self.heartbeat)), L_REASON: self.reason,
                L_FAILED: self.failed}

    @classmethod
    def from_labels(cls, labels: dict[str, str]) -> Record:
        def number(key: str, default: float) -> float:
            try:
                return float(labels.get(key, default))
            except ValueError:
                return default

        return cls(phase=labels.get(L_PHASE, "idle"), target=labels.get(L_TARGET, ""), lkg=labels.get(L_LKG, ""),
                   wave=int(number(L_WAVE, -1)), owner=labels.get(L_OWNER, ""), heartbeat=number(L_HEARTBEAT, 0),
                   reason=labels.get(L_REASON, ""), failed=labels.get(L_FAILED, ""))


def read_record(swarm: Swarm, fleet: str) -> Record | None:
    """The fleet's record, or None when the fleet never rolled out (read-only: for status)."""
    service = swarm.service(state_name(fleet))
    return Record.from_labels(dict(service.labels)) if service else None


class StateRecord:
    """One controller's handle on the record: :meth:`claim` it once, then :meth:`write` phase changes and
    heartbeats, each a compare-and-swap against the version this controller last saw."""

    def __init__(self, swarm: Swarm, fleet: str, image: str, owner: str, clock: Clock, stale_s: float,
                 alive: Callable[[int], bool] = pid_alive, host: str | None = None) -> None:
        self.swarm, self.fleet, self.image, self.owner = swarm, fleet, image, owner
        self.clock, self.stale_s, self.alive = clock, stale_s, alive
        self.host = socket.gethostname() if host is None else host
        self.record = Record()
        self._service: Service | None = None

    def read(self) -> Record:
        """The record as it is now (created idle when the fleet has none)."""
        name = state_name(self.fleet)
        service = self.swarm.service(name)
        if service is None:
            try:
                service = self.swarm.create_service(state_spec(self.fleet, self.image, Record().labels()))
            except SwarmConflict:  # another controller created it first
                service = self.swarm.service(name)
            if service is None:
                self._busy(f"the fleet state record {name} vanished while it was being created")
        self._service = service
        self.record = Record.from_labels(dict(service.labels))
        return self.record

    def busy(self, record: Record) -> bool:
        """Whether ``record`` belongs to another controller that is alive."""
        return record.phase in ACTIVE and record.owner != self.owner and not self.gone(record)

    def gone(self, record: Record) -> str:
        """Why the owner of ``record`` is gone ("" while it may be alive)."""
        return owner_gone(record.owner, record.heartbeat, self.clock.now(), self.stale_s, self.host, self.alive)

    def refuse_if_busy(self, record: Record) -> None:
        if self.busy(record):
            age = int(self.clock.now() - record.heartbeat)
            self._busy(f"another apply (owner {record.owner}) is rolling out {record.target[:16]} on fleet "
                       f"{self.fleet} ({record.phase}, wave {record.wave}, heartbeat {age} s ago); it is taken over "
                       f"once its heartbeat is {self.stale_s:g} s old, or at once when its process is gone "
                       "from the host it ran on")

    def _busy(self, message: str, cause: Exception | None = None) -> NoReturn:
        raise FleetBusy(message, [Finding(message, path=state_name(self.fleet), source="driver")]) from cause

    def claim(self, **changes: object) -> Record:
        """Take the record read last (refused while another live controller owns it) and write ``changes``."""
        self.refuse_if_busy(self.record)
        return self.write(**changes)

    def write(self, **changes: object) -> Record:
        """Write ``changes`` (with this owner and a fresh heartbeat) over the version read last."""
        return self._write(changes, 3)

    def _write(self, changes: dict[str, object], tries: int) -> Record:
        if self._service is None:
            self.read()
        assert self._service is not None
        new = replace(self.record, owner=self.owner, heartbeat=self.clock.now(), **changes)  # type: ignore[arg-type]
        spec = state_spec(self.fleet, self.image, new.labels())
        try:
            self.swarm.update_service(self._service, spec)
        except SwarmConflict as exc:
            mine = self.record.owner == self.owner
            theirs = self.read()
            if mine and theirs.owner == self.owner and tries > 1:  # our own write, read back late (moby#30794)
                return self._write(changes, tries - 1)
            self._busy(f"another apply (owner {theirs.owner or 'unknown'}) wrote the state of fleet {self.fleet} "
                       f"first: it is {theirs.phase} {theirs.target[:16]}", exc)
        self.read()
        if self.record.owner != self.owner:
            self._busy(f"another apply (owner {self.record.owner}) took fleet {self.fleet} over")
        return self.record

    def heartbeat(self) -> Record:
        return self.write()
