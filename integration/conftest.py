"""Fixtures of the Docker integration suite (run it with ``.venv/bin/pytest integration``).

``docker_session`` (session) connects to the Docker engine, builds or
reuses the ``ctlplane-base`` image and removes everything the run created
at the end; without an engine the suite is skipped, or fails when
``CI=true``. ``lab`` is one network per test module with echo backends
``a``/``b``/``c`` and clients ``c1``/``c2``, reset before each test.
``deployer`` deploys proxies with ``ctlplane.apply`` for one test and
removes them afterwards. ``engine`` parametrizes a test over both engines.
When a test fails, every proxy it deployed adds its logs and rendered
configuration to the report.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.harness import Deployer, DockerSession, EngineUnavailable, Lab, start_lab, start_session

ENGINES = ("nginx", "haproxy")


def pytest_configure(config: pytest.Config) -> None:
    """With ``-n``, keep the tests of one ``xdist_group`` on one worker (the parity suite deploys each group
    once per engine and runs all of its scenarios against it)."""
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"


def _progress(line: str) -> None:
    if "cached" not in line and sys.__stderr__ is not None:
        sys.__stderr__.write(line + "\n")


@pytest.fixture(scope="session")
def docker_session() -> Iterator[DockerSession]:
    try:
        session = start_session(progress=_progress)
    except EngineUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))
    try:
        yield session
    finally:
        session.cleanup()
        left = session.leftovers()
        assert not left, f"integration run left Docker resources behind: {left}"


@pytest.fixture(scope="module")
def lab_module(docker_session: DockerSession, request: pytest.FixtureRequest) -> Iterator[Lab]:
    suffix = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")[:16]
    lab = start_lab(docker_session, suffix)
    try:
        yield lab
    finally:
        lab.remove()


@pytest.fixture
def lab(lab_module: Lab) -> Lab:
    lab_module.reset()
    return lab_module


@pytest.fixture
def deployer(lab: Lab, tmp_path: Path) -> Iterator[Deployer]:
    found = Deployer(lab, tmp_path)
    try:
        yield found
    finally:
        found.teardown()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    if not report.failed:
        return
    found = getattr(item, "funcargs", {}).get("deployer")
    for deployment in getattr(found, "deployments", []):
        title = f"proxy {deployment.proxy} ({deployment.engine}, {deployment.container_name})"
        try:
            report.sections.append((f"{title} logs", deployment.logs()))
            for rel, text in deployment.rendered().items():
                report.sections.append((f"{title} config/{rel}", text))
        except Exception as exc:  # noqa: BLE001 - a report must never fail
            report.sections.append((f"{title}", f"could not collect logs: {exc}"))
