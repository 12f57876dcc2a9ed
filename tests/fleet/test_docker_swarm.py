"""DockerSwarm's requests, checked against a fake docker SDK client (a real Swarm runs only in the fleet lab):
the whole service spec is sent with the version read before and never merged with the current one, configs and
secrets are referenced by ID with their targets and modes, the manager's "update out of sequence" and a taken
name become SwarmConflict, other failures name the manager URL, and engine documents parse into seam records."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest
import requests

from ctlplane.errors import DriverError
from ctlplane.fleet.docker_swarm import DockerSwarm, TlsFiles, _timestamp, manager_client
from ctlplane.fleet.specs import CHECK_COMMAND, AgentSettings, Release, agent_spec
from ctlplane.fleet.swarm import Service, SwarmConflict

URL = "tcp://10.0.0.2:2376"
SETTINGS = AgentSettings("edge", "ctlplane-agent:1", soak_s=30, deadline_s=120, gate={})


def api_error(status: int, text: str) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return docker.errors.APIError(text, response, explanation=text)


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.fail: Exception | None = None

    def _record(self, op: str, /, *args: Any, **kwargs: Any) -> None:
        self.calls.append((op, args, kwargs))
        if self.fail is not None:
            raise self.fail

    def inspect_config(self, name: str) -> dict[str, Any]:
        self._record("inspect_config", name)
        if name == "missing":
            raise docker.errors.NotFound("no such config")
        return {"ID": f"cid-{name}", "Spec": {"Name": name, "Labels": {"a": "b"}}}

    def inspect_secret(self, name: str) -> dict[str, Any]:
        self._record("inspect_secret", name)
        return {"ID": f"sid-{name}", "Spec": {"Name": name}}

    def create_secret(self, **kwargs: Any) -> dict[str, str]:
        self._record("create_secret", **kwargs)
        return {"ID": "sid"}

    def create_service(self, *args: Any, **kwargs: Any) -> dict[str, str]:
        self._record("create_service", *args, **kwargs)
        return {"ID": "svc1"}

    def update_service(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._record("update_service", *args, **kwargs)
        return {}

    def inspect_service(self, name: str) -> dict[str, Any]:
        self._record("inspect_service", name)
        return {"ID": "svc1", "Version": {"Index": 41},
                "Spec": {"Name": name, "Labels": {"ctlplane.fleet": "edge"}, "Mode": {"Replicated": {"Replicas": 1}},
                         "TaskTemplate": {"ForceUpdate": 3}}}

    def tasks(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        self._record("tasks", filters=filters)
        return [{"ID": "t1", "NodeID": "n1", "DesiredState": "running", "CreatedAt": "2024-05-01T10:00:00.123456789Z",
                 "UpdatedAt": "2024-05-01T10:00:05Z",
                 "Status": {"State": "failed", "Err": "task: non-zero exit (1)"},
                 "Spec": {"ForceUpdate": 3, "ContainerSpec": {"Env": ["CTLPLANE_RELEASE=abc", "X=1=2"]}}}]

    def service_logs(self, *args: Any, **kwargs: Any) -> Any:
        self._record("service_logs", *args, **kwargs)
        return iter([b'2024-05-01T10:00:02.5Z {"event":"serving"', b',"release":"abc"}\n',  # the newer task first
                     b'2024-05-01T10:00:01.000000001Z first\n2024-05-01T10:00:03Z second\n'])

    def nodes(self) -> list[dict[str, Any]]:
        return [{"ID": "n1", "Description": {"Hostname": "lb1"}, "Spec": {"Labels": {"ctlplane.fleet": "edge"},
                 "Availability": "active"}, "Status": {"State": "ready", "Addr": "10.0.0.3"}}]


class FakeClient:
    def __init__(self) -> None:
        self.api = FakeApi()


def swarm() -> tuple[DockerSwarm, FakeApi]:
    client = FakeClient()
    return DockerSwarm(URL, client_factory=lambda: client), client.api


def test_an_agent_service_is_created_whole_with_references_by_id() -> None:
    s, api = swarm()
    spec = agent_spec(SETTINGS, "n1", 0, Release("abc", ("p1",), ("key1",)), "", 3)
    made = s.create_service(spec)
    assert made == Service("svc1", spec.name, 41, {"ctlplane.fleet": "edge"}, 3, 1)
    [(_, (template,), kwargs)] = [c for c in api.calls if c[0] == "create_service"]
    assert kwargs["name"] == spec.name and kwargs["labels"] == dict(spec.labels)
    assert kwargs["mode"] == {"replicated": {"Replicas": 1}}  # the SDK's spelling; the engine reads keys case-blind
    assert template["RestartPolicy"]["Condition"] == "none"
    assert template["Placement"] == {"Constraints": ["node.id==n1"]}
    assert template["ForceUpdate"] == 3
    container = template["ContainerSpec"]
    assert container["Image"] == "ctlplane-agent:1" and container["Command"] == ["ctlplane", "agent", "run"]
    assert "CTLPLANE_RELEASE=abc" in container["Env"]
    assert {(m["Type"], m["Source"], m["Target"], m["ReadOnly"]) for m in container["Mounts"]} == {
        ("bind", "/var/run/docker.sock", "/var/run/docker.sock", False),
        ("bind", "/var/lib/ctlplane", "/var/lib/ctlplane", False)}
    assert container["Configs"] == [{"ConfigID": "cid-p1", "ConfigName": "p1", "File": {
        "Name": "/run/ctlplane/release/part-1", "UID": "0", "GID": "0", "Mode": 0o444}}]
    assert container["Secrets"] == [{"SecretID": "sid-key1", "SecretName": "key1", "File": {
        "Name": "key1", "UID": "0", "GID": "0", "Mode": 0o400}}]
    health = container["Healthcheck"]
    assert health["Test"] == ["CMD", *CHECK_COMMAND]
    assert (health["Interval"], health["Retries"], health["StartPeriod"]) == (10**9, 1, 120 * 10**9)


def test_an_update_names_the_version_read_and_never_merges_the_current_spec() -> None:
    s, api = swarm()
    spec = agent_spec(SETTINGS, "n1", 0, Release("abc", ("p1",)), "", 4)
    s.update_service(Service("svc1", spec.name, 41, {}, 3, 1), spec)
    [(_, args, kwargs)] = [c for c in api.calls if c[0] == "update_service"]
    assert args == ("svc1", 41)
    assert kwargs["fetch_current_spec"] is False and kwargs["labels"] == dict(spec.labels)
    assert kwargs["task_template"]["ForceUpdate"] == 4


def test_manager_errors_are_typed_and_name_the_manager() -> None:
    s, api = swarm()
    spec = agent_spec(SETTINGS, "n1", 0, Release("abc", ("p1",)), "", 4)
    api.fail = api_error(500, "rpc error: code = Unknown desc = update out of sequence")
    with pytest.raises(SwarmConflict) as conflict:
        s.update_service(Service("svc1", spec.name, 40, {}, 3, 1), spec)
    assert URL in conflict.value.message
    api.fail = api_error(409, "name conflicts with an existing object")
    with pytest.raises(SwarmConflict):
        s.create_secret("k", b"x", {})
    api.fail = api_error(500, "rpc error: code = Unavailable desc = swarm is not reachable")
    with pytest.raises(DriverError) as failed:
        s.tasks("svc")
    assert not isinstance(failed.value, SwarmConflict)
    assert URL in failed.value.message and "swarm is not reachable" in str(failed.value)


def test_engine_documents_become_seam_records() -> None:
    s, api = swarm()
    assert s.config("missing") is None
    assert s.config("p1") is not None and s.config("p1").labels == {"a": "b"}  # type: ignore[union-attr]
    [task] = s.tasks("ctl-edge-agent-n1")
    assert (task.state, task.terminal, task.generation, task.release) == ("failed", True, 3, "abc")
    assert task.created_at == pytest.approx(_timestamp("2024-05-01T10:00:00Z") + 0.123456)
    assert api.calls[-1] == ("tasks", (), {"filters": {"service": "ctl-edge-agent-n1"}})
    assert s.service_logs("svc", 5) == ["first", '{"event":"serving","release":"abc"}', "second"]  # in time order
    [(_, _, kwargs)] = [c for c in api.calls if c[0] == "service_logs"]
    assert (kwargs["tail"], kwargs["follow"], kwargs["stdout"], kwargs["timestamps"]) == (5, False, True, True)
    [node] = s.nodes()
    assert (node.id, node.hostname, node.state, node.availability, node.address) == (
        "n1", "lb1", "ready", "active", "10.0.0.3")


def test_an_unreachable_manager_is_a_driver_error_naming_it(tmp_path: Any) -> None:
    url = f"unix://{tmp_path}/no-such.sock"
    with pytest.raises(DriverError) as failed:
        DockerSwarm(url, client_factory=lambda: manager_client(url, timeout=2)).nodes()
    assert url in failed.value.message and "connecting" in str(failed.value)


def test_a_tcp_manager_that_accepts_no_connection_is_refused_at_once_naming_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Test 7 saw apply take 36 s to give up on a stopped manager (the SDK's own attempts at a vanished address);
    a listener whose accept queue is full drops new connections the same way, on the loopback."""
    import socket

    monkeypatch.setattr("ctlplane.fleet.docker_swarm.CONNECT_TIMEOUT", 0.5)
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    port = full.getsockname()[1]
    held = [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(1)]  # the queue is full now
    url = f"tcp://127.0.0.1:{port}"
    try:
        with pytest.raises(DriverError) as failed:
            DockerSwarm(url).nodes()
    finally:
        for sock in [*held, full]:
            sock.close()
    assert url in failed.value.message and "cannot connect" in failed.value.message
    assert "no answer within 0.5 s" in str(failed.value)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    with pytest.raises(DriverError) as failed:
        DockerSwarm(refused).nodes()
    assert "cannot connect" in failed.value.message and "refused" in str(failed.value).lower()


def test_tcp_with_tls_files_that_do_not_exist_is_refused_before_any_request(tmp_path: Any) -> None:
    files = TlsFiles(str(tmp_path / "ca.pem"), str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    with pytest.raises(DriverError, match="connecting"):
        DockerSwarm(URL, files).nodes()


def test_logs_that_never_end_are_a_driver_error_within_the_bound() -> None:
    """The SDK reads a log stream without a socket timeout and a manager waits for a lost node's task."""
    import threading

    client = FakeClient()
    release = threading.Event()

    def endless(*args: Any, **kwargs: Any) -> Any:
        release.wait(30)
        return iter([b""])

    client.api.service_logs = endless  # type: ignore[method-assign]
    s = DockerSwarm(URL, client_factory=lambda: client, logs_timeout=0.3)
    try:
        with pytest.raises(DriverError) as caught:
            s.service_logs("ctl-edge-agent-n1", 50)
    finally:
        release.set()
    assert "did not come" in caught.value.message and "no end within 0.3 s" in str(caught.value)
