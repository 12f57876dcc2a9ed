"""Discovery through the least-privilege socket proxy of examples/docker-discovery/, for real.

The shipped ``socket-proxy.cfg`` runs unchanged in HAProxy (the run's image) with the engine's socket
mounted read-only, published on 127.0.0.1 only. ``ctlplane watch`` runs as a user runs it, with
``DOCKER_HOST=tcp://127.0.0.1:<port>``, in front of a local NGINX or HAProxy: labelled members fill the
pool, a new one joins and a stopped one leaves, with traffic reaching each, while every call discovery made
went through and was allowed. Everything else a client might ask through the proxy (create, stop, inspect,
exec, delete, images) is refused with 403 and changes nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctlplane.discovery.docker import client_class
from integration.harness import DockerSession, Lab, start_lab, wait_until
from integration.harness.discovered import Members
from integration.harness.localwatch import CliWatch, answers, local_model, need_local, state_dir
from tests.apply.local import free_port
from integration.harness.socketproxy import TLS_CONFIG, SocketProxy, start_socket_proxy, write_tls

pytestmark = pytest.mark.xdist_group("socket-proxy")  # one proxy container for the module's tests
ALLOWED = {"/_ping", "/version", "/containers/json", "/events"}  # what the config lets through (any API version)


@pytest.fixture(scope="module")
def sp_lab(docker_session: DockerSession) -> Iterator[Lab]:
    lab = start_lab(docker_session, "sockproxy", backends=(), clients=())
    try:
        yield lab
    finally:
        lab.remove()


@pytest.fixture(scope="module")
def socket_proxy(sp_lab: Lab) -> Iterator[SocketProxy]:
    proxy = start_socket_proxy(sp_lab.net)
    try:
        yield proxy
    finally:
        sp_lab.session.remove_container(proxy.container)


@pytest.fixture
def members(sp_lab: Lab) -> Iterator[Members]:
    group = Members(sp_lab, "sp")
    yield group
    group.remove()


def unversioned(path: str) -> str:
    parts = path.split("/", 2)
    return "/" + parts[2] if len(parts) > 2 and parts[1].startswith("v") and parts[1][1:2].isdigit() else path


def changes(log: str) -> list[str]:
    """What each apply the watcher reported did to the proxy, unchanged ones left out."""
    found = [line.split(": ", 1)[1].split(" (")[0] for line in log.splitlines() if line.startswith("lb: ")]
    return [outcome for outcome in found if outcome != "unchanged"]


def test_discovery_through_the_socket_proxy_fills_a_pool_and_follows_it(
        engine: str, sp_lab: Lab, socket_proxy: SocketProxy, members: Members, tmp_path: Path) -> None:
    need_local(engine)
    first = members.create()
    seen_before = len(socket_proxy.requests())
    port, state = free_port(), state_dir()
    url = f"http://127.0.0.1:{port}/"
    with CliWatch(local_model(engine, port, members.pool(), state), tmp_path, {"DOCKER_HOST": socket_proxy.url},
                  state) as watch:
        watch.wait_started()
        assert answers(url) == {first.name}, watch.log()
        second = members.create()
        wait_until(lambda: second.name in answers(url, 10), timeout=30, what=f"traffic to {second.name} ({watch.log()})")
        first.container.stop(timeout=10)  # it exits at once on SIGTERM, while traffic keeps coming
        wait_until(lambda: answers(url, 10) == {second.name}, timeout=30, what=f"{first.name} out of the traffic")
        # acted on at its events (no periodic pass: --reconcile 0), and removed without an error or a rollback
        wait_until(lambda: first.name not in watch.rendered(), timeout=40, what=f"{first.name} out of the config")
        wait_until(lambda: len(changes(watch.log())) >= 3, timeout=20, what="the removal reported")
    log = watch.log()
    print(f"\n{engine}: watch log:\n{log}")
    assert "error:" not in log and f"changed: docker: {first.name!r}" in log, log
    outcomes = changes(log)
    assert outcomes[0] == "started"
    if engine == "haproxy":
        assert all(o.endswith("runtime change(s), no reload") for o in outcomes[1:]), outcomes
    else:
        assert set(outcomes[1:]) == {"reloaded"}, outcomes
    # Every call that ended went through (a refused one ends at once, with its 403). HAProxy logs a streamed
    # request when it ends, and notices a closed client only at its next write: an event stream may not be
    # logged yet. The watch log's changes named after containers came through it.
    calls = socket_proxy.requests()[seen_before:]
    assert {(method, status) for method, _, status in calls} == {("GET", 200)}, calls
    assert {unversioned(path) for _, path, _ in calls} <= ALLOWED, calls
    assert "/containers/json" in {unversioned(path) for _, path, _ in calls}, calls
    assert f"changed: docker: {second.name!r} start" in log, log


def test_the_socket_proxy_refuses_every_call_that_is_not_a_discovery_read(
        sp_lab: Lab, socket_proxy: SocketProxy, members: Members) -> None:
    import docker

    member = members.create()
    session = sp_lab.session
    client = docker.from_env(environment={"DOCKER_HOST": socket_proxy.url}, timeout=20)
    try:
        assert client.ping() and client.version()["ApiVersion"]
        listed = client.api.containers(filters={"label": [f"{k}={v}" for k, v in members.selector.items()]})
        assert [c["Id"] for c in listed] == [member.container.id]
        name = session.name(sp_lab.net.suffix, "must-not-exist")
        refused = {
            "create": lambda: client.api.create_container(session.image, "true", name=name, labels=session.labels),
            "stop": lambda: client.api.stop(member.container.id, timeout=1),
            "kill": lambda: client.api.kill(member.container.id),
            "inspect": lambda: client.api.inspect_container(member.container.id),  # holds its environment
            "exec": lambda: client.api.exec_create(member.container.id, "id"),
            "logs": lambda: client.api.logs(member.container.id),
            "delete": lambda: client.api.remove_container(member.container.id, force=True),
            "images": lambda: client.api.images(),
            "networks": lambda: client.api.create_network(name),
            "containers/json by POST": lambda: client.api._result(client.api._post(client.api._url("/containers/json"))),
        }
        for what, call in refused.items():
            with pytest.raises(docker.errors.APIError) as denied:
                call()
            assert denied.value.status_code == 403, (what, denied.value)
    finally:
        client.close()
    member.container.reload()
    assert member.container.status == "running"
    assert not session.client.containers.list(all=True, filters={"name": name})
    assert not session.client.networks.list(names=[name])
    logged = socket_proxy.requests()
    assert all(status == 403 for method, path, status in logged
               if method != "GET" or unversioned(path) not in ALLOWED), logged


def test_the_tls_socket_proxy_lets_only_certified_clients_list_and_still_refuses_writes(
        sp_lab: Lab, members: Members, tmp_path: Path) -> None:
    import subprocess
    import sys

    import docker
    import requests

    member = members.create()
    certs = write_tls(tmp_path / "pki")
    proxy = start_socket_proxy(sp_lab.net, TLS_CONFIG, certs)
    try:
        env = {"DOCKER_HOST": proxy.url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs / "client")}
        model = tmp_path / "model.json"
        model.write_text(json.dumps(local_model("haproxy", free_port(), members.pool(), tmp_path / "state")))
        plan = subprocess.run([sys.executable, "-m", "ctlplane", "plan", str(model)], env={**os.environ, **env},
                              capture_output=True, text=True, timeout=120)
        assert "pool web: 1 discovered member(s)" in plan.stdout and member.name in plan.stdout, plan
        client = client_class().from_env(environment=env, timeout=20)  # the SDK alone trusts REQUESTS_CA_BUNDLE
        try:
            with pytest.raises(docker.errors.APIError) as denied:
                client.api.stop(member.container.id, timeout=1)
            assert denied.value.status_code == 403
        finally:
            client.close()
        anonymous = docker.DockerClient(base_url=proxy.url.replace("tcp://", "https://"), timeout=10,
                                        version="1.41", tls=docker.tls.TLSConfig(ca_cert=str(certs / "client" / "ca.pem")))
        try:
            with pytest.raises(requests.exceptions.ConnectionError):  # the handshake fails: no client certificate
                anonymous.containers.list()
        finally:
            anonymous.close()
    finally:
        sp_lab.session.remove_container(proxy.container)
    member.container.reload()
    assert member.container.status == "running"
