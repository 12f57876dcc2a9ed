"""Names of the rendered authentication pieces, shared by both engines.

An htpasswd file is named after a digest of its model path, so that every view finds it without a numbering
to agree on: NGINX gets the file ``auth/<digest>.htpasswd`` (mode 0640: its workers read it on every request;
the release store gives it to the workers' group when ctlplane runs as root), HAProxy a ``userlist
ul_<digest>`` in haproxy.cfg (which is then written 0600: it holds the hashes). The file is rendered from the
parsed entries (``model/htpasswd.py``), one ``user:hash`` line each, never copied as it is.
"""

from __future__ import annotations

import hashlib

from ctlplane.errors import Finding, RenderError
from ctlplane.model.assets import Assets
from ctlplane.render import RenderedFile

USERS_MODE = 0o640


def _digest(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()[:12]


def user_file(path: str) -> str:
    """The NGINX user file of htpasswd ``path``, relative to the release directory."""
    return f"auth/{_digest(path)}.htpasswd"


def userlist(path: str) -> str:
    """The HAProxy userlist of htpasswd ``path``."""
    return f"ul_{_digest(path)}"


def users_file(users: tuple[tuple[str, str], ...]) -> RenderedFile:
    return RenderedFile("".join(f"{user}:{hashed}\n" for user, hashed in users).encode("ascii"), USERS_MODE)


class _Users(dict[str, tuple[tuple[str, str], ...]]):
    def __missing__(self, path: str) -> tuple[tuple[str, str], ...]:
        raise RenderError("htpasswd file not read", [Finding(f"{path!r} was not read (read_assets first)")])


def htpasswd_users(assets: Assets) -> dict[str, tuple[tuple[str, str], ...]]:
    """The users of each htpasswd file read; a file that was not read is a RenderError, not a KeyError."""
    return _Users(assets.htpasswd)
