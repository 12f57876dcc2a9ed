"""Build the ctlplane integration base image offline (debootstrap + docker import).

No container registry is reachable here, so instead of pulling nginx/haproxy
images we debootstrap a minimal Debian rootfs from the apt mirror this machine
is configured with, bake in the echo backend, and import the rootfs as a
docker image with the docker SDK (never the docker CLI).

    python -m integration.images.build            # build if missing, print tag
    python -m integration.images.build --force    # rebuild even if cached
    python -m integration.images.build --print-tag  # only print the tag

Image tags:
    ctlplane-base:<recipe hash>   sha256 (first 12 hex) over RECIPE (suite, variant,
                                  package list, post-steps, image config) + echo.py
    ctlplane-base:latest          moved to the newest build

The test suite calls ``ensure_image()`` which is cached: when the hash tag
already exists nothing is built.  Concurrent callers (pytest-xdist workers)
serialise on a file lock and the losers reuse the winner's image.
"""

from __future__ import annotations

import argparse
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

REPO_NAME = "ctlplane-base"
SUITE = "bookworm"
VARIANT = "minbase"
PACKAGES = (
    "nginx",
    "libnginx-mod-stream",
    "haproxy",
    "keepalived",
    "iproute2",
    "curl",
    "python3",
    "ca-certificates",
    "procps",
)
ECHO_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "backend", "echo.py")
ECHO_DST = "opt/ctlplane/echo.py"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
CACHE_DIR = os.environ.get("CTLPLANE_IMAGE_CACHE", "/var/cache/ctlplane-images")
DEBOOTSTRAP_TIMEOUT_S = 30 * 60
IMPORT_TIMEOUT_S = 15 * 60

# Everything that determines the image content.  Bump RECIPE["rev"] whenever the
# post-processing code in _customize_rootfs() changes meaning.
RECIPE = {
    "rev": 1,
    "suite": SUITE,
    "variant": VARIANT,
    "packages": sorted(PACKAGES),
    "post": [
        "install echo.py at /" + ECHO_DST,
        "rm etc/nginx/sites-enabled/default",
        "policy-rc.d exit 101",
        "mkdir run/haproxy run/nginx",
        "drop apt lists/archives, docs, man, info",
        "tar excludes proc/* sys/* dev/*",
    ],
    "changes": [
        'CMD ["/bin/bash"]',
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        "ENV PYTHONUNBUFFERED=1",
        "WORKDIR /",
    ],
}

Progress = Callable[[str], None]


# --------------------------------------------------------------------------- hashing
def recipe_hash() -> str:
    """12 hex chars of sha256 over the recipe constants and the echo backend source."""
    h = hashlib.sha256()
    h.update(json.dumps(RECIPE, sort_keys=True).encode())
    h.update(b"\0echo.py\0")
    with open(ECHO_SRC, "rb") as f:
        h.update(f.read())
    return h.hexdigest()[:12]


def image_tag() -> str:
    """The content-addressed tag, e.g. ``ctlplane-base:3f2a9c0d1e4b``."""
    return "%s:%s" % (REPO_NAME, recipe_hash())


# --------------------------------------------------------------------------- mirror
def _deb822_stanzas(text: str) -> Iterator[dict]:
    stanza: dict = {}
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


