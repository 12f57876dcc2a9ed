"""The one subprocess seam of ctlplane: ``run(argv)`` and nothing else starts a process.

Every call passes an argument vector (never a shell string, never ``shell=True``),
stdin is closed, output is captured and decoded as UTF-8 with replacement, and a
timeout always applies. Foreign failures are translated at this boundary: a
missing or non-executable binary raises :class:`MissingBinary`, a timeout or any
other start failure raises :class:`DriverError`. A non-zero exit status is *not*
an error here; callers read ``returncode``. Tests and other execution places
(e.g. a Docker runner) substitute a callable with the same signature.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ctlplane.errors import DriverError, Finding

# Where proxy daemons live on Debian-like systems even when PATH (non-root users) lacks sbin.
SBIN_DIRS: tuple[str, ...] = ("/usr/local/sbin", "/usr/sbin", "/sbin")


@dataclass(frozen=True)
class Completed:
    """A finished process: what ran, how it ended, what it said, how long it took (seconds)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float


class MissingBinary(DriverError):
    """The program to run does not exist or cannot be executed."""


class Runner(Protocol):
    """The signature of :func:`run`; validation and drivers accept any such callable."""

    def __call__(
        self,
        argv: list[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> Completed: ...


def _failure(cls: type[DriverError], argv: Sequence[str], why: str) -> DriverError:
    return cls(f"{argv[0]}: {why}", [Finding(f"{why}: {' '.join(argv)}", source="driver")])


def run(
    argv: list[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 30.0,
    env: Mapping[str, str] | None = None,
) -> Completed:
    """Run ``argv`` to completion and return its exit status and output.

    ``env`` replaces the environment when given (``None`` inherits ours).
    Raises MissingBinary if the program cannot be found or executed, and
    DriverError on timeout (the child is killed) or any other OS failure.
    """
    if not isinstance(argv, (list, tuple)) or not argv or not all(isinstance(a, str) for a in argv):
        raise TypeError("argv must be a non-empty list of strings")
    started = time.monotonic()
    try:
        proc = subprocess.run(  # noqa: S603 - argv list, no shell
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
            shell=False,
        )
    except FileNotFoundError as exc:
        missing = exc.filename or argv[0]
        raise _failure(MissingBinary, argv, f"not installed or not found ({missing})") from exc
    except PermissionError as exc:
        raise _failure(MissingBinary, argv, "not executable (permission denied)") from exc
    except subprocess.TimeoutExpired as exc:
        raise _failure(DriverError, argv, f"timed out after {timeout:g}s and was killed") from exc
    except OSError as exc:
        raise _failure(DriverError, argv, f"could not start: {exc.strerror or exc}") from exc
    return Completed(
        argv=tuple(argv),
        returncode=proc.returncode,
        stdout=proc.stdout.decode("utf-8", errors="replace"),
        stderr=proc.stderr.decode("utf-8", errors="replace"),
        duration=time.monotonic() - started,
    )


def find_binary(name: str, extra_dirs: Sequence[str] = SBIN_DIRS) -> str | None:
    """The absolute path of an executable ``name`` on PATH, else in ``extra_dirs``, else None."""
    found = shutil.which(name)
    if found:
        return os.path.abspath(found)
    for directory in extra_dirs:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def spawn(argv: list[str], *, cwd: str | os.PathLike[str], log_path: str | os.PathLike[str],
          env: Mapping[str, str] | None = None) -> int:
    """Start a long-running daemon detached from us (own session, stdin closed, output appended to ``log_path``;
    ``env`` is added to our environment).

    Returns its pid. The child outlives this process; the controls find it again by its command line.
    """
    if not isinstance(argv, (list, tuple)) or not argv or not all(isinstance(a, str) for a in argv):
        raise TypeError("argv must be a non-empty list of strings")
    try:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
                list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, env={**os.environ, **env} if env else None,
            )
    except FileNotFoundError as exc:
        raise _failure(MissingBinary, argv, f"not installed or not found ({exc.filename or argv[0]})") from exc
    except OSError as exc:
        raise _failure(DriverError, argv, f"could not start: {exc.strerror or exc}") from exc
    _CHILDREN.append(proc)  # keep a reference so the Popen object can reap it if it exits early
    return proc.pid


_CHILDREN: list[subprocess.Popen[bytes]] = []


def reap() -> None:
    """Collect exited daemons started by :func:`spawn` (no zombies in long-running watchers)."""
    for proc in list(_CHILDREN):
        if proc.poll() is not None:
            _CHILDREN.remove(proc)
