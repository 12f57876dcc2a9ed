"""Release identity: every rendered configuration carries its own release id.

A release id is a content digest of one proxy's files (paths, modes, bytes).
The engine's root config names it in a line the running proxy reports back:
NGINX workers ``chdir`` to ``working_directory releases/<id>`` (their current
directory says which release they loaded) and HAProxy workers report
``description ctlplane release <id>`` from their global section (``show info``). So the
truth of "what serves" comes from the proxy itself, never from a file that
ctlplane wrote and a crash could leave behind.

Templates print :data:`RELEASE_TOKEN` in that line; :func:`seal` digests the
files with the token in place and then writes the digest over it, and
:func:`release_id` recomputes the same digest from sealed files (the id in the
marker line is put back to the token first). Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from ctlplane.render import RenderedFile

RELEASE_TOKEN = "ctlplane-release"  # noqa: S105 - not a secret: what templates print before the id is known
ID_LENGTH = 16
_ID = r"(?:ctlplane-release|[0-9a-f]{16})"
MARKERS: dict[str, re.Pattern[bytes]] = {
    "nginx.conf": re.compile(rb"^(working_directory releases/)" + _ID.encode() + rb"(;)$", re.MULTILINE),
    "haproxy.cfg": re.compile(rb"^(    description ctlplane release )" + _ID.encode() + rb"()$", re.MULTILINE),
}


def _with(files: Mapping[str, RenderedFile], value: str) -> dict[str, RenderedFile]:
    """``files`` with the marker line of the root config naming ``value`` (first marker line only)."""
    out = dict(files)
    for name, marker in MARKERS.items():
        if name in out:
            found = out[name]
            content = marker.sub(rb"\g<1>" + value.encode() + rb"\g<2>", found.content, count=1)
            out[name] = RenderedFile(content, found.mode)
    return out


def release_id(files: Mapping[str, RenderedFile]) -> str:
    """The id of a set of files, sealed or not: the same files always give the same id."""
    digest = hashlib.sha256()
    for rel, found in sorted(unseal(files).items()):
        digest.update(rel.encode() + b"\0" + oct(found.mode).encode() + b"\0" + found.content + b"\0")
    return digest.hexdigest()[:ID_LENGTH]


def unseal(files: Mapping[str, RenderedFile]) -> dict[str, RenderedFile]:
    """``files`` with the token instead of their id (so two releases compare by everything else)."""
    return _with(files, RELEASE_TOKEN)


def seal(files: Mapping[str, RenderedFile]) -> dict[str, RenderedFile]:
    """``files`` with their release id written into the root config's marker line."""
    return _with(files, release_id(files))


def marked_release(files: Mapping[str, bytes]) -> str | None:
    """The release id a root config names (None when it has no marker line)."""
    for name, marker in MARKERS.items():
        if name in files:
            found = marker.search(files[name])
            if found:
                value = found.group(0)[len(found.group(1)):len(found.group(0)) - len(found.group(2))].decode()
                return None if value == RELEASE_TOKEN else value
    return None
