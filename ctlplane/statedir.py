"""Where each proxy's deployed files live on this host, and reading them back.

The default state directory is ``.ctlplane/<proxy>/`` beside the model file;
a local runtime may set its own ``state_dir`` and a docker runtime its
``config_dir``. Only the files ctlplane renders are read (runtime files such
as pid files, sockets, logs and caches are ignored).
"""

from __future__ import annotations

from pathlib import Path

from ctlplane.model.load import Loaded

RUNTIME_DIRS = ("logs", "tmp", "cache", "run")
RUNTIME_SUFFIXES = (".pid", ".sock", ".lock")


def state_root(loaded: Loaded) -> Path:
    return loaded.base_dir / ".ctlplane"


def proxy_dir(loaded: Loaded, proxy_name: str) -> Path:
    proxy = loaded.model.proxy(proxy_name)
    configured = getattr(proxy.runtime, "state_dir", None) or getattr(proxy.runtime, "config_dir", None)
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else loaded.base_dir / path
    return state_root(loaded) / proxy_name


def is_runtime_file(rel: str) -> bool:
    first = rel.split("/", 1)[0]
    return first in RUNTIME_DIRS or rel.endswith(RUNTIME_SUFFIXES) or first.startswith(".")


def read_deployed(directory: Path) -> dict[str, bytes]:
    """The rendered files currently in ``directory`` (relative path -> bytes); empty when it does not exist."""
    if not directory.is_dir():
        return {}
    files: dict[str, bytes] = {}
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_file() and not path.is_symlink() and not is_runtime_file(rel):
            files[rel] = path.read_bytes()
    return files
