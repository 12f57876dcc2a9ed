"""Where each proxy's state directory lives on this host.

The default is ``.ctlplane/<proxy>/`` beside the model file; a local runtime
may set its own ``state_dir`` and a docker runtime its ``config_dir``.
"""

from __future__ import annotations

from pathlib import Path

from ctlplane.model.load import Loaded


def state_root(loaded: Loaded) -> Path:
    return loaded.base_dir / ".ctlplane"


def proxy_dir(loaded: Loaded, proxy_name: str) -> Path:
    runtime = loaded.model.proxy(proxy_name).runtime
    configured = runtime.state_dir if runtime.kind == "local" else runtime.config_dir
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else loaded.base_dir / path
    return state_root(loaded) / proxy_name
