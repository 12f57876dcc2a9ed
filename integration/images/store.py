"""Offline image recipes, the Docker half: import a rootfs as ``<repo>:<recipe hash>``, cached, locked, pruned.

:func:`ensure` is cheap when the tag exists (one image inspect). Otherwise it takes the build lock (one file under
the cache folder, shared by every recipe, so pytest-xdist workers and CI steps take turns and a waiter reuses the
image the winner built), debootstraps the recipe's rootfs (``rootfs.py``), streams it as a GNU tar into
``import_image_from_data`` (no temporary tarball, no client timeout), moves ``<repo>:latest`` and removes images
that carried a ``<repo>`` tag before the build unless a container still uses them. Only the Docker SDK is used.
:func:`locked` is the same lock for other builders (the agent image).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

from integration.images import rootfs
from integration.images.rootfs import Progress, Recipe, image_exists


class _TarStream:
    """Iterable over the rootfs as an uncompressed tar made by GNU tar (keeps device nodes, hardlinks and numeric
    owners). After iteration ``rc``, ``total`` and ``stderr`` describe the tar run."""

    def __init__(self, root: str, chunk: int = 1 << 20):
        self.root, self.chunk = root, chunk
        self.rc: int | None = None
        self.total = 0
        self.stderr = ""

    def __iter__(self) -> Iterator[bytes]:
        cmd = ["tar", "--numeric-owner", "-C", self.root,
               "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./dev/*", "-cf", "-", "."]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        try:
            while True:
                buf = proc.stdout.read(self.chunk)
                if not buf:
                    break
                self.total += len(buf)
                yield buf
        finally:
            proc.stdout.close()
            try:
                self.rc = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                self.rc = proc.wait()
            self.stderr = proc.stderr.read().decode(errors="replace")
            proc.stderr.close()


def _import(client: Any, recipe: Recipe, root: str, tag: str, progress: Progress) -> str:
    repo, _, ver = tag.partition(":")
    changes = list(recipe.spec["changes"]) + ["LABEL org.ctlplane.recipe=%s" % ver]
    progress("importing rootfs into docker as %s (streamed tar)" % tag)
    # A generator body makes requests send Transfer-Encoding: chunked over the unix socket, and the SDK passes
    # timeout=None, so a large rootfs is neither buffered in memory nor cut off.
    stream = _TarStream(root)
    out = client.api.import_image_from_data(iter(stream), repository=repo, tag=ver, changes=changes)
    if stream.rc != 0:
        raise RuntimeError("tar failed rc=%s: %s" % (stream.rc, stream.stderr[-2000:]))
    image_id = None
    for line in (out or "").splitlines():  # 200 with a JSON-lines progress stream; errors are in-band
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("error") or msg.get("errorDetail"):
            raise RuntimeError("docker import failed: %s" % (msg.get("error") or msg.get("errorDetail")))
        if str(msg.get("status", "")).startswith("sha256:"):
            image_id = msg["status"]
    progress("imported %.1f MiB -> %s" % (stream.total / 1048576.0, image_id))
    if not image_exists(client, tag):
        raise RuntimeError("import finished but %s is missing (engine said: %s)" % (tag, (out or "")[-500:]))
    return image_id or tag


def tag_latest(client: Any, tag: str, progress: Progress) -> None:
    repo = tag.partition(":")[0]
    img = client.images.get(tag)
    try:
        current = client.images.get(repo + ":latest").id
    except Exception:  # noqa: BLE001 - docker.errors.ImageNotFound or any lookup failure: tag it anew
        current = None
    if current != img.id:
        img.tag(repo, "latest")
        progress("tagged %s:latest -> %s" % (repo, tag))


def repo_image_ids(client: Any, repo: str) -> set[str]:
    return {img.id for img in client.images.list(name=repo)}


def prune_old(client: Any, keep_tag: str, old_ids: set[str], progress: Progress) -> None:
    """Remove images that carried a ``<repo>`` tag before this build (older recipes, or the image a --force
    rebuild replaced and left dangling). An image still used by a container is kept."""
    import docker

    keep_id = client.images.get(keep_tag).id
    for image_id in sorted(old_ids - {keep_id}):
        try:
            img = client.images.get(image_id)
            for t in img.tags:
                client.images.remove(t)
            if image_exists(client, image_id):
                client.images.remove(image_id)
            progress("removed old image %s" % image_id[:19])
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as e:  # in use by a container, etc.
            progress("kept old image %s (%s)" % (image_id[:19], e.explanation or e))


@contextlib.contextmanager
def locked(say: Progress) -> Iterator[None]:
    """The build lock under the cache folder, waited for (bounded) by polling."""
    os.makedirs(rootfs.CACHE_DIR, exist_ok=True)
    lock_path = os.path.join(rootfs.CACHE_DIR, "build.lock")
    with open(lock_path, "w") as lock:
        for attempt in range(int(rootfs.DEBOOTSTRAP_TIMEOUT_S * 2) + 1):
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == 0:
                    say("another build holds %s; waiting" % lock_path)
                time.sleep(0.5)
        else:
            raise TimeoutError("timed out waiting for image build lock %s" % lock_path)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def prefixed(progress: Progress | None, prefix: str = "[ctlplane-image] ") -> Progress:
    return (lambda s: progress(prefix + s)) if progress else (lambda s: None)


def ensure(recipe: Recipe, client: Any = None, progress: Progress | None = print, force: bool = False) -> str:
    """Make sure ``<repo>:<recipe hash>`` exists (building it if needed); return that tag."""
    say = prefixed(progress)
    client = rootfs.client_or_default(client)
    tag = recipe.tag()
    if not force and image_exists(client, tag):
        tag_latest(client, tag, say)
        say("cached: %s" % tag)
        return tag
    with locked(say):
        if not force and image_exists(client, tag):  # built by whoever held the lock
            tag_latest(client, tag, say)
            say("cached (built concurrently): %s" % tag)
            return tag
        return _build(client, recipe, tag, say)


def _build(client: Any, recipe: Recipe, tag: str, say: Progress) -> str:
    t0 = time.monotonic()
    ver = tag.partition(":")[2]
    spec = recipe.spec
    mirror = rootfs.detect_mirror(spec["suite"])
    root = os.path.join(rootfs.CACHE_DIR, "rootfs-%s-%s" % (recipe.repo, ver))
    log_path = os.path.join(rootfs.CACHE_DIR, "debootstrap-%s-%s.log" % (recipe.repo, ver))
    say("building %s (suite=%s variant=%s mirror=%s)" % (tag, spec["suite"], spec["variant"], mirror))
    say("packages: " + ",".join(spec["packages"]))
    rootfs.remove_tree(root, say)  # leftovers of an interrupted build
    old_ids = repo_image_ids(client, recipe.repo)
    try:
        rootfs.run_debootstrap(recipe, root, mirror, log_path, say)
        t1 = time.monotonic()
        say("debootstrap done in %.1fs" % (t1 - t0))
        recipe.customize(root, say)
        rootfs.common_cleanup(recipe, root)
        _import(client, recipe, root, tag, say)
        say("import done in %.1fs" % (time.monotonic() - t1))
    finally:
        rootfs.remove_tree(root, say)
    tag_latest(client, tag, say)
    prune_old(client, tag, old_ids, say)
    for log in glob.glob(os.path.join(rootfs.CACHE_DIR, "debootstrap-%s-*.log" % recipe.repo)):
        if log != log_path:
            os.unlink(log)
    say("built %s in %.1fs" % (tag, time.monotonic() - t0))
    return tag
