"""Plans: a pure comparison of rendered files against the ones the proxy serves.

A plan lists, per proxy, how the change reaches it (``decide``: no change,
start, runtime or reload) and each file added, changed or removed with a
unified diff against the release the workers serve. Secret files (keys) never
show their content, only a digest change.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from typing import Literal

from ctlplane.decide import NO_CHANGE, Change
from ctlplane.render import Output


@dataclass(frozen=True)
class FileChange:
    path: str
    kind: Literal["added", "changed", "removed"]
    diff: str


@dataclass(frozen=True)
class ProxyPlan:
    proxy: str
    changes: list[FileChange] = field(default_factory=list)
    change: Change = NO_CHANGE

    @property
    def changed(self) -> bool:
        return bool(self.changes) or self.change.kind != "none"

    def as_dict(self) -> dict[str, object]:
        return {"proxy": self.proxy, "changed": self.changed, "how": self.change.kind,
                "summary": self.change.describe(), "commands": list(self.change.commands),
                "changes": [{"path": c.path, "kind": c.kind, "diff": c.diff} for c in self.changes]}


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


def _diff(path: str, old: bytes | None, new: bytes | None, secret: bool) -> str:
    if secret:
        return f"secret file {path}: {_digest(old) if old else '(none)'} -> {_digest(new) if new else '(none)'}\n"
    a = (old or b"").decode("utf-8", "replace").splitlines(keepends=True)
    b = (new or b"").decode("utf-8", "replace").splitlines(keepends=True)
    lines = difflib.unified_diff(a, b, f"deployed/{path}", f"rendered/{path}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def plan_proxy(proxy: str, rendered: Output, deployed: dict[str, bytes], change: Change = NO_CHANGE) -> ProxyPlan:
    """What writing ``rendered`` over ``deployed`` would change (and how it reaches the proxy: ``change``)."""
    changes: list[FileChange] = []
    for path in sorted(set(rendered) | set(deployed)):
        new = rendered.get(path)
        old = deployed.get(path)
        secret = bool(new and new.secret)
        if new is None:
            changes.append(FileChange(path, "removed", _diff(path, old, None, secret)))
        elif old is None:
            changes.append(FileChange(path, "added", _diff(path, None, new.content, secret)))
        elif old != new.content:
            changes.append(FileChange(path, "changed", _diff(path, old, new.content, secret)))
    return ProxyPlan(proxy, changes, change)

