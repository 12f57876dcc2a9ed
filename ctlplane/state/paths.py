"""Where each proxy's state directory lives on this host.

A runtime's own ``state_dir`` (local) or ``config_dir`` (docker) wins. Otherwise
a docker proxy keeps its state in ``.ctlplane/<proxy>/`` beside the model (its
container mounts it, so the workers inside can always reach it), and so does a
local proxy run by an ordinary user (its workers run as that user). A local
proxy started by root runs its workers as an unprivileged user, who must reach
the state directory (``tmp/`` for buffered bodies, ``cache/``): a model kept in
a private home directory (``/root`` is 0700) would leave them locked out, so
root keeps local state in ``/var/lib/ctlplane/<model dir>-<digest>/<proxy>/``
(``$CTLPLANE_STATE_ROOT`` instead of ``/var/lib/ctlplane`` when set, whoever
runs ctlplane).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ctlplane.model.load import Loaded

SYSTEM_STATE = Path("/var/lib/ctlplane")
STATE_ROOT_ENV = "CTLPLANE_STATE_ROOT"


def state_root(loaded: Loaded, local: bool = True) -> Path:
    """The directory holding the model's proxies' state directories."""
    override = os.environ.get(STATE_ROOT_ENV)
    if local and (override or os.geteuid() == 0):
        base = loaded.base_dir.resolve()
        slug = f"{base.name or 'root'}-{hashlib.sha256(str(base).encode()).hexdigest()[:10]}"
        return Path(override or SYSTEM_STATE) / slug
    return loaded.base_dir / ".ctlplane"


def proxy_dir(loaded: Loaded, proxy_name: str) -> Path:
    runtime = loaded.model.proxy(proxy_name).runtime
    configured = runtime.state_dir if runtime.kind == "local" else runtime.config_dir
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else loaded.base_dir / path
    return state_root(loaded, local=runtime.kind == "local") / proxy_name
