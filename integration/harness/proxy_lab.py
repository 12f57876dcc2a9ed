"""The lab's PROXY protocol backend ``q`` (host .22): ``proxy_backend.py`` (mounted with the harness), started
once per lab network (see that script for what it answers)."""

from __future__ import annotations

from integration.harness.containers import HARNESS_DIR, HARNESS_MOUNT, _run
from integration.harness.lab import Lab
from integration.harness.wait import wait_until

PROXY_HOST = 22
_started: dict[str, str] = {}


def proxy_backend_address(lab: Lab) -> str:
    return lab.net.ip(PROXY_HOST)


def ensure_proxy_backend(lab: Lab) -> str:
    """The backend's address, starting its container on first use."""
    key = lab.net.name
    if key in _started:
        return _started[key]
    ip = proxy_backend_address(lab)
    container = _run(lab.net, "q", ip, ["python3", f"{HARNESS_MOUNT}/proxy_backend.py", "--name", "q"],
                     volumes={str(HARNESS_DIR): {"bind": HARNESS_MOUNT, "mode": "ro"}})
    wait_until(lambda: b"READY" in container.logs(), timeout=30, what="PROXY backend q READY")
    _started[key] = ip
    return ip
