"""Build the ctlplane integration base image offline (debootstrap + docker import).

No container registry is reachable here, so instead of pulling nginx/haproxy
images we debootstrap a minimal Debian rootfs from the apt mirror this machine
is configured with, bake in the echo backend, and import the rootfs as a
docker image with the docker SDK (never the docker CLI). The machinery is
shared with the other recipes (``rootfs.py``, ``store.py``).

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
import os
import shutil
import sys
from typing import Any

from integration.images import store
from integration.images.rootfs import DEFAULT_MIRROR, Progress, Recipe, detect_mirror

__all__ = ["DEFAULT_MIRROR", "PACKAGES", "RECIPE", "detect_mirror", "ensure_image", "image_tag", "main",
           "recipe_hash"]

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

# Everything that determines the image content.  Bump RECIPE["rev"] whenever the
# post-processing code in _customize_rootfs() or rootfs.common_cleanup() changes meaning.
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


def _customize_rootfs(rootfs: str, progress: Progress) -> None:
    def p(rel: str) -> str:
        return os.path.join(rootfs, rel)

    os.makedirs(os.path.dirname(p(ECHO_DST)), exist_ok=True)
    shutil.copyfile(ECHO_SRC, p(ECHO_DST))
    os.chmod(p(ECHO_DST), 0o755)
    if os.path.lexists(p("etc/nginx/sites-enabled/default")):
        os.unlink(p("etc/nginx/sites-enabled/default"))
    for d in ("run/haproxy", "run/nginx"):
        os.makedirs(p(d), exist_ok=True)
    progress("customized rootfs (echo.py at /%s, default site removed)" % ECHO_DST)


BASE = Recipe(REPO_NAME, RECIPE, files=(("echo.py", ECHO_SRC),), customize=_customize_rootfs)


def recipe_hash() -> str:
    """12 hex chars of sha256 over the recipe constants and the echo backend source."""
    return BASE.hash()


def image_tag() -> str:
    """The content-addressed tag, e.g. ``ctlplane-base:3f2a9c0d1e4b``."""
    return BASE.tag()


def ensure_image(client: Any = None, progress: Progress | None = print, force: bool = False) -> str:
    """Make sure ``ctlplane-base:<recipe hash>`` exists (building it if needed); return that tag.

    Cheap when cached (one image inspect).  ``progress`` receives human-readable
    lines (pass ``None`` or ``lambda s: None`` to silence).  ``force`` rebuilds
    even when the tag exists.
    """
    return store.ensure(BASE, client, progress, force)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m integration.images.build", description=__doc__.split("\n")[0])
    ap.add_argument("--force", action="store_true", help="rebuild even if the tag exists")
    ap.add_argument("--print-tag", action="store_true", help="print the image tag for this recipe and exit")
    ap.add_argument("--quiet", action="store_true", help="only print the final tag")
    args = ap.parse_args(argv)
    if args.print_tag:
        print(image_tag())
        return 0
    progress = None if args.quiet else (lambda s: print(s, flush=True))
    print(ensure_image(progress=progress, force=args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
