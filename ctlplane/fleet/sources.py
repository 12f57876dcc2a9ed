"""The bytes of a fleet release: the model file and every file it names, read once, at the edge.

The files are the ones ``ctlplane.model.assets`` read and checked (its ``watched`` list: certificates, keys, CA
bundles, htpasswd files, error pages), read again here through the same confined, no-symlink, size-limited
reader, under their paths relative to the model's directory (the model file travels as is, so its relative
names must keep working on the node). A file outside the model's directory cannot travel and is refused; the
private keys (``assets.keys``) are marked so that ``bundle`` sends them as Swarm secrets, never in the tar.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ctlplane.errors import Finding, ModelError
from ctlplane.model.assets import Assets
from ctlplane.model.load import Loaded


@dataclass(frozen=True)
class Sources:
    """A release's inputs: the model file's bytes, each named file by relative path, and which are keys."""

    model: bytes
    files: dict[str, bytes]
    keys: frozenset[str]


def release_sources(loaded: Loaded, assets: Assets) -> Sources:
    """Read the model file and the files its checked ``assets`` came from; raise ModelError for a file that
    lies outside the model's directory."""
    from ctlplane.model.assets import _Problem, _read

    base = loaded.base_dir
    keys = set(assets.keys)
    files: dict[str, bytes] = {}
    marked: set[str] = set()
    problems: list[Finding] = []
    for path in dict.fromkeys(assets.watched):
        rel = os.path.relpath(os.path.normpath(path), base)
        if rel.startswith("../") or rel == ".." or os.path.isabs(rel):
            problems.append(Finding(f"file {path!r} lies outside the model's directory {str(base)!r}: a fleet release "
                                    "carries only files under it; move the file there and name it relatively",
                                    file=loaded.file))
            continue
        try:
            files[rel] = _read(Path(path), rel, secret=os.path.realpath(path) in keys)
        except _Problem as p:
            problems.append(Finding(p.message, file=loaded.file))
            continue
        if os.path.realpath(path) in keys:
            marked.add(rel)
    if problems:
        raise ModelError("the release's files cannot travel", problems)
    return Sources(Path(loaded.file).read_bytes(), files, frozenset(marked))
