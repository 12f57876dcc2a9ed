"""A fleet release as a content-addressed bundle: build, split into Swarm config parts, join, unpack.

The bundle is a deterministic tar (sorted names, mtime 0, uid/gid 0, no user or group names, mode 0644, 0755
for directories) of ``model.yaml`` (the model file as is), every file it names under the same relative path and
``MANIFEST.json`` (``{"files": {path: sha256}, "secrets": {path: {"secret": name, "sha256": ...}}}``). Private
keys are not in it: each travels as a Swarm secret ``ctl-<fleet>-key-<sha256[:16]>`` the manifest names, so the
tar (Swarm configs are not encrypted) never holds one, while a rotated key still changes the digest, the sha256
of the tar. Parts of at most :data:`PART_BYTES` are named ``ctl-<fleet>-<digest[:16]>-<k>-of-<n>`` and labelled
with their own sha256; :func:`join_parts` checks each part and the whole, naming the bad part. Everything here is
bytes in, bytes out, except :func:`unpack`, which writes a bundle into a new directory (no path may leave it;
keys land 0600 from the secrets' bytes, each checked against the manifest).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import tarfile
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctlplane.errors import CtlplaneError, Finding
from ctlplane.fleet.specs import part_labels

MODEL = "model.yaml"
MANIFEST = "MANIFEST.json"
PART_BYTES = 400_000
RESERVED = (MODEL, MANIFEST, ".ctlplane")


class BundleError(CtlplaneError):
    """A release bundle or one of its parts is not what its digest, label or manifest says."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def secret_name(fleet: str, key: bytes) -> str:
    """The Swarm secret carrying a private key: named by its content, so a rotated key is a new secret."""
    return f"ctl-{fleet}-key-{sha256(key)[:16]}"


@dataclass(frozen=True)
class Bundle:
    """A built release: the tar, its digest, and the key bytes to publish as secrets (secret name -> bytes)."""

    tar: bytes
    digest: str
    secrets: Mapping[str, bytes]


@dataclass(frozen=True)
class Part:
    """One Swarm config of a release: its name, bytes and labels (1-based ``index`` of ``count``)."""

    name: str
    data: bytes
    index: int
    count: int
    labels: Mapping[str, str]


def build_bundle(fleet: str, model: bytes, files: Mapping[str, bytes], keys: AbstractSet[str] = frozenset()) -> Bundle:
    """The release of ``model`` and its ``files`` (relative path -> bytes); ``keys`` are the paths that are private
    keys and go to secrets."""
    contents: dict[str, bytes] = {MODEL: model}
    secrets: dict[str, bytes] = {}
    manifest: dict[str, dict[str, Any]] = {"files": {MODEL: sha256(model)}, "secrets": {}}
    for path, data in sorted(files.items()):
        _check_name(path, path)
        if path.split("/")[0] in RESERVED:
            raise BundleError("reserved name", [Finding(f"the model names a file {path!r}, a name the release "
                                                        f"uses itself ({', '.join(RESERVED)}): rename it")])
        if path in keys:
            name = secret_name(fleet, data)
            secrets[name] = data
            manifest["secrets"][path] = {"secret": name, "sha256": sha256(data)}
        else:
            contents[path] = data
            manifest["files"][path] = sha256(data)
    contents[MANIFEST] = json.dumps(manifest, sort_keys=True, indent=1).encode() + b"\n"
    tar = _tar(contents)
    return Bundle(tar, sha256(tar), secrets)


def _tar(contents: Mapping[str, bytes]) -> bytes:
    dirs = {posixpath.dirname(p) for p in contents}
    for d in list(dirs):
        while d:
            dirs.add(d)
            d = posixpath.dirname(d)
    dirs.discard("")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(dirs | set(contents)):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if name in contents:
                info.size, info.mode = len(contents[name]), 0o644
                tar.addfile(info, io.BytesIO(contents[name]))
            else:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
    return out.getvalue()


def part_name(fleet: str, digest: str, k: int, n: int) -> str:
    """The Swarm config of part ``k`` of ``n`` (1-based) of release ``digest``."""
    return f"ctl-{fleet}-{digest[:16]}-{k}-of-{n}"


