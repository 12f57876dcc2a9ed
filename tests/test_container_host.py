"""Unit tests of the Docker container as a Host, with a fake Docker client: the container description,
lookup, creation and re-creation, error translation, the in-container process listing, signals, helpers and
HTTP through exec. No Docker engine is needed (the integration suite runs the same code against a real one)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from ctlplane.drivers import container_spec, control_for
from ctlplane.drivers.container import LABEL_ENGINE, LABEL_PROXY, LABEL_STATE, ContainerHost
from ctlplane.drivers.container_data import launch_command, parse_processes
from ctlplane.drivers.exec_frame import FRAME_SCRIPT, frame
from ctlplane.drivers.haproxy import HaproxyControl
from ctlplane.drivers.nginx import NginxControl
from ctlplane.errors import DriverError
from ctlplane.model.proxy import Proxy


class FakeContainer:
    def __init__(self, name: str, labels: dict[str, str] | None = None, status: str = "created",
                 mount: str | None = None, command: list[str] | None = None) -> None:
        self.name, self.labels, self.status = name, labels or {}, status
        mount = mount or (labels or {}).get(LABEL_STATE)
        self.attrs: dict[str, Any] = {"Mounts": [{"Source": mount, "Destination": mount}] if mount else [],
                                      "Config": {"Cmd": command or []}, "HostConfig": {"CapAdd": None}}
        self.signals: list[str] = []
        self.execs: list[tuple[list[str], dict[str, Any]]] = []
        self.answers: dict[str, tuple[int, bytes]] = {}
        self.queued: dict[str, list[tuple[int, bytes] | None]] = {}  # answers given once each, before ``answers``
        self.stopped = self.removed = False
        self.updates: list[dict[str, Any]] = []

    def start(self) -> None:
        self.status = "running"

    def reload(self) -> None:
        pass

    def kill(self, signal: str) -> None:
        self.signals.append(signal)

    def exec_run(self, argv: list[str], **kwargs: Any) -> Any:
        """The answer for the first key found in ``argv`` (a queued one first; None: the engine lost the
        output, as docker-py #2042 reports); a framed command's answer comes back in its frame."""
        self.execs.append((argv, kwargs))
        answer: tuple[int, bytes] | None = next((v for k, v in self.answers.items() if k in " ".join(argv)),
                                                (0, b""))
        for key, queue in self.queued.items():
            if key in " ".join(argv) and queue:
                answer = queue.pop(0)
        if answer is None:
            return type("Result", (), {"exit_code": 0, "output": b""})()
        code, out = answer
        if argv[:3] == ["sh", "-c", FRAME_SCRIPT]:
            out = frame(code, out.decode()).encode()
        return type("Result", (), {"exit_code": code, "output": out})()

    def stop(self, timeout: int) -> None:
        self.stopped, self.status = True, "exited"

    def update(self, **kwargs: Any) -> None:
        self.updates.append(kwargs)
        self.attrs["HostConfig"]["RestartPolicy"] = {"Name": kwargs["restart_policy"]["Name"]}

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
        container = FakeContainer(kwargs["name"], kwargs["labels"], command=kwargs["command"])
        container.attrs["HostConfig"]["RestartPolicy"] = dict(kwargs.get("restart_policy") or {})
        self.by_name[container.name] = container
        return container


class FakeClient:
    def __init__(self) -> None:
        self.containers = FakeContainers()


def make_proxy(engine: str = "nginx", network: str | None = "labnet") -> Proxy:
    runtime = {"kind": "docker", "container": "lbc", **({"network": network} if network else {})}
    return Proxy.model_validate({"name": "lb", "engine": engine, "runtime": runtime, "services": ["web"]})


def host_for(tmp_path: Path, engine: str = "nginx") -> tuple[ContainerHost, FakeClient]:
    client = FakeClient()
    return ContainerHost(container_spec(make_proxy(engine), tmp_path), "lb", lambda: client), client


# --- the container description ---------------------------------------------------------------


@pytest.mark.parametrize(("engine", "stop_signal"), [("nginx", "SIGQUIT"), ("haproxy", "SIGUSR1")])
def test_spec_mounts_the_state_directory_at_the_same_path(tmp_path: Path, engine: str, stop_signal: str) -> None:
    kwargs = container_spec(make_proxy(engine), tmp_path).create_kwargs()
    assert kwargs["name"] == "lbc" and kwargs["image"] == "ctlplane-base:latest"
    assert kwargs["volumes"] == {str(tmp_path): {"bind": str(tmp_path), "mode": "rw"}}
    assert kwargs["working_dir"] == str(tmp_path) and kwargs["network"] == "labnet"
    assert kwargs["labels"] == {LABEL_PROXY: "lb", LABEL_ENGINE: engine, LABEL_STATE: str(tmp_path)}
    assert kwargs["stop_signal"] == stop_signal and kwargs["detach"] is True
    assert kwargs["log_config"]["config"]["max-size"] == "10m"  # the engine logs to the state dir


def test_spec_without_network(tmp_path: Path) -> None:
    assert "network" not in container_spec(make_proxy(network=None), tmp_path).create_kwargs()


def test_the_engine_is_pid_1_with_its_output_appended_to_its_log(tmp_path: Path) -> None:
    host, client = host_for(tmp_path, "haproxy")
    control = control_for("haproxy", host, tmp_path, "haproxy")
    assert isinstance(control, HaproxyControl)
    host.launch(control.argv(), cwd=tmp_path, log=tmp_path / "logs" / "haproxy.log")
    [created] = client.containers.created
    assert created["command"] == ["sh", "-c", 'exec "$@" >>"$0" 2>&1', f"{tmp_path}/logs/haproxy.log", "haproxy",
                                  "-W", "-S", "unix@run/master.sock", "-f", f"{tmp_path}/config/haproxy.cfg",
                                  "-p", "run/haproxy.pid"]
    nginx = control_for("nginx", host, tmp_path, "nginx")
    assert isinstance(nginx, NginxControl) and nginx.argv()[-2:] == ["-g", "daemon off;"]


def test_importing_the_drivers_does_not_import_the_docker_sdk() -> None:
    code = ("import sys, ctlplane.drivers, ctlplane.drivers.container, ctlplane.drivers.nginx; "
            "print('docker' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# --- finding, creating, stopping ----------------------------------------------------------------


def test_find_by_name_then_by_labels(tmp_path: Path) -> None:
    host, client = host_for(tmp_path)
    assert host.find() is None
    assert client.containers.list_filters[-1] == {"label": [f"{LABEL_PROXY}=lb", f"{LABEL_STATE}={tmp_path}"]}
    other = FakeContainer("renamed", {LABEL_PROXY: "lb", LABEL_STATE: str(tmp_path)})
    client.containers.by_name["renamed"] = other
    client.containers.by_name["same-proxy-other-model"] = FakeContainer("x", {LABEL_PROXY: "lb", LABEL_STATE: "/else"})
    assert host.find() is other
    named = FakeContainer("lbc", mount=str(tmp_path))
    client.containers.by_name["lbc"] = named
    assert host.find() is named


def test_a_container_found_by_name_must_mount_the_state_directory(tmp_path: Path) -> None:
    host, client = host_for(tmp_path)
    client.containers.by_name["lbc"] = FakeContainer("lbc", mount="/somewhere/else")
    with pytest.raises(DriverError, match=f"has no mount at {tmp_path}"):
        host.find()


def test_launch_creates_once_restarts_and_recreates_a_stale_one(tmp_path: Path) -> None:
    host, client = host_for(tmp_path)
    host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    container = client.containers.by_name["lbc"]
    assert container.status == "running" and len(client.containers.created) == 1
    container.status = "exited"
    host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    assert container.status == "running" and len(client.containers.created) == 1
    container.status = "exited"  # made by an older ctlplane with another command: replaced, not reused
    host.launch(["nginx", "-g", "daemon off;"], cwd=tmp_path, log=tmp_path / "l")
    assert container.removed and len(client.containers.created) == 2


def test_the_engine_restarts_a_crashed_proxy_on_its_active_release(tmp_path: Path) -> None:
    """unless-stopped: a master that dies (SIGKILL, OOM) or an engine restart brings the container back with its
    own command, which names the state directory's ``config`` link: the active release, the last-known-good
    after every transaction. ctlplane's own stops go through the engine (stop, or kill with the stop signal),
    which the engine never undoes."""
    kwargs = container_spec(make_proxy("haproxy"), tmp_path).create_kwargs()
    assert kwargs["restart_policy"] == {"Name": "unless-stopped"}
    host, client = host_for(tmp_path, "haproxy")
    control = control_for("haproxy", host, tmp_path, "haproxy")
    assert isinstance(control, HaproxyControl)
    assert f"{tmp_path}/config/haproxy.cfg" in control.argv()  # the link, not a release's own directory


def test_launch_stops_a_crash_looping_container_before_starting_it(tmp_path: Path) -> None:
    """A release that cannot start leaves the engine restarting it (with a growing delay): the next launch stops
    that loop (a stop the engine does not undo) and starts the container at once on what is active now."""
    host, client = host_for(tmp_path)
    host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    container = client.containers.by_name["lbc"]
    container.status = "restarting"
    host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    assert container.stopped and container.status == "running" and len(client.containers.created) == 1


def test_launch_gives_an_older_container_the_restart_policy(tmp_path: Path) -> None:
    host, client = host_for(tmp_path)
    host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    container = client.containers.by_name["lbc"]
    container.status = "exited"
    container.attrs["HostConfig"]["RestartPolicy"] = {"Name": "", "MaximumRetryCount": 0}  # made before it existed
    host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    assert container.updates == [{"restart_policy": {"Name": "unless-stopped"}}] and container.status == "running"


def test_missing_image_and_engine_errors_become_driver_errors(tmp_path: Path) -> None:
    host, client = host_for(tmp_path)
    client.containers.missing_image = True
    with pytest.raises(DriverError, match="build or pull it first") as info:
        host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    assert info.value.message == "docker: image ctlplane-base:latest not found"
    assert isinstance(info.value.__cause__, docker.errors.ImageNotFound)  # the cause is kept
    client.containers.fail_get = docker.errors.APIError("engine broke")
    with pytest.raises(DriverError, match="looking up container lbc: engine broke"):
        host.find()

    def no_engine() -> Any:
        raise docker.errors.DockerException("Error while fetching server API version")

    with pytest.raises(DriverError, match="connecting to the Docker engine"):
        ContainerHost(host.spec, "lb", no_engine).find()


def test_retire_removes_only_containers_ctlplane_created(tmp_path: Path) -> None:
    host, client = host_for(tmp_path)
    host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    ours = client.containers.by_name["lbc"]
    host.retire(5)
    assert ours.stopped and ours.removed
    foreign = FakeContainer("lbc", {}, status="running", mount=str(tmp_path))
    client.containers.by_name["lbc"] = foreign
    host.retire(5)
    assert foreign.stopped and not foreign.removed


# --- processes, signals, helpers, HTTP -----------------------------------------------------------

LISTING = (
    "1\t0\t/s\t1 (nginx) S 0 1 1 0\tnginx: master process nginx -p /s/ -c /s/config/nginx.conf \n"
    "7\t65534\t\t7 (nginx) S 1 1 1 0\tnginx: worker process \n"
    "8\t0\t/\t8 (sh) Z 1 1 1 0\t\n"
    "9\t0\t\t9 (keep alive d) S 1 1 1 0\tkeepalived --use-file=/s/config/keepalived.conf \n"
    "garbage line\n"
)


def test_the_in_container_process_listing_is_parsed() -> None:
    procs, unread = parse_processes(LISTING)
    assert sorted(procs) == [1, 7, 9]  # the zombie and the garbage are dropped
    assert procs[7].ppid == 1 and procs[7].cwd is None and procs[7].cmdline == "nginx: worker process"
    assert procs[9].cwd is None and procs[9].argv0 == "keepalived"
    assert unread == {7: 65534}  # root in a container may not read another user's cwd: asked again as its owner


TORN = (  # the master was read mid-change (no command line): its worker looks orphaned
    "1\t0\t/s\t1 (nginx) S 0 1 1 0\t\n"
    "7\t0\t/s/releases/abc\t7 (nginx) S 1 1 1 0\tnginx: worker process \n"
    "8\t0\t/s/releases/abc\t8 (nginx) S 3 1 1 0\tnginx: worker process \n"
)


def test_a_torn_listing_is_taken_again_before_it_is_believed(tmp_path: Path) -> None:
    host, client = host_for(tmp_path)
    host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    container = client.containers.by_name["lbc"]
    whole = LISTING.replace("\t\t7 (nginx)", "\t/s/releases/abc\t7 (nginx)").replace("\t\t9 (keep", "\t/\t9 (keep")
    container.queued["cd /proc"] = [(0, TORN.encode()), (0, TORN.encode()), (0, whole.encode())]
    procs = host.processes()
    assert procs[1].cmdline.startswith("nginx: master process") and sorted(procs) == [1, 7, 9]
    assert sum("cd /proc" in " ".join(argv) for argv, _ in container.execs) == 3
    container.queued["cd /proc"] = [(0, TORN.encode())] * 5  # still torn after the last try: the last is returned
    assert host.processes()[1].cmdline == "" and sum("cd /proc" in " ".join(a) for a, _ in container.execs) == 6


def test_output_the_engine_lost_is_taken_again_never_read_as_nothing_runs(tmp_path: Path) -> None:
    """An exec that ran may come back with no output and exit code 0 (docker-py #2042): an empty listing read
    as "no master" made an apply under load plan against "nothing" and be refused as changed since the plan
    (CI, test_reloads[nginx]). The frame around the output tells a lost answer from an empty one."""
    host, client = host_for(tmp_path)
    host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    container = client.containers.by_name["lbc"]
    whole = LISTING.replace("\t\t7 (nginx)", "\t/s/releases/abc\t7 (nginx)").replace("\t\t9 (keep", "\t/\t9 (keep")
    container.queued["cd /proc"] = [None, None, (0, whole.encode())]
    assert sorted(host.processes()) == [1, 7, 9]
    container.queued["cd /proc"] = [None] * 5
    with pytest.raises(DriverError, match="lost"):
        host.processes()
    container.queued["curl"] = [None, (0, b"ok\n200")]
    assert host.http_get("http://127.0.0.1:8404/") == (200, "ok")
    container.queued["ip -o addr"] = [None, (0, b"1: lo inet 127.0.0.1/8\n")]
    assert host.run(["ip", "-o", "addr", "show"]).stdout == "1: lo inet 127.0.0.1/8\n"


def test_a_container_that_stops_during_a_listing_runs_nothing(tmp_path: Path) -> None:
    host, client = host_for(tmp_path)
    host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    container = client.containers.by_name["lbc"]

    def stops(argv: list[str], **kwargs: Any) -> Any:
        container.status = "exited"
        return type("Result", (), {"exit_code": 126, "output": b"cannot exec in a stopped container"})()
    container.exec_run = stops  # type: ignore[method-assign]
    assert host.processes() == {}


def test_a_listing_killed_with_its_engine_waits_for_docker_to_see_the_exit(tmp_path: Path) -> None:
    """PID 1 exiting kills the listing's exec with it, while Docker still says "running" for a moment: that is
    a stopped container (found by CI: an exception in a background stop), not a failure to look."""
    host, client = host_for(tmp_path)
    host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    container = client.containers.by_name["lbc"]
    looks = {"n": 0}

    def reload() -> None:  # the engine's state catches up five looks after the exec died
        looks["n"] += 1 if container.queued["cd /proc"] == [] else 0
        if looks["n"] > 5:
            container.status = "exited"
    container.reload = reload  # type: ignore[method-assign]
    real_get = client.containers.get

    def get(name: str) -> FakeContainer:
        found = real_get(name)
        found.reload()
        return found
    client.containers.get = get  # type: ignore[method-assign]
    container.queued["cd /proc"] = [(137, b"")]
    assert host.processes() == {}


def test_a_listing_that_fails_in_a_running_container_still_raises(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ctlplane.drivers.container.EXIT_SETTLE", 0.2)
    host, client = host_for(tmp_path)
    host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    client.containers.by_name["lbc"].answers["cd /proc"] = (126, b"exec failed")
    with pytest.raises(DriverError):
        host.processes()


def test_signals_reach_pid_1_through_the_engine_and_others_through_kill(tmp_path: Path) -> None:
    host, client = host_for(tmp_path)
    host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    container = client.containers.by_name["lbc"]
    assert host.signal(1, signal.SIGHUP) and container.signals == ["SIGHUP"]
    assert host.signal(9, signal.SIGTERM)
    assert container.execs[-1][0] == ["kill", "-15", "9"]
    assert host.signal(9, 36) and container.execs[-1][0] == ["kill", "-36", "9"]  # keepalived's realtime signal
    container.answers["readlink \"/proc/$p/cwd\""] = (0, b"7\t/s/releases/abc\n")
    container.answers["cd /proc"] = (0, LISTING.encode())
    procs = host.processes()
    assert sorted(procs) == [1, 7, 9] and procs[7].cwd == "/s/releases/abc"
    assert container.execs[-1][1]["user"] == "65534" and container.execs[-1][0][-1] == "7"
    container.status = "exited"
    assert host.processes() == {} and not host.signal(1, signal.SIGHUP)


def test_helpers_start_detached_and_http_goes_through_curl_inside(tmp_path: Path) -> None:
    host, client = host_for(tmp_path)
    host.launch(["nginx"], cwd=tmp_path, log=tmp_path / "l")
    container = client.containers.by_name["lbc"]
    host.spawn(["keepalived", "--dont-fork"], cwd=tmp_path, log=tmp_path / "k.log", env={"TMPDIR": "/t"})
    argv, kwargs = container.execs[-1]
    assert argv == [*launch_command(["keepalived", "--dont-fork"], tmp_path / "k.log")]
    assert kwargs["detach"] is True and kwargs["environment"] == {"TMPDIR": "/t"}
    container.answers["curl"] = (0, b"Active connections: 1\n\n200")
    assert host.http_get("http://127.0.0.1:8404/status") == (200, "Active connections: 1\n")
    container.answers["curl"] = (7, b"curl: (7) Failed to connect")
    with pytest.raises(DriverError, match="Failed to connect"):
        host.http_get("http://127.0.0.1:1/")


def test_an_unreadable_working_directory_does_not_tear_a_listing() -> None:
    """HAProxy's workers change user without becoming dumpable again: their /proc entry stays root's and no
    exec in the container reads their cwd. Taking such a listing three times cost every observe 200 ms."""
    from ctlplane.drivers.host import Proc
    from ctlplane.drivers.procfs import torn

    master, worker = Proc(1, 0, "S", "haproxy -W -f config/haproxy.cfg", "/s"), Proc(7, 1, "S", "haproxy -W", None)
    assert not torn({1: master, 7: worker})
    assert torn({7: worker}) and torn({1: Proc(1, 0, "S", "", "/s"), 7: worker})