def detect_mirror(suite: str = SUITE) -> str:
    """The Debian mirror apt on this machine uses for ``suite`` (env CTLPLANE_DEBIAN_MIRROR wins)."""
    env = os.environ.get("CTLPLANE_DEBIAN_MIRROR")
    if env:
        return env
    candidates = []  # (uri, suites)
    one_line = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
    for path in one_line:
        try:
            text = open(path, encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            m = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m:
                candidates.append((m.group(1), [m.group(2)]))
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            text = open(path, encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        for st in _deb822_stanzas(text):
            if "deb" not in st.get("types", "").split() or st.get("enabled", "yes").lower() == "no":
                continue
            for uri in st.get("uris", "").split():
                candidates.append((uri, st.get("suites", "").split()))
    for uri, suites in candidates:
        if suite in suites and uri.startswith(("http://", "https://", "file:/")):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


# --------------------------------------------------------------------------- helpers
def _client(client=None):
    if client is not None:
        return client
    import docker  # imported lazily so --print-tag works without the SDK

    return docker.from_env(timeout=IMPORT_TIMEOUT_S)


def _image_exists(client, ref: str) -> bool:
    import docker

    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def _mounts_under(path: str) -> list:
    path = os.path.realpath(path)
    out = []
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                mp = line.split()[1].replace("\\040", " ")
                if mp == path or mp.startswith(path + "/"):
                    out.append(mp)
    except OSError:
        pass
    return sorted(out, key=len, reverse=True)


def _processes_rooted_in(path: str) -> list:
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


def _remove_tree(path: str, progress: Progress) -> None:
    """Remove a (possibly half-built) rootfs safely: unmount leftovers first."""
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
    # --one-file-system: never descend into anything still mounted
    subprocess.run(["rm", "-rf", "--one-file-system", path], check=False)
    if os.path.lexists(path):
        raise RuntimeError("could not remove %s" % path)


def _run_debootstrap(rootfs: str, mirror: str, log_path: str, progress: Progress) -> None:
    debs = os.path.join(CACHE_DIR, "debs")
    os.makedirs(debs, exist_ok=True)
    cmd = [
        "debootstrap",
        "--variant=" + VARIANT,
        "--include=" + ",".join(PACKAGES),
        "--cache-dir=" + debs,
        SUITE,
        rootfs,
        mirror,
    ]
    progress("running: " + " ".join(cmd))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
    noisy = re.compile(r"^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) ")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, stdin=subprocess.DEVNULL)
        timer = threading.Timer(DEBOOTSTRAP_TIMEOUT_S, proc.kill)
        timer.start()
        counts: dict = {}
        try:
            for line in proc.stdout:
                log.write(line)
                line = line.rstrip()
                m = noisy.match(line)
                if m:
                    phase = m.group(1)
                    counts[phase] = counts.get(phase, 0) + 1
                    if counts[phase] % 25 == 0:
                        progress("  debootstrap: %s ... (%d packages)" % (phase.lower(), counts[phase]))
                    continue
                progress("  debootstrap: " + line)
            rc = proc.wait()
        finally:
            timer.cancel()
    if rc != 0:
        with open(log_path) as f:
            tail = f.readlines()[-30:]
        raise RuntimeError("debootstrap failed (rc=%s), log %s:\n%s" % (rc, log_path, "".join(tail)))


def _customize_rootfs(rootfs: str, progress: Progress) -> None:
    def p(rel):
        return os.path.join(rootfs, rel)

    os.makedirs(os.path.dirname(p(ECHO_DST)), exist_ok=True)
    shutil.copyfile(ECHO_SRC, p(ECHO_DST))
    os.chmod(p(ECHO_DST), 0o755)
    if os.path.lexists(p("etc/nginx/sites-enabled/default")):
        os.unlink(p("etc/nginx/sites-enabled/default"))
    with open(p("usr/sbin/policy-rc.d"), "w") as f:  # no service starts on apt-get install
        f.write("#!/bin/sh\nexit 101\n")
    os.chmod(p("usr/sbin/policy-rc.d"), 0o755)
    for d in ("run/haproxy", "run/nginx"):
        os.makedirs(p(d), exist_ok=True)
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*"):
        for f in glob.glob(p(pattern)):
            if os.path.isfile(f) and not f.endswith("/lock"):
                os.unlink(f)
    for d in ("usr/share/doc", "usr/share/man", "usr/share/info"):
        if os.path.isdir(p(d)):
            shutil.rmtree(p(d))
            os.makedirs(p(d))
    with open(p("etc/ctlplane-image"), "w") as f:
        f.write("recipe=%s\n" % recipe_hash())
    progress("customized rootfs (echo.py at /%s, default site removed)" % ECHO_DST)


class _TarStream:
    """Iterable over the rootfs as an uncompressed tar made by GNU tar (keeps
    device nodes, hardlinks and numeric owners).  After iteration ``rc``,
    ``total`` and ``stderr`` describe the tar run."""

    def __init__(self, rootfs: str, chunk: int = 1 << 20):
        self.rootfs, self.chunk = rootfs, chunk
        self.rc: int | None = None
        self.total = 0
        self.stderr = ""

    def __iter__(self):
        cmd = ["tar", "--numeric-owner", "-C", self.rootfs,
               "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./dev/*",
               "-cf", "-", "."]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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


def _import(client, rootfs: str, tag: str, progress: Progress) -> str:
    repo, _, ver = tag.partition(":")
    changes = RECIPE["changes"] + ["LABEL org.ctlplane.recipe=%s" % ver]
    progress("importing rootfs into docker as %s (streamed tar)" % tag)
    # import_image_from_data(): a generator body makes requests send
    # Transfer-Encoding: chunked over the unix socket, and the SDK passes
    # timeout=None, so a large rootfs is neither buffered in memory nor cut off.
    stream = _TarStream(rootfs)
    out = client.api.import_image_from_data(iter(stream), repository=repo, tag=ver, changes=changes)
    if stream.rc != 0:
        raise RuntimeError("tar failed rc=%s: %s" % (stream.rc, stream.stderr[-2000:]))
    # The engine answers 200 with a JSON-lines progress stream; errors are in-band.
    image_id = None
    for line in (out or "").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("error") or msg.get("errorDetail"):
            raise RuntimeError("docker import failed: %s" % (msg.get("error") or msg.get("errorDetail")))
        if str(msg.get("status", "")).startswith("sha256:"):
            image_id = msg["status"]
    progress("imported %.1f MiB -> %s" % (stream.total / 1048576.0, image_id))
    if not _image_exists(client, tag):
        raise RuntimeError("import finished but %s is missing (engine said: %s)" % (tag, (out or "")[-500:]))
    return image_id or tag


def _tag_latest(client, tag: str, progress: Progress) -> None:
    img = client.images.get(tag)
    latest = "%s:latest" % REPO_NAME
    try:
        current = client.images.get(latest).id
    except Exception:  # noqa: BLE001 - docker.errors.ImageNotFound or any lookup failure: tag it anew
        current = None
    if current != img.id:
        img.tag(REPO_NAME, "latest")
        progress("tagged %s -> %s" % (latest, tag))


def _repo_image_ids(client) -> set:
    return {img.id for img in client.images.list(name=REPO_NAME)}


def _prune_old(client, keep_tag: str, old_ids: set, progress: Progress) -> None:
    """Remove images that carried a ctlplane-base tag before this build (older
    recipes, or the image a --force rebuild replaced and left dangling).  An
    image still used by a container is kept."""
    import docker

    keep_id = client.images.get(keep_tag).id
    for image_id in sorted(old_ids - {keep_id}):
        try:
            img = client.images.get(image_id)
            for t in img.tags:
                client.images.remove(t)
            if _image_exists(client, image_id):
                client.images.remove(image_id)
            progress("removed old image %s" % image_id[:19])
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as e:  # in use by a container, etc.
            progress("kept old image %s (%s)" % (image_id[:19], e.explanation or e))
    for log in glob.glob(os.path.join(CACHE_DIR, "debootstrap-*.log")):
        if not log.endswith("-%s.log" % keep_tag.partition(":")[2]):
            os.unlink(log)


# --------------------------------------------------------------------------- public
def ensure_image(client=None, progress: Progress | None = print, force: bool = False) -> str:
    """Make sure ``ctlplane-base:<recipe hash>`` exists (building it if needed); return that tag.

    Cheap when cached (one image inspect).  ``progress`` receives human-readable
    lines (pass ``None`` or ``lambda s: None`` to silence).  ``force`` rebuilds
    even when the tag exists.
    """
    say: Progress = (lambda s: progress("[ctlplane-image] " + s)) if progress else (lambda s: None)
    client = _client(client)
    tag = image_tag()
    if not force and _image_exists(client, tag):
        _tag_latest(client, tag, say)
        say("cached: %s" % tag)
        return tag

    os.makedirs(CACHE_DIR, exist_ok=True)
    lock_path = os.path.join(CACHE_DIR, "build.lock")
    with open(lock_path, "w") as lock:
        # Bounded wait for a concurrent builder (xdist workers): poll the lock.
        for attempt in range(int(DEBOOTSTRAP_TIMEOUT_S * 2) + 1):
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
            if not force and _image_exists(client, tag):  # built by whoever held the lock
                _tag_latest(client, tag, say)
                say("cached (built concurrently): %s" % tag)
                return tag
            return _build(client, tag, say)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(client, tag: str, say: Progress) -> str:
    t0 = time.monotonic()
    ver = tag.partition(":")[2]
    mirror = detect_mirror()
    rootfs = os.path.join(CACHE_DIR, "rootfs-" + ver)
    log_path = os.path.join(CACHE_DIR, "debootstrap-%s.log" % ver)
    say("building %s (suite=%s variant=%s mirror=%s)" % (tag, SUITE, VARIANT, mirror))
    say("packages: " + ",".join(PACKAGES))
    _remove_tree(rootfs, say)  # leftovers of an interrupted build
    old_ids = _repo_image_ids(client)
    try:
        _run_debootstrap(rootfs, mirror, log_path, say)
        t1 = time.monotonic()
        say("debootstrap done in %.1fs" % (t1 - t0))
        _customize_rootfs(rootfs, say)
        _import(client, rootfs, tag, say)
        say("import done in %.1fs" % (time.monotonic() - t1))
    finally:
        _remove_tree(rootfs, say)
    _tag_latest(client, tag, say)
    _prune_old(client, tag, old_ids, say)
    say("built %s in %.1fs" % (tag, time.monotonic() - t0))
    return tag


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m integration.images.build", description=__doc__.split("\n")[0])
    ap.add_argument("--force", action="store_true", help="rebuild even if the tag exists")
    ap.add_argument("--print-tag", action="store_true", help="print the image tag for this recipe and exit")
    ap.add_argument("--quiet", action="store_true", help="only print the final tag")
    args = ap.parse_args(argv)
    if args.print_tag:
        print(image_tag())
        return 0
    progress = None if args.quiet else (lambda s: print(s, flush=True))
    tag = ensure_image(progress=progress, force=args.force)
    print(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