def split(fleet: str, tar: bytes, size: int = PART_BYTES, secrets: Sequence[str] = ()) -> list[Part]:
    """The Swarm configs of a release: chunks of at most ``size`` bytes, named and labelled (``secrets``: the
    names of the release's key secrets, so that the parts alone say what to mount)."""
    digest = sha256(tar)
    chunks = [tar[i:i + size] for i in range(0, len(tar), size)] or [b""]
    n = len(chunks)
    return [Part(part_name(fleet, digest, k, n), data, k, n,
                 part_labels(fleet, digest, k, n, sha256(data), secrets))
            for k, data in enumerate(chunks, start=1)]


def join_parts(parts: Sequence[tuple[str, bytes, str | None]], digest: str) -> bytes:
    """The tar from its parts in order, each ``(name, bytes, expected sha256 or None)``; raise BundleError naming
    the first part whose bytes differ from its sha256, or the release when the whole misses ``digest``."""
    for name, data, expected in parts:
        if expected is not None and sha256(data) != expected:
            raise BundleError("a release part is corrupted", [Finding(
                f"part {name!r} of release {digest[:16]} has sha256 {sha256(data)[:16]}..., not "
                f"{expected[:16]}...: the part is corrupted; remove it from the swarm and apply again", file=name,
                source="fleet")])
    tar = b"".join(data for _, data, _ in parts)
    if sha256(tar) != digest:
        names = ", ".join(name for name, _, _ in parts) or "no parts"
        raise BundleError("a release does not match its digest", [Finding(
            f"the {len(parts)} part(s) of release {digest[:16]} ({names}) join to sha256 {sha256(tar)[:16]}...: "
            "a part is missing or corrupted; publish the release again", source="fleet")])
    return tar


def read_manifest(tar: bytes) -> dict[str, Any]:
    """The manifest of a bundle (raise BundleError when it has none)."""
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
        try:
            member = archive.getmember(MANIFEST)
            handle = archive.extractfile(member)
        except KeyError:
            handle = None
        if handle is None:
            raise _bad(f"the bundle has no {MANIFEST}")
        data: dict[str, Any] = json.loads(handle.read())
    return data


def unpack(bundle: bytes, secrets: Mapping[str, bytes], into: Path) -> None:
    """Write the bundle's files and its keys (from ``secrets``: secret name -> bytes) into the new directory
    ``into``; every file is checked against the manifest, and no path may leave ``into``."""
    manifest = read_manifest(bundle)
    files: dict[str, str] = manifest.get("files", {})
    keyed: dict[str, dict[str, str]] = manifest.get("secrets", {})
    into.mkdir(mode=0o755)
    root = into.resolve()
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:") as archive:
        for member in archive.getmembers():
            target = _target(root, member.name)
            if member.isdir():
                target.mkdir(mode=0o755, exist_ok=True)
                continue
            handle = archive.extractfile(member) if member.isreg() else None
            if handle is None:
                raise _bad(f"{member.name!r} is neither a regular file nor a directory")
            data = handle.read()
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            if member.name != MANIFEST and files.get(member.name) != sha256(data):
                raise _bad(f"{member.name!r} does not match the manifest")
            _write(target, data, 0o644)
    for path, entry in sorted(keyed.items()):
        key = secrets.get(entry["secret"])
        if key is None or sha256(key) != entry["sha256"]:
            raise _bad(f"the key {path!r} needs secret {entry['secret']!r} with sha256 {entry['sha256'][:16]}..., "
                       "which is missing or different")
        target = _target(root, path)
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        _write(target, key, 0o600)


def _check_name(name: str, shown: str) -> None:
    parts = name.split("/")
    if not name or "\0" in name or name.startswith("/") or ".." in parts or "." in parts or "" in parts:
        raise _bad(f"path {shown!r} is not a plain relative path")


def _target(root: Path, name: str) -> Path:
    _check_name(name, name)
    target = root / name
    if not target.parent.resolve().is_relative_to(root):
        raise _bad(f"path {name!r} leaves the bundle's directory")
    return target


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _bad(message: str) -> BundleError:
    return BundleError("a release bundle is not usable", [Finding(message, source="fleet")])
