"""The on-disk layout of a proxy's state directory, shared by validation and the drivers.

``<state>/config`` is a relative symlink to the active ``releases/<id>/``
holding exactly the rendered files; ``logs/``, ``tmp/``, ``cache/`` and
``run/`` (pid files, sockets, locks, the runtime record) sit beside it and
survive releases. Configs reach runtime files as ``logs/...``/``run/...`` and
their own files as ``certs/...`` (NGINX: relative to the config file) or
``config/certs/...`` (HAProxy: relative to its working directory, the state
directory). Stage-2 validation builds the same layout in a private temp directory.
"""

from __future__ import annotations

CONFIG_DIR = "config"
RELEASES_DIR = "releases"
RUNTIME_DIRS = ("logs", "tmp", "cache", "run")
WORKER_DIRS = ("tmp", "cache")  # written by unprivileged workers (buffered bodies, cache files)
APPLY_LOCK = "run/apply.lock"
PAIR_LOCK = "run/pair.lock"
RUNTIME_RECORD = "run/runtime.json"
SERVER_STATE = "run/server-state"  # HAProxy's server states, saved before a reload for the new workers
NO_SERVER_STATE = b"1\n"  # the state file's format version alone: nothing to load, and no warning

