"""The one error tree of ctlplane.

Every failure the library raises is a :class:`CtlplaneError`. Each carries
:class:`Finding` records that say *where* (file, line, column, field path) and
*what*. Only the CLI decides exit codes and output formats; library code never
prints or exits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning", "skipped"]


@dataclass(frozen=True)
class Finding:
    """One located problem: a model field, a YAML position, or a rendered config line."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: str | None = None  # dotted field path in the model, e.g. "pools[0].servers[1].port"
    source: str = "model"  # model | nginx | haproxy | keepalived | driver
    severity: Severity = "error"  # warning: the binary only warned; skipped: the check could not run

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def where(self) -> str:
        parts = [p for p in (self.file, self.line, self.column) if p is not None]
        location = ":".join(str(p) for p in parts)
        if self.path:
            location = f"{location} ({self.path})" if location else self.path
        return location

    def one_line(self) -> str:
        where = self.where()
        text = self.message if self.is_error else f"{self.severity}: {self.message}"
        return f"{where}: {text}" if where else text

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None and (k != "severity" or v != "error")}


@dataclass
class CtlplaneError(Exception):
    """Base of every ctlplane error."""

    message: str
    findings: list[Finding] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.findings:
            return self.message
        return "\n".join(f.one_line() for f in self.findings)


class ModelError(CtlplaneError):
    """The model file could not be read, parsed or validated (stage 1)."""


class ConfigTestError(CtlplaneError):
    """A rendered config was refused by the real proxy binary (stage 2)."""


class RenderError(CtlplaneError):
    """The renderer met a value it refuses to print (a bug or an injection attempt)."""


class DriverError(CtlplaneError):
    """A process, file or container operation failed."""


class ApplyError(CtlplaneError):
    """An apply failed; ``rolled_back`` says whether last-known-good was restored."""

    rolled_back: bool = False
