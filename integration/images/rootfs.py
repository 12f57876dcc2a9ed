"""Offline image recipes, the rootfs half: debootstrap a Debian rootfs from the apt mirror this machine uses.

A :class:`Recipe` names the repository, the hashed spec (suite, variant, packages, post-steps, image config
``changes``, a ``rev``), the extra files whose bytes enter the hash, and a ``customize`` step run on the rootfs
before import. This module finds the mirror, runs debootstrap (the .debs are kept in ``<cache>/debs``), applies the
steps every recipe shares and removes half-built trees; ``store.py`` imports, tags, caches and prunes. ``build.py``
(ctlplane-base) and ``node.py`` (ctlplane-swarm-node) are the recipes.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MIRROR = "http://deb.debian.org/debian"
CACHE_DIR = os.environ.get("CTLPLANE_IMAGE_CACHE", "/var/cache/ctlplane-images")
DEBOOTSTRAP_TIMEOUT_S = 30 * 60
IMPORT_TIMEOUT_S = 15 * 60

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Recipe:
    """What an image is made of: ``spec`` and ``files`` are hashed into the tag, ``customize`` edits the rootfs."""

    repo: str
    spec: dict[str, Any]
    files: tuple[tuple[str, str], ...] = ()  # (name, path): the bytes enter the hash
    customize: Callable[[str, Progress], None] = field(default=lambda rootfs, say: None)

    def hash(self) -> str:
        """12 hex chars of sha256 over the spec (sorted JSON) and then each file as ``\\0name\\0`` + bytes."""
        h = hashlib.sha256(json.dumps(self.spec, sort_keys=True).encode())
        for name, path in self.files:
            h.update(b"\0" + name.encode() + b"\0")
            with open(path, "rb") as f:
                h.update(f.read())
        return h.hexdigest()[:12]

    def tag(self) -> str:
        return "%s:%s" % (self.repo, self.hash())


# --------------------------------------------------------------------------- mirror
def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    stanza: dict[str, str] = {}
    key = None
    for raw in text.splitlines() + [""]:
        line = raw.rstrip()
        if line.startswith("#"):
            continue
        if not line.strip():
            if stanza:
                yield stanza
            stanza, key = {}, None
            continue
        if line[0] in " \t" and key:
            stanza[key] += " " + line.strip()
            continue
        if ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            stanza[key] = value.strip()


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def detect_mirror(suite: str = "bookworm") -> str:
    """The Debian mirror apt on this machine uses for ``suite`` (env CTLPLANE_DEBIAN_MIRROR wins)."""
    env = os.environ.get("CTLPLANE_DEBIAN_MIRROR")
    if env:
        return env
    candidates: list[tuple[str, list[str]]] = []
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        for line in (_read(path) or "").splitlines():
            m = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line.split("#", 1)[0].strip())
            if m:
                candidates.append((m.group(1), [m.group(2)]))
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for st in _deb822_stanzas(_read(path) or ""):
            if "deb" not in st.get("types", "").split() or st.get("enabled", "yes").lower() == "no":
                continue
            for uri in st.get("uris", "").split():
                candidates.append((uri, st.get("suites", "").split()))
    for uri, suites in candidates:
        if suite in suites and uri.startswith(("http://", "https://", "file:/")):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


# --------------------------------------------------------------------------- helpers
def client_or_default(client: Any = None) -> Any:
    if client is not None:
        return client
    import docker  # imported lazily so --print-tag works without the SDK

    return docker.from_env(timeout=IMPORT_TIMEOUT_S)


def image_exists(client: Any, ref: str) -> bool:
    import docker

    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def _mounts_under(path: str) -> list[str]:
    path = os.path.realpath(path)
    out = []
    for line in (_read("/proc/self/mounts") or "").splitlines():
        mp = line.split()[1].replace("\\040", " ")
        if mp == path or mp.startswith(path + "/"):
            out.append(mp)
    return sorted(out, key=len, reverse=True)


def _processes_rooted_in(path: str) -> list[int]:
    """PIDs whose root directory is inside ``path`` (daemons a package left running)."""
    path = os.path.realpath(path)
    pids = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            root = os.readlink(d + "/root")
        except OSError:
            continue
        if root == path or root.startswith(path + "/"):
            pids.append(int(os.path.basename(d)))
    return pids


def remove_tree(path: str, progress: Progress) -> None:
    """Remove a (possibly half-built) rootfs safely: kill processes rooted in it, unmount leftovers first."""
    if not os.path.lexists(path):
        return
    for pid in _processes_rooted_in(path):
        progress("killing leftover process %d running inside %s" % (pid, path))
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    for mp in _mounts_under(path):
        progress("unmounting leftover %s" % mp)
        subprocess.run(["umount", "-l", mp], check=False)
    subprocess.run(["rm", "-rf", "--one-file-system", path], check=False)  # never descend into a mount
    if os.path.lexists(path):
        raise RuntimeError("could not remove %s" % path)


def run_debootstrap(recipe: Recipe, rootfs: str, mirror: str, log_path: str, progress: Progress) -> None:
    debs = os.path.join(CACHE_DIR, "debs")
    os.makedirs(debs, exist_ok=True)
    spec = recipe.spec
    cmd = ["debootstrap", "--variant=" + spec["variant"], "--include=" + ",".join(spec["packages"]),
           "--cache-dir=" + debs, spec["suite"], rootfs, mirror]
    progress("running: " + " ".join(cmd))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
    noisy = re.compile(r"^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) ")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, stdin=subprocess.DEVNULL)
        timer = threading.Timer(DEBOOTSTRAP_TIMEOUT_S, proc.kill)
        timer.start()
        counts: dict[str, int] = {}
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                line = line.rstrip()
                m = noisy.match(line)
                if m:
                    counts[m.group(1)] = counts.get(m.group(1), 0) + 1
                    if counts[m.group(1)] % 25 == 0:
                        progress("  debootstrap: %s ... (%d packages)" % (m.group(1).lower(), counts[m.group(1)]))
                    continue
                progress("  debootstrap: " + line)
            rc = proc.wait()
        finally:
            timer.cancel()
    if rc != 0:
        with open(log_path) as f:
            tail = f.readlines()[-30:]
        raise RuntimeError("debootstrap failed (rc=%s), log %s:\n%s" % (rc, log_path, "".join(tail)))


def common_cleanup(recipe: Recipe, rootfs: str) -> None:
    """Steps every recipe shares: no service starts on install, apt lists/archives and docs dropped, the hash."""
    def p(rel: str) -> str:
        return os.path.join(rootfs, rel)

    with open(p("usr/sbin/policy-rc.d"), "w") as f:
        f.write("#!/bin/sh\nexit 101\n")
    os.chmod(p("usr/sbin/policy-rc.d"), 0o755)
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*"):
        for f in glob.glob(p(pattern)):
            if os.path.isfile(f) and not f.endswith("/lock"):
                os.unlink(f)
    for d in ("usr/share/doc", "usr/share/man", "usr/share/info"):
        if os.path.isdir(p(d)):
            shutil.rmtree(p(d))
            os.makedirs(p(d))
    with open(p("etc/ctlplane-image"), "w") as f:
        f.write("recipe=%s\n" % recipe.hash())
