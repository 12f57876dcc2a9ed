"""Test-wide settings: local proxies keep their state under one temporary directory of the run (reachable by
the unprivileged NGINX workers, as /var/lib/ctlplane would be), removed at the end, instead of littering
/var/lib/ctlplane on the machine (tests run as root in CI). Set before any test module is imported, so that
the environments tests give to ctlplane subprocesses carry it too. tests/test_reach.py checks the defaults.
Also the echo backends that tests with real proxies share."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from ctlplane.state.paths import STATE_ROOT_ENV
from tests.apply.local import Echo, start_echo, stop_echoes

_ROOT: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    root = tempfile.mkdtemp(prefix="ctlplane-test-state-")
    os.chmod(root, 0o711)  # noqa: S103 - unprivileged workers traverse it, as they do /var/lib
    os.environ[STATE_ROOT_ENV] = root
    _ROOT.append(root)


def pytest_unconfigure(config: pytest.Config) -> None:
    for root in _ROOT:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def echoes() -> Iterator[dict[str, Echo]]:
    """Echo backends a1, a2 (pool a) and b1 (pool b) on loopback, stopped afterwards."""
    started = {name: start_echo(name) for name in ("a1", "a2", "b1")}
    yield started
    stop_echoes(list(started.values()))


@pytest.fixture
def echo() -> Iterator[Echo]:
    """One echo backend, a1."""
    started = start_echo("a1")
    yield started
    stop_echoes([started])
