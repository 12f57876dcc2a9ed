"""The fleet agent image: ctlplane-base plus a venv holding ctlplane installed from a wheel of this checkout.

``ctlplane-agent:<hash>``: the hash covers the recipe (the base image tag, the Dockerfile) and the wheel's inputs
(``pyproject.toml``, ``README.md``, every file under ``ctlplane/`` and ``templates/``), so a cached call only
hashes the tree. A build (under the shared image build lock) runs ``pip wheel`` for the checkout and its
dependencies, pinned to the versions of the running venv (``--constraint``), into a wheelhouse kept in the image
cache folder (a rebuild needs no index when nothing changed), then builds the image with the docker SDK with the
network off: a ``--without-pip`` venv in which pip, run from its own wheel, installs ctlplane from the wheelhouse.
The image's command is ``ctlplane agent run``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from integration.images import rootfs, store
from integration.images.build import ensure_image
from integration.images.rootfs import Progress

REPO_NAME = "ctlplane-agent"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = "/opt/ctlplane/venv"
DOCKERFILE = """\
FROM {base}
COPY wheels /tmp/wheels
RUN python3 -m venv --without-pip {venv} \\
 && {venv}/bin/python "$(ls /tmp/wheels/pip-*.whl)/pip" install --no-index --no-cache-dir --find-links /tmp/wheels \\
      ctlplane \\
 && rm -rf /tmp/wheels && {venv}/bin/ctlplane --help >/dev/null
ENV PATH={venv}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.ctlplane.recipe={recipe}
CMD ["ctlplane", "agent", "run"]
"""
RECIPE_REV = 1
BUILD_TIMEOUT_S = 15 * 60


def _wheel_inputs() -> list[str]:
    """Relative paths of everything the project's wheel is built from, sorted."""
    found = ["pyproject.toml", "README.md"]
    for top in ("ctlplane", "templates"):
        for folder, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            found += [os.path.relpath(os.path.join(folder, f), ROOT) for f in files if not f.endswith(".pyc")]
    return sorted(found)


def agent_hash(base_tag: str) -> str:
    """12 hex chars of sha256 over the recipe (base tag, Dockerfile, rev) and the wheel's input files."""
    h = hashlib.sha256(json.dumps({"rev": RECIPE_REV, "base": base_tag, "dockerfile": DOCKERFILE}).encode())
    for rel in _wheel_inputs():
        h.update(b"\0" + rel.encode() + b"\0")
        with open(os.path.join(ROOT, rel), "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:12]


def _constraints(path: str) -> None:
    """Pin every distribution of the running environment (except ctlplane) to the version installed here."""
    pins = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() != "ctlplane":
            pins.add("%s==%s" % (name, dist.version))
    with open(path, "w") as f:
        f.write("\n".join(sorted(pins)) + "\n")


def _pip(args: list[str], say: Progress) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    say("running: " + " ".join(cmd))
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if run.returncode != 0:
        raise RuntimeError("pip failed (rc=%s):\n%s" % (run.returncode, (run.stdout + run.stderr)[-3000:]))


def _wheelhouse(ctx: str, say: Progress) -> None:
    """The project's wheel and its dependencies' wheels (and pip's own) into ``ctx/wheels``."""
    house = os.path.join(rootfs.CACHE_DIR, "agent-wheels")
    os.makedirs(house, exist_ok=True)
    wheels = os.path.join(ctx, "wheels")
    os.makedirs(wheels)
    _pip(["wheel", "--no-deps", "-q", "-w", wheels, ROOT], say)
    project = [os.path.join(wheels, w) for w in os.listdir(wheels)]
    pins = os.path.join(ctx, "constraints.txt")
    _constraints(pins)
    deps = ["wheel", "-q", "-w", house, "--find-links", house, "-c", pins, *project,
            "pip==" + importlib.metadata.version("pip")]
    try:
        _pip([*deps, "--no-index"], say)  # everything already in the wheelhouse: no index asked
    except RuntimeError:
        _pip(deps, say)
    for name in os.listdir(house):
        if name.startswith("ctlplane-"):
            os.unlink(os.path.join(house, name))  # the project's wheel is the one in ctx, never a cached one
        elif name.endswith(".whl"):
            shutil.copy(os.path.join(house, name), wheels)


def ensure_agent_image(client: Any = None, progress: Progress | None = print, force: bool = False) -> str:
    """Build ``ctlplane-agent:<hash>`` (and ctlplane-base first) unless it exists; return the tag."""
    say = store.prefixed(progress)
    client = rootfs.client_or_default(client)
    base = ensure_image(client, progress=progress)
    tag = "%s:%s" % (REPO_NAME, agent_hash(base))
    if not force and rootfs.image_exists(client, tag):
        store.tag_latest(client, tag, say)
        say("cached: %s" % tag)
        return tag
    with store.locked(say):
        if not force and rootfs.image_exists(client, tag):
            say("cached (built concurrently): %s" % tag)
            return tag
        t0 = time.monotonic()
        old_ids = store.repo_image_ids(client, REPO_NAME)
        with tempfile.TemporaryDirectory(prefix="ctlplane-agent-") as ctx:
            _wheelhouse(ctx, say)
            say("wheels ready in %.1fs; building %s" % (time.monotonic() - t0, tag))
            with open(os.path.join(ctx, "Dockerfile"), "w") as f:
                f.write(DOCKERFILE.format(base=base, venv=VENV, recipe=tag.partition(":")[2]))
            client.images.build(path=ctx, tag=tag, rm=True, forcerm=True, network_mode="none", pull=False,
                                timeout=BUILD_TIMEOUT_S)
        store.tag_latest(client, tag, say)
        store.prune_old(client, tag, old_ids, say)
        say("built %s in %.1fs" % (tag, time.monotonic() - t0))
        return tag
