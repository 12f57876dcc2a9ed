"""Shared fixtures of the security tests: one model directory with certificates and static roots per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.world import World, make_world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(Path(tmp_path_factory.mktemp("world")))
