"""Build (or find cached) the three images the fleet lab runs: ctlplane-base, ctlplane-swarm-node, ctlplane-agent.

    python -m integration.images.fleet     # prints one tag a line, with the time each took

``make fleet-images`` runs it, so CI builds the images before the integration stage instead of inside a test's
fixture; the lab calls the same functions, which are cheap when the tags exist.
"""

from __future__ import annotations

import argparse
import sys
import time

from integration.images.agent import ensure_agent_image
from integration.images.build import ensure_image
from integration.images.node import ensure_node_image


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m integration.images.fleet", description=__doc__.split("\n")[0])
    ap.add_argument("--force", action="store_true", help="rebuild the node and agent images even if cached")
    ap.add_argument("--quiet", action="store_true", help="only print the tags")
    args = ap.parse_args(argv)
    progress = None if args.quiet else (lambda s: print(s, flush=True))
    for build in (ensure_image, ensure_node_image, ensure_agent_image):
        t0 = time.monotonic()
        tag = build(progress=progress, force=args.force and build is not ensure_image)
        print("%s\t%.1fs" % (tag, time.monotonic() - t0), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
