"""A frame around a command's output, so that output lost on its way back is never read as an empty answer.

Docker's exec, through the SDK, sometimes hands back no output, or part of it, with exit code 0 for a command
that did run (docker-py #2042, open). A process listing that came back empty would read as "nothing runs".
:func:`framed` wraps a command in ``sh`` so that it prints a marker line before its output and the marker with
its exit code after (stderr joined to stdout inside, so nothing can overtake the closing line);
:func:`unframed` returns the exit code and the output between them, or None when either marker is missing;
:func:`frame` is what the script prints (the fakes answer with it). Pure: the container host
(``container.py``) runs the command and decides what a lost answer means.
"""

from __future__ import annotations

from collections.abc import Sequence

FRAME_MARK = "ctlplane-exec-frame-6d1f"  # $0 of the framing shell: printed before and after the output
FRAME_SCRIPT = 'printf "%s\\n" "$0"; "$@" 2>&1; rc=$?; printf "\\n%s %d\\n" "$0" "$rc"; exit "$rc"'
_HEAD = FRAME_MARK + "\n"
_TAIL = "\n" + FRAME_MARK + " "


def framed(argv: Sequence[str]) -> list[str]:
    """``argv`` run so that its output comes back between two markers (the second with its exit code)."""
    return ["sh", "-c", FRAME_SCRIPT, FRAME_MARK, *argv]


def frame(code: int, output: str) -> str:
    """What a :func:`framed` command prints when it exits with ``code`` after printing ``output``."""
    return f"{_HEAD}{output}{_TAIL}{code}\n"


def unframed(output: str) -> tuple[int, str] | None:
    """The exit code and output of a :func:`framed` command, or None when the frame is not whole (lost)."""
    if not output.startswith(_HEAD):
        return None
    body, sep, tail = output[len(_HEAD):].rpartition(_TAIL)
    code = tail.removesuffix("\n")
    if not sep or not tail.endswith("\n") or not code.isdigit():
        return None
    return int(code), body
