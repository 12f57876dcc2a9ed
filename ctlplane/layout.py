"""The on-disk layout of a proxy's state directory, shared by validation and the drivers.

``<state>/config`` is a relative symlink to the active ``releases/<id>/``
holding exactly the rendered files; ``logs/``, ``tmp/``, ``cache/`` and
``run/`` (pid files, sockets) sit beside it and survive releases. Configs
reach runtime files as ``logs/...``/``run/...`` and their own files as
``certs/...`` (NGINX: relative to the config file) or ``config/certs/...``
(HAProxy: relative to its working directory, the state directory). Stage-2
validation builds the same layout in a private temp directory.
"""

from __future__ import annotations

CONFIG_DIR = "config"
RELEASES_DIR = "releases"
RUNTIME_DIRS = ("logs", "tmp", "cache", "run")
