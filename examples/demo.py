"""Where `make demo` runs the quickstart from, and why.

`make demo` applies examples/quickstart.yaml, whose NGINX "sites" serve static files from
examples/quickstart/. Started by root, NGINX runs its workers as 'nobody', who cannot read a checkout
in a private home directory (root's is 0700), and `ctlplane apply` rightly refuses such a model. So,
for root only and only when 'nobody' cannot read the checkout, the demo copies the quickstart model
and its two sites to /var/lib/ctlplane/demo/ and applies it from there. This script prints the model
path to use: `place` copies when needed, `where` only names the path `make down` should use.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ctlplane.model.reach import WORKER_USER, account, tree_blocker

HERE = Path(__file__).resolve().parent
MODEL = HERE / "quickstart.yaml"
SITES = HERE / "quickstart"
STAGED = Path("/var/lib/ctlplane/demo")


def blocked() -> str | None:
    """Why the workers could not read the checkout's sites (None: they can, or we are not root)."""
    who = account(WORKER_USER)
    if os.geteuid() != 0 or who is None:
        return None
    return tree_blocker(SITES, who)


def place() -> Path:
    why = blocked()
    if why is None:
        return MODEL
    print(f"demo: NGINX workers run as {WORKER_USER!r} and cannot read this checkout ({why}); running the "
          f"quickstart from a copy in {STAGED}", file=sys.stderr)
    STAGED.mkdir(parents=True, exist_ok=True)
    os.chmod(STAGED, 0o755)  # noqa: S103 - the workers read the sites below it
    shutil.copy2(MODEL, STAGED / MODEL.name)
    shutil.copytree(SITES, STAGED / SITES.name, dirs_exist_ok=True)
    for path in [STAGED / SITES.name, *(STAGED / SITES.name).rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)  # noqa: S103 - public demo pages
    return STAGED / MODEL.name


def where() -> Path:
    staged = STAGED / MODEL.name
    return staged if blocked() is not None and staged.exists() else MODEL


if __name__ == "__main__":
    print({"place": place, "where": where}[sys.argv[1]]())
