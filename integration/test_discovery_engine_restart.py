"""``ctlplane watch`` survives a restart of the Docker engine it follows, and its pool re-syncs.

The engine is a private dockerd of this module (the shared one serves other tests and is never restarted),
with the run's image loaded and a bridge network on an explicit subnet the host reaches. ``ctlplane watch``
runs as a user runs it, with ``DOCKER_HOST=unix://<its socket>``, in front of a local NGINX or HAProxy.
Two members serve; the engine restarts (SIGTERM, as ``systemctl restart docker``: it stops its containers,
and brings back the one with ``restart: always``); a member started once it is back joins, the member that
did not come back leaves, and traffic reaches exactly the two that run, with the same watcher process.
A member stopped after that leaves too: the event stream is followed again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration.harness import DockerSession, Lab, wait_until
from integration.harness.discovered import Members
from integration.harness.localwatch import CliWatch, answers, local_model, need_local, state_dir
from tests.apply.local import free_port
from integration.harness.network import LabNetwork
from integration.harness.private_engine import PrivateEngine

pytestmark = pytest.mark.xdist_group("private-engine")  # one private dockerd for the module's tests


@pytest.fixture(scope="module")
def private(docker_session: DockerSession) -> Iterator[PrivateEngine]:
    need_local("dockerd")
    if os.geteuid() != 0:  # dockerd needs root
        message = "a private dockerd needs root"
        pytest.fail(message) if os.environ.get("CI", "").lower() == "true" else pytest.skip(message)
    engine = PrivateEngine.create(docker_session)
    try:
        yield engine
    finally:
        engine.remove()


@pytest.fixture
def members(private: PrivateEngine, docker_session: DockerSession) -> Iterator[Members]:
    assert private.subnet is not None
    group = Members(Lab(LabNetwork(docker_session, private.network, private.subnet, "restart")), "rs")
    yield group
    group.remove()


def test_watch_survives_an_engine_restart_and_the_pool_resyncs(
        engine: str, private: PrivateEngine, members: Members, tmp_path: Path) -> None:
    need_local(engine)
    stays = members.create(restart=True, client=private.client)  # restart: always, back with the engine
    goes = members.create(client=private.client)  # stopped by the engine's shutdown, not restarted
    port, state = free_port(), state_dir()
    url = f"http://127.0.0.1:{port}/"
    with CliWatch(local_model(engine, port, members.pool(), state), tmp_path, {"DOCKER_HOST": private.url},
                  state) as watch:
        watch.wait_started()
        wait_until(lambda: answers(url) == {stays.name, goes.name}, timeout=20, what="both members answering")
        pid = watch.process.pid if watch.process else None

        private.restart()
        late = members.create(client=private.client)  # started once the engine is back
        wait_until(lambda: answers(url, 10) == {stays.name, late.name}, timeout=60,
                   what=f"traffic to {stays.name} and {late.name} only (watch log:\n{watch.log()})")
        assert goes.name not in watch.rendered() and late.name in watch.rendered()
        assert watch.process is not None and watch.process.poll() is None and watch.process.pid == pid
        assert "docker: reconnected to the engine" in watch.log(), watch.log()
        private.client.containers.get(stays.container.id).stop(timeout=10)  # events after the reconnect: a leave
        wait_until(lambda: answers(url, 10) == {late.name}, timeout=30, what=f"{stays.name} gone after the restart")
    print(f"\n{engine}: engine starts {[round(s, 2) for s in private.starts]} s; watch log:\n{watch.log()}")
