"""A Docker container as a Host, through the Docker SDK only.

A docker proxy's state directory lives on this machine and is bind-mounted as
a *directory* at the same path inside its container, so the relative
``config`` symlink, ``logs/`` and the UNIX sockets in ``run/`` mean the same
on both sides and files are read here directly. The container is found by
name or by the labels ``org.ctlplane.proxy`` + ``org.ctlplane.state-dir``;
:meth:`ContainerHost.launch` creates it from the runtime's image with the
engine as PID 1 (its output appended to the engine's log in ``logs/``), or
starts it again. The container's restart policy is ``unless-stopped``: a master that dies (SIGKILL, OOM)
or an engine restart brings it back on its own command, which reads the state directory's ``config`` link, so it
serves the active release (the last-known-good after every transaction) with no ctlplane involved; ctlplane's
own stops go through the engine, which never undoes them, and a launch stops a crash loop before starting the
container on what is active now. Processes are listed inside the container (its own PID
namespace: PID 1 is the master), signals reach PID 1 through the engine and
any other process through ``kill`` inside, helpers (keepalived) start with a
detached exec, HTTP requests are made from inside the container (an admin
listener is usually on its loopback). Commands that only read (the listing,
``run``, HTTP) come back framed (``exec_frame``): output the engine lost is
taken again, never read as an empty answer. What the container is made of and the
scripts run inside it are plain data (``container_data``); every Docker failure becomes a DriverError.
"""

from __future__ import annotations

import signal as signals
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from ctlplane.drivers import haproxy_api, procfs
from ctlplane.drivers.container_data import CWD_SCRIPT, PS_SCRIPT, ContainerSpec, launch_command, parse_processes
from ctlplane.drivers.exec_frame import framed, unframed
from ctlplane.drivers.host import LocalFiles, Proc
from ctlplane.drivers.process import Completed
from ctlplane.errors import DriverError, Finding

LABEL_PROXY = "org.ctlplane.proxy"
LABEL_ENGINE = "org.ctlplane.engine"
LABEL_STATE = "org.ctlplane.state-dir"  # with LABEL_PROXY: two models' proxies of the same name never collide
STOP_SIGNALS = {"nginx": "SIGQUIT", "haproxy": "SIGUSR1"}  # what `docker stop` sends: finish in-flight requests
LISTING_TRIES = 3  # a listing torn by processes starting or exiting under it is taken again
READ_TRIES = 3  # a read whose output the engine lost (see exec_frame) is taken again
UNFINISHED = -1  # the exit code of an exec whose output stream ended while it still ran
VRRP_CAPS = ("NET_ADMIN", "NET_RAW", "NET_BROADCAST")
EXIT_SETTLE = 2.0  # seconds the engine gets to report a container whose PID 1 just exited as stopped
STOP_TIMEOUT = 10.0  # seconds a crash-looping container gets to stop before a launch starts it afresh


def _signal_name(signum: int) -> str:
    try:
        return signals.Signals(signum).name
    except ValueError:
        return str(signum)  # a realtime signal (keepalived's state dump)


def has_vrrp_caps(cap_add: list[str] | None) -> bool:
    """Whether a container's ``HostConfig.CapAdd`` grants what VRRP needs (Docker may prefix ``CAP_``)."""
    granted = {c.upper().removeprefix("CAP_") for c in cap_add or []}
    return "ALL" in granted or set(VRRP_CAPS) <= granted


def docker_client() -> Any:
    import docker

    return docker.from_env(timeout=60)


@contextmanager
def docker_errors(what: str) -> Iterator[None]:
    """Translate Docker SDK and transport failures into DriverError (keeping the cause)."""
    try:
        yield
    except DriverError:
        raise
    except Exception as exc:  # noqa: BLE001 - docker.errors.*, requests/urllib3 transport errors
        text = getattr(exc, "explanation", None) or str(exc) or type(exc).__name__
        raise DriverError(f"docker: {what} failed", [Finding(f"{what}: {text}", source="driver")]) from exc


def _is_not_found(exc: Exception) -> bool:
    return type(exc).__name__ in ("NotFound", "ImageNotFound") or getattr(exc, "status_code", None) == 404


