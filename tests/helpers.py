"""Shared test helpers: finding the proxy binaries (a missing one fails in CI,
skips elsewhere), running stage 2 on rendered output, and test certificates."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINARIES = {"nginx": "nginx", "haproxy": "haproxy", "keepalived": "keepalived"}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def need_binary(name: str) -> str:
    """The path of a proxy binary; in CI a missing one fails the test, elsewhere it skips."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if path is None:
        if in_ci():
            pytest.fail(f"{name} is not installed (CI must install it)")
        pytest.skip(f"{name} is not installed")
    return path


def example_certs(directory: Path) -> Path:
    """Generate the example certificates into ``directory`` (idempotent)."""
    sys.path.insert(0, str(ROOT / "examples" / "certs"))
    try:
        import generate  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    generate.main(directory)
    return directory
