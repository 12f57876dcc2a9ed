"""Unit tests of the Docker control with a fake Docker client: the container
description, lookup and creation, error translation, NGINX generations from
``docker top``, and HAProxy reloads through a scripted master CLI socket.
No Docker engine is needed."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from ctlplane.drivers.base import STOPPED, Generation
from ctlplane.drivers.docker import (
    LABEL_ENGINE,
    LABEL_PROXY,
    LABEL_STATE,
    ContainerHandle,
    container_spec,
    docker_control,
    engine_command,
)
from ctlplane.drivers.docker_haproxy import DockerHaproxy
from ctlplane.drivers.haproxy_api import parse_show_proc
from ctlplane.drivers.docker_nginx import DockerNginx, emerg_findings, nginx_generation
from ctlplane.errors import DriverError
from ctlplane.model.proxy import Proxy

TITLES = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
MASTER_CMD = "nginx: master process nginx -p /s/ -c /s/config/nginx.conf -e logs/error.log -g daemon off;"


def top(master: int | None, workers: list[int], others: Sequence[tuple[int, int, str]] = (),
        quitting: Sequence[int] = ()) -> dict[str, Any]:
    rows = [["root", str(master), "900", "0", "10:00", "?", "00:00:00", MASTER_CMD]] if master else []
    rows += [["nobody", str(w), str(master), "0", "10:00", "?", "00:00:00",
              "nginx: worker process" + (" is shutting down" if w in quitting else "")] for w in workers]
    rows += [["root", str(p), str(pp), "0", "10:00", "?", "00:00:00", cmd] for p, pp, cmd in others]
    return {"Titles": TITLES, "Processes": rows}


class FakeContainer:
    def __init__(self, name: str, labels: dict[str, str] | None = None, status: str = "created",
                 mount: str | None = None) -> None:
        self.name, self.labels, self.status = name, labels or {}, status
        mount = mount or (labels or {}).get(LABEL_STATE)
        self.attrs = {"Mounts": [{"Source": mount, "Destination": mount}] if mount else []}
        self.tops: list[dict[str, Any]] = []
        self.signals: list[str] = []
        self.on_kill: Any = None
        self.on_start: Any = None
        self.log_bytes = b""
        self.stopped = self.removed = False

    def start(self) -> None:
        self.status = "running"
        if self.on_start:
            self.on_start(self)

    def reload(self) -> None:
        pass

    def top(self) -> dict[str, Any]:
        if self.status != "running":
            raise docker.errors.APIError("container is not running")
        return self.tops.pop(0) if len(self.tops) > 1 else self.tops[0]

    def kill(self, signal: str) -> None:
        self.signals.append(signal)
        if self.on_kill:
            self.on_kill(self, signal)

    def logs(self, **kwargs: Any) -> bytes:
        return self.log_bytes

    def stop(self, timeout: int) -> None:
        self.stopped, self.status = True, "exited"

    def remove(self, force: bool = False) -> None:
        self.removed = True


class FakeContainers:
    def __init__(self) -> None:
        self.by_name: dict[str, FakeContainer] = {}
        self.created: list[dict[str, Any]] = []
        self.list_filters: list[dict[str, Any]] = []
        self.fail_get: Exception | None = None
        self.missing_image = False

    def get(self, name: str) -> FakeContainer:
        if self.fail_get:
            raise self.fail_get
        if name not in self.by_name:
            raise docker.errors.NotFound(f"No such container: {name}")
        return self.by_name[name]

    def list(self, all: bool = False, filters: dict[str, Any] | None = None) -> list[FakeContainer]:
        self.list_filters.append(filters or {})
        wanted = set((filters or {}).get("label", []))
        return [c for c in self.by_name.values() if wanted <= {f"{k}={v}" for k, v in c.labels.items()}]

    def create(self, **kwargs: Any) -> FakeContainer:
        if self.missing_image:
            raise docker.errors.ImageNotFound("no such image")
        self.created.append(kwargs)
        container = FakeContainer(kwargs["name"], kwargs["labels"])
        self.by_name[container.name] = container
        return container


class FakeClient:
    def __init__(self) -> None:
        self.containers = FakeContainers()


def make_proxy(engine: str = "nginx", network: str | None = "labnet") -> Proxy:
    runtime = {"kind": "docker", "container": "lbc", **({"network": network} if network else {})}
    return Proxy.model_validate({"name": "lb", "engine": engine, "runtime": runtime, "services": ["web"]})


def handle_for(tmp_path: Path, engine: str = "nginx") -> tuple[ContainerHandle, FakeClient]:
    client = FakeClient()
    return ContainerHandle(container_spec(make_proxy(engine), tmp_path), "lb", lambda: client), client


# --- the container description ---------------------------------------------------------------


def test_engine_commands_use_state_relative_paths(tmp_path: Path) -> None:
    assert engine_command("nginx", tmp_path) == (
        "nginx", "-p", f"{tmp_path}/", "-c", f"{tmp_path}/config/nginx.conf", "-e", "logs/error.log",
        "-g", "daemon off;")
    assert engine_command("haproxy", tmp_path) == (
        "haproxy", "-W", "-S", "unix@run/master.sock", "-f", "config/haproxy.cfg", "-p", "run/haproxy.pid")
    with pytest.raises(DriverError):
        engine_command("varnish", tmp_path)


@pytest.mark.parametrize(("engine", "stop_signal"), [("nginx", "SIGQUIT"), ("haproxy", "SIGUSR1")])
def test_spec_mounts_the_state_directory_at_the_same_path(tmp_path: Path, engine: str, stop_signal: str) -> None:
    kwargs = container_spec(make_proxy(engine), tmp_path).create_kwargs()
    assert kwargs["name"] == "lbc" and kwargs["image"] == "ctlplane-base:latest"
    assert kwargs["volumes"] == {str(tmp_path): {"bind": str(tmp_path), "mode": "rw"}}
    assert kwargs["working_dir"] == str(tmp_path) and kwargs["network"] == "labnet"
    assert kwargs["labels"] == {LABEL_PROXY: "lb", LABEL_ENGINE: engine, LABEL_STATE: str(tmp_path)}
    assert kwargs["stop_signal"] == stop_signal and kwargs["detach"] is True
    assert kwargs["command"] == list(engine_command(engine, tmp_path))


def test_spec_without_network(tmp_path: Path) -> None:
    assert "network" not in container_spec(make_proxy(network=None), tmp_path).create_kwargs()


def test_docker_control_picks_the_engine_control(tmp_path: Path) -> None:
    assert isinstance(docker_control(make_proxy("nginx"), tmp_path), DockerNginx)
    assert isinstance(docker_control(make_proxy("haproxy"), tmp_path), DockerHaproxy)


def test_importing_the_driver_does_not_import_the_docker_sdk() -> None:
    code = "import sys, ctlplane.drivers.docker, ctlplane.drivers.docker_nginx; print('docker' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# --- finding, creating, stopping ----------------------------------------------------------------


def test_find_by_name_then_by_labels(tmp_path: Path) -> None:
    handle, client = handle_for(tmp_path)
    assert handle.find() is None
    assert client.containers.list_filters[-1] == {"label": [f"{LABEL_PROXY}=lb", f"{LABEL_STATE}={tmp_path}"]}
    other = FakeContainer("renamed", {LABEL_PROXY: "lb", LABEL_STATE: str(tmp_path)})
    client.containers.by_name["renamed"] = other
    client.containers.by_name["same-proxy-other-model"] = FakeContainer("x", {LABEL_PROXY: "lb", LABEL_STATE: "/else"})
    assert handle.find() is other
    named = FakeContainer("lbc", mount=str(tmp_path))
    client.containers.by_name["lbc"] = named
    assert handle.find() is named


def test_a_container_found_by_name_must_mount_the_state_directory(tmp_path: Path) -> None:
    handle, client = handle_for(tmp_path)
    client.containers.by_name["lbc"] = FakeContainer("lbc", mount="/somewhere/else")
    with pytest.raises(DriverError, match=f"has no mount at {tmp_path}"):
        handle.find()


def test_ensure_started_creates_once_then_restarts(tmp_path: Path) -> None:
    handle, client = handle_for(tmp_path)
    container = handle.ensure_started()
    assert container.status == "running" and len(client.containers.created) == 1
    container.status = "exited"
    assert handle.ensure_started() is container and container.status == "running"
    assert len(client.containers.created) == 1


def test_missing_image_and_engine_errors_become_driver_errors(tmp_path: Path) -> None:
    handle, client = handle_for(tmp_path)
    client.containers.missing_image = True
    with pytest.raises(DriverError, match="build or pull it first") as info:
        handle.ensure_started()
    assert info.value.message == "docker: image ctlplane-base:latest not found"
    client.containers.fail_get = docker.errors.APIError("engine broke")
    with pytest.raises(DriverError, match="looking up container lbc: engine broke"):
        handle.find()

    def no_engine() -> Any:
        raise docker.errors.DockerException("Error while fetching server API version")

    with pytest.raises(DriverError, match="connecting to the Docker engine"):
        ContainerHandle(handle.spec, "lb", no_engine).find()


def test_stop_removes_only_containers_ctlplane_created(tmp_path: Path) -> None:
    handle, client = handle_for(tmp_path)
    ours = handle.ensure_started()
    handle.stop(5)
    assert ours.stopped and ours.removed
    foreign = FakeContainer("lbc", {}, status="running", mount=str(tmp_path))
    client.containers.by_name["lbc"] = foreign
    handle.stop(5)
    assert foreign.stopped and not foreign.removed


# --- NGINX -----------------------------------------------------------------------------------------


def test_nginx_generation_from_top() -> None:
    exec_row = [(77, 900, "cat /proc/1/stat")]
    assert nginx_generation(top(101, [102, 103], exec_row)) == Generation(101, frozenset({102, 103}))
    assert nginx_generation(top(None, [], exec_row)) == STOPPED
    assert nginx_generation(None) == STOPPED
    assert nginx_generation({"Titles": ["PID"], "Processes": [["1"]]}) == STOPPED


def test_emerg_findings_are_distinct_and_without_pid_prefix() -> None:
    log = ("2024/01/01 [emerg] 1#1: bind() to 0.0.0.0:81 failed (98: Address already in use)\n"
           "2024/01/01 [notice] 1#1: try again to bind() after 500ms\n"
           "2024/01/01 [emerg] 1#1: bind() to 0.0.0.0:81 failed (98: Address already in use)\n")
    assert [f.message for f in emerg_findings(log)] == ["bind() to 0.0.0.0:81 failed (98: Address already in use)"]


def running_nginx(tmp_path: Path) -> tuple[DockerNginx, FakeContainer]:
    handle, client = handle_for(tmp_path)
    container = FakeContainer("lbc", dict(handle.spec.labels), status="running")
    container.tops = [top(101, [102, 103])]
    client.containers.by_name["lbc"] = container
    (tmp_path / "logs").mkdir()
    return DockerNginx(handle, tmp_path), container


def test_nginx_reload_sends_hup_and_waits_for_new_workers(tmp_path: Path) -> None:
    control, container = running_nginx(tmp_path)
    before = control.generation()
    assert before == Generation(101, frozenset({102, 103}))

    def new_workers(c: FakeContainer, sig: str) -> None:
        c.tops[:] = [top(101, [102, 103]),
                     top(101, [102, 103, 104]),  # a new worker, but the old ones still accept
                     top(101, [102, 103, 104], quitting=[102]),
                     top(101, [103, 104], quitting=[103])]  # old ones closed their listeners: done

    container.on_kill = new_workers
    assert control.reload(before) == Generation(101, frozenset({104}))
    assert container.signals == ["SIGHUP"] and len(container.tops) == 1


def test_nginx_reload_fails_on_emerg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ctlplane.drivers.docker_nginx.SETTLE_QUIET", 0.2)
    control, container = running_nginx(tmp_path)
    (tmp_path / "logs" / "error.log").write_text("2024/01/01 [emerg] 1#1: old problem\n")

    def emerg(c: FakeContainer, sig: str) -> None:
        with open(tmp_path / "logs" / "error.log", "a") as log:
            log.write("2024/01/01 [emerg] 1#1: unknown directive \"bogus\"\n")

    container.on_kill = emerg
    with pytest.raises(DriverError) as info:
        control.reload(control.generation())
    assert [f.message for f in info.value.findings] == ['unknown directive "bogus"']


def test_nginx_start_reports_an_exiting_container(tmp_path: Path) -> None:
    handle, client = handle_for(tmp_path)
    (tmp_path / "logs").mkdir()

    def crash(c: FakeContainer) -> None:
        (tmp_path / "logs" / "error.log").write_text("2024/01/01 [emerg] 1#1: host not found in upstream\n")
        c.status = "exited"

    original = client.containers.create

    def create(**kwargs: Any) -> FakeContainer:
        container = original(**kwargs)
        container.on_start = crash
        return container

    client.containers.create = create  # type: ignore[method-assign]
    with pytest.raises(DriverError) as info:
        DockerNginx(handle, tmp_path).start()
    assert info.value.message == "nginx did not start in container lbc"
    assert [f.message for f in info.value.findings] == ["host not found in upstream"]


def test_nginx_has_no_runtime_api(tmp_path: Path) -> None:
    control, _ = running_nginx(tmp_path)
    with pytest.raises(DriverError, match="runtime changes need a reload"):
        control.runtime(["set server be/a weight 2"])


# --- HAProxy --------------------------------------------------------------------------------------

SHOW_PROC = ("#<PID>          <type>          <reloads>       <uptime>        <version>      \n"
             "1               master          {reloads} [failed: {failed}]   0d00h00m01s     2.6.12\n"
             "# workers\n{workers}# old workers\n{old}# programs\n\n")


def show_proc(reloads: int, failed: int, workers: list[int], old: Sequence[int] = ()) -> str:
    line = "{}              worker          0               0d00h00m01s     2.6.12\n"
    return SHOW_PROC.format(reloads=reloads, failed=failed, workers="".join(line.format(w) for w in workers),
                            old="".join(line.format(w) for w in old))


def test_parse_show_proc() -> None:
    assert parse_show_proc(show_proc(3, 1, [11, 12], old=[8])) == (1, 3, 1, frozenset({11, 12}))
    assert parse_show_proc("garbage") is None


class MasterCli:
    """A scripted HAProxy master CLI on a UNIX socket: ``reload`` succeeds or fails as told."""

    def __init__(self, path: Path, reload_fails: bool = False) -> None:
        self.reloads, self.failed, self.workers = 0, 0, [8]
        self.reload_fails = reload_fails
        self.commands: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                command = conn.makefile().readline().strip()
                self.commands.append(command)
                if command == "reload":
                    self.reloads += 1
                    if self.reload_fails:
                        self.failed += 1
                    else:
                        self.workers = [self.workers[-1] + 1]
                    continue
                conn.sendall(show_proc(self.reloads, self.failed, self.workers).encode())

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[tuple[DockerHaproxy, FakeContainer, Path]]:
    handle, client = handle_for(tmp_path, "haproxy")
    container = FakeContainer("lbc", dict(handle.spec.labels), status="running")
    client.containers.by_name["lbc"] = container
    (tmp_path / "run").mkdir()
    yield DockerHaproxy(handle, tmp_path), container, tmp_path / "run" / "master.sock"


def test_haproxy_generation_and_reload_through_the_master_cli(haproxy: Any) -> None:
    control, container, sock = haproxy
    assert control.generation() == STOPPED  # no socket yet
    cli = MasterCli(sock)
    try:
        before = control.generation()
        assert before == Generation(1, frozenset({8}))
        assert control.reload(before) == Generation(1, frozenset({9}))
        assert cli.commands.count("reload") == 1
        container.status = "exited"
        assert control.generation() == STOPPED
    finally:
        cli.close()


def test_haproxy_failed_reload_reports_alerts_from_the_container_log(haproxy: Any) -> None:
    control, container, sock = haproxy
    container.log_bytes = (b"[NOTICE]   (1) : Reloading HAProxy\n"
                           b"[ALERT]    (1) : Binding [config/haproxy.cfg:28] for frontend fe: cannot bind socket\n"
                           b"[ALERT]    (1) : Fatal errors found in configuration.\n")
    cli = MasterCli(sock, reload_fails=True)
    try:
        with pytest.raises(DriverError) as info:
            control.reload(control.generation())
        assert info.value.message == "haproxy rejected the reload; the old workers still serve"
        assert [f.message for f in info.value.findings] == [
            "Binding [config/haproxy.cfg:28] for frontend fe: cannot bind socket"]
    finally:
        cli.close()