class ContainerHost(LocalFiles):
    """The container of one docker-runtime proxy, looked up afresh on every call."""

    def __init__(self, spec: ContainerSpec, proxy: str, client_factory: Callable[[], Any] = docker_client) -> None:
        self.spec = spec
        self.proxy = proxy
        self.label = f"container {spec.name}"
        self._factory = client_factory
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            with docker_errors("connecting to the Docker engine"):
                self._client = self._factory()
        return self._client

    # ------------------------------------------------------------------ the container itself

    def find(self) -> Any | None:
        """The container by name, else by its proxy and state-directory labels; None when it does not exist."""
        with docker_errors(f"looking up container {self.spec.name}"):
            try:
                return self._checked(self.client.containers.get(self.spec.name))
            except Exception as exc:
                if not _is_not_found(exc):
                    raise
            labels = [f"{key}={self.spec.labels[key]}" for key in (LABEL_PROXY, LABEL_STATE) if key in self.spec.labels]
            found = self.client.containers.list(all=True, filters={"label": labels})
            return found[0] if found else None

    def _checked(self, container: Any) -> Any:
        """A container found by name must mount the state directory at the same path, or apply would be blind."""
        mounts = (getattr(container, "attrs", None) or {}).get("Mounts") or []
        if not any(m.get("Destination") == self.spec.mount for m in mounts):
            raise DriverError(f"container {self.spec.name} does not mount the state directory", [Finding(
                f"container {self.spec.name} exists but has no mount at {self.spec.mount}: remove it, or name "
                "another container in the model", source="driver")])
        return container

    def _running(self) -> Any | None:
        container = self.find()
        return container if container is not None and container.status == "running" else None

    def _require_running(self) -> Any:
        container = self._running()
        if container is None:
            raise DriverError("container is not running",
                              [Finding(f"{self.spec.name} is not running", source="driver")])
        return container

    def available(self) -> bool:
        return self._running() is not None

    @property
    def vrrp_capable(self) -> bool:
        container = self.find()
        host = ((getattr(container, "attrs", None) or {}).get("HostConfig") or {}) if container is not None else {}
        return has_vrrp_caps(list(host.get("CapAdd") or []))

    def launch(self, argv: Sequence[str], *, cwd: Path, log: Path) -> None:
        """Start the container with ``argv`` as PID 1: create it, start it, or re-create a stopped one that
        ctlplane made with another command."""
        spec = replace(self.spec, command=launch_command(argv, log))
        container = self.find()
        with docker_errors(f"starting container {spec.name}"):
            if container is not None and container.status != "running" and self._stale(container, spec):
                container.remove(force=True)
                container = None
            if container is None:
                container = self._create(spec)
            if container.status == "restarting":  # a release that could not start, retried by the engine
                container.stop(timeout=int(STOP_TIMEOUT))
            if container.status != "running":
                self._keep_restart_policy(container, spec)
                container.start()

    @staticmethod
    def _keep_restart_policy(container: Any, spec: ContainerSpec) -> None:
        """A container made before the restart policy (an older ctlplane) gets it when it is started again."""
        policy = (((getattr(container, "attrs", None) or {}).get("HostConfig") or {}).get("RestartPolicy") or {})
        if policy.get("Name", "") != spec.restart:
            container.update(restart_policy={"Name": spec.restart})

    def _stale(self, container: Any, spec: ContainerSpec) -> bool:
        made_by_us = (container.labels or {}).get(LABEL_PROXY) == self.proxy
        command = ((getattr(container, "attrs", None) or {}).get("Config") or {}).get("Cmd") or []
        return made_by_us and list(command) != list(spec.command)

    def _create(self, spec: ContainerSpec) -> Any:
        try:
            return self.client.containers.create(**spec.create_kwargs())
        except Exception as exc:
            if type(exc).__name__ == "ImageNotFound":
                why = f"image {spec.image} is not on this Docker engine: build or pull it first"
                raise DriverError(f"docker: image {spec.image} not found", [Finding(why, source="driver")]) from exc
            raise

    def retire(self, timeout: float) -> None:
        """Stop the container (if its main process still runs) and remove it when ctlplane created it."""
        container = self.find()
        if container is None:
            return
        with docker_errors(f"stopping container {self.spec.name}"):
            container.reload()
            if container.status == "running":
                container.stop(timeout=int(timeout))
            if (container.labels or {}).get(LABEL_PROXY) == self.proxy:
                container.remove(force=True)

    # ------------------------------------------------------------------ processes

    def _exec(self, argv: Sequence[str], *, detach: bool = False, env: Mapping[str, str] | None = None,
              workdir: str | None = None, user: str = "") -> tuple[int, str]:
        container = self._require_running()
        with docker_errors(f"running {argv[0]} in {self.spec.name}"):
            result = container.exec_run(list(argv), detach=detach, environment=dict(env or {}), workdir=workdir,
                                        user=user)
        if detach:
            return 0, ""
        code = UNFINISHED if result.exit_code is None else int(result.exit_code)  # the output ended too soon
        return code, bytes(result.output or b"").decode("utf-8", "replace")

    def spawn(self, argv: Sequence[str], *, cwd: Path, log: Path, env: Mapping[str, str] | None = None) -> None:
        self._exec(list(launch_command(argv, log)), detach=True, env=env, workdir=str(cwd))

    def _read(self, argv: Sequence[str], user: str = "") -> tuple[int, str]:
        """Exit code and output of a command that only reads, framed (``exec_frame``): output the engine lost is
        taken again, up to READ_TRIES times, then raises; it is never returned as an empty answer. An exec that
        failed itself (no frame, an exit code other than 0: the container stopping under it) is returned as
        it is."""
        for _ in range(READ_TRIES):
            code, out = self._exec(framed(argv), user=user)
            answer = unframed(out)
            if answer is not None:
                return answer
            if code not in (0, UNFINISHED):
                return code, out
        what = " ".join(argv)[:60]
        raise DriverError(f"the output of {what!r} in {self.spec.name} was lost", [Finding(
            f"{READ_TRIES} execs of {what!r} in {self.spec.name}: the output was lost every time", source="driver")])

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> Completed:
        started = time.monotonic()
        code, out = self._read(argv)
        return Completed(tuple(argv), code, out, "", time.monotonic() - started)

    def processes(self) -> dict[int, Proc]:
        """Listed inside the container; none when it does not run. A listing that fails while it runs raises:
        "could not look" must never read as "nothing runs" (a second keepalived or master would follow).
        A root exec may not read the working directory of another user's process (no CAP_SYS_PTRACE in a
        container): those are read again by an exec as their owner. A listing torn by processes changing
        under it (see ``procfs.torn``) is taken again, a few times, before it is believed."""
        found: dict[int, Proc] = {}
        for _ in range(LISTING_TRIES):
            if self._running() is None:
                return {}
            try:
                found = self._list_once()
            except DriverError:
                if self._stopped_meanwhile():
                    return {}
                raise
            if not procfs.torn(found):
                break
        return found

    def _stopped_meanwhile(self) -> bool:
        """Whether a listing failed because the container stopped under it. PID 1 exiting kills the listing's
        exec with it while the engine may say "running" a moment longer, so its state is given a bounded while
        to catch up before the failure is believed."""
        return procfs.wait_for(lambda: self._running() is None, EXIT_SETTLE, interval=0.05)

    def _list_once(self) -> dict[int, Proc]:
        found, unread = parse_processes(self._listing(["sh", "-c", PS_SCRIPT]))
        for uid in sorted(set(unread.values())):
            pids = [str(pid) for pid, owner in unread.items() if owner == uid]
            for line in self._listing(["sh", "-c", CWD_SCRIPT, "cwd", *pids], user=str(uid)).splitlines():
                pid, _, cwd = line.partition("\t")
                if pid.isdigit() and int(pid) in found and cwd:
                    found[int(pid)] = replace(found[int(pid)], cwd=cwd)
        return found

    def _listing(self, argv: list[str], user: str = "") -> str:
        code, out = self._read(argv, user=user)
        if code != 0:
            raise DriverError(f"cannot list the processes of {self.spec.name}",
                              [Finding(f"process listing exited {code}: {out.strip()[:200]}", source="driver")])
        return out

    def signal(self, pid: int, signum: int) -> bool:
        if pid == 1:  # the engine is PID 1: signals from inside its namespace would not reach it
            container = self._running()
            if container is None:
                return False
            with docker_errors(f"signalling {self.spec.name}"):
                container.kill(signal=_signal_name(signum))
            return True
        code, _ = self._exec(["kill", f"-{signum}", str(pid)])  # by number: realtime signals have no name
        return code == 0

    def http_get(self, url: str, timeout: float = 2.0) -> tuple[int, str]:
        code, out = self._read(["curl", "-sS", "--noproxy", "*", "--max-time", f"{timeout:g}",
                                "-w", "\n%{http_code}", url])
        body, _, status = out.rpartition("\n")
        if code != 0 or not status.strip().isdigit():
            raise DriverError(f"GET {url} failed", [Finding(out.strip() or f"curl exited {code}", source="driver")])
        return int(status), body

    def request(self, socket: Path, command: str, timeout: float = 5.0) -> str:
        return haproxy_api.send(socket, command, timeout)
