"""The Swarm node image: a docker-in-docker host for the fleet lab, built offline like ctlplane-base.

``ctlplane-swarm-node:<recipe hash>`` is a debootstrap bookworm minbase with docker.io (dockerd, containerd,
runc, tini), iptables, iproute2, ca-certificates and curl, imported with the docker SDK through the shared
recipe machinery (``rootfs.py`` + ``store.py``: same mirror, lock, .deb cache and hash-tag cache). Its entrypoint
(``swarm-node-entrypoint.sh``, hashed into the tag) runs dockerd in the foreground on the unix socket and on
``tcp://$CTLPLANE_NODE_ADDR:2375``; the container settings such a node needs here are in
``integration/fleet/lab.py``. ``DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1`` keeps Swarm tasks from trying a registry.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from integration.images import store
from integration.images.rootfs import Progress, Recipe

REPO_NAME = "ctlplane-swarm-node"
ENTRYPOINT_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "swarm-node-entrypoint.sh")
ENTRYPOINT_DST = "usr/local/bin/ctlplane-node-entrypoint"
PACKAGES = ("docker.io", "iptables", "iproute2", "ca-certificates", "curl", "procps")
SPEC = {
    "rev": 1,
    "suite": "bookworm",
    "variant": "minbase",
    "packages": sorted(PACKAGES),
    "post": [
        "install swarm-node-entrypoint.sh at /" + ENTRYPOINT_DST,
        "policy-rc.d exit 101",
        "drop apt lists/archives, docs, man, info",
        "tar excludes proc/* sys/* dev/*",
    ],
    "changes": [
        'ENTRYPOINT ["/' + ENTRYPOINT_DST + '"]',
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        "ENV DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1",
        "VOLUME /var/lib/docker",
        "WORKDIR /",
    ],
}


def _customize(rootfs: str, progress: Progress) -> None:
    dst = os.path.join(rootfs, ENTRYPOINT_DST)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(ENTRYPOINT_SRC, dst)
    os.chmod(dst, 0o755)
    progress("customized rootfs (entrypoint at /%s)" % ENTRYPOINT_DST)


NODE = Recipe(REPO_NAME, SPEC, files=(("entrypoint", ENTRYPOINT_SRC),), customize=_customize)


def node_image_tag() -> str:
    """``ctlplane-swarm-node:<recipe hash>``."""
    return NODE.tag()


def ensure_node_image(client: Any = None, progress: Progress | None = print, force: bool = False) -> str:
    """Build ``ctlplane-swarm-node:<recipe hash>`` unless it exists; return the tag."""
    return store.ensure(NODE, client, progress, force)
