"""Can the workers reach it? The files an unprivileged NGINX worker opens itself.

When a local NGINX is started by root, its master reads the configuration,
certificates and keys as root, but its workers switch to an unprivileged user
and open static content (and write ``tmp/`` and ``cache/`` in the state
directory) as that user. A path is reachable when every directory on the way
grants that user search (x) and a file grants read (r), by the owner, group or
other bits that apply to it (POSIX ACLs are not considered). This module says
why not, naming the first component that blocks, so validation can refuse
with one located line instead of NGINX answering 403 to every request.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

WORKER_USER = "nobody"  # NGINX's own default when its master runs as root
MAX_ENTRIES = 10_000  # entries of a static tree checked one by one (the rest are not walked)


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gids: frozenset[int]


def account(name: str) -> Account | None:
    """The user and all its groups; None when the user does not exist here."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Account(name, entry.pw_uid, frozenset(os.getgrouplist(name, entry.pw_gid)))


def _allows(info: os.stat_result, who: Account, bit: str) -> bool:
    shift = {"r": 2, "w": 1, "x": 0}[bit]
    if info.st_uid == who.uid:
        mask = 0o100 << shift
    elif info.st_gid in who.gids:
        mask = 0o010 << shift
    else:
        mask = 0o001 << shift
    return bool(info.st_mode & mask)


def _describe(path: Path, info: os.stat_result) -> str:
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = str(info.st_gid)
    return f"{path} is {stat.filemode(info.st_mode)} {owner}:{group}"


def blocker(path: Path, who: Account, *, read: bool) -> str | None:
    """Why ``who`` cannot reach ``path`` (search every directory on the way, and read it when ``read``);
    None when it can. A path that does not exist yet is judged by its nearest existing ancestor."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path, read = path.parent, False
    for ancestor in reversed(path.parents):
        info = ancestor.stat()
        if not _allows(info, who, "x"):
            return _describe(ancestor, info)
    info = path.stat()
    need = ("x" if stat.S_ISDIR(info.st_mode) else "") + ("r" if read or not stat.S_ISDIR(info.st_mode) else "")
    if not all(_allows(info, who, bit) for bit in need or "x"):
        return _describe(path, info)
    return None


def tree_blocker(root: Path, who: Account) -> str | None:
    """Why ``who`` cannot read the files below ``root`` (directories searchable, files readable), checking
    at most MAX_ENTRIES entries; None when it can."""
    found = blocker(root, who, read=False)
    if found or not root.is_dir():
        return found
    seen = 0
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            seen += 1
            if seen > MAX_ENTRIES:
                return None
            entry = Path(directory) / name
            try:
                info = entry.stat()
            except OSError:
                continue  # a dangling link: NGINX answers 404 for it, as for any missing file
            bit = "x" if stat.S_ISDIR(info.st_mode) else "r"
            if not _allows(info, who, bit):
                return _describe(entry, info)
    return None
