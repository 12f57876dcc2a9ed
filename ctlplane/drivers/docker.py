"""Proxies in Docker containers: how the container is described, found, created and stopped.

A docker proxy's state directory lives on this host and is bind-mounted as a
*directory* at the same path inside its container, so the relative
``config`` symlink, ``logs/`` and the UNIX sockets in ``run/`` mean the same
on both sides and the release store is the ordinary local one. The
container is found by name or by the label ``org.ctlplane.proxy=<name>``;
when it is missing, ``start`` creates it from the runtime's image with the
engine in the foreground as PID 1. :func:`container_spec` is the pure
description of that container; :class:`ContainerHandle` is the only place
that calls the Docker SDK (imported lazily, so ``ctlplane --help`` never
loads it) and turns every Docker failure into a DriverError. Engine
specifics (generation, reload, runtime API) live in ``docker_nginx`` and
``docker_haproxy``. A member of an HA pair gets the capabilities VRRP needs
(NET_ADMIN, NET_RAW, NET_BROADCAST) and, when its pair node names an
``address`` and the runtime a network, that fixed address; keepalived runs
beside the engine through :meth:`ContainerHandle.exec_detached`
(``docker_keepalived``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctlplane.errors import DriverError, Finding
from ctlplane.layout import CONFIG_DIR

if TYPE_CHECKING:
    from ctlplane.drivers.base import Control
    from ctlplane.model.proxy import PairNode, Proxy

LABEL_PROXY = "org.ctlplane.proxy"
LABEL_ENGINE = "org.ctlplane.engine"
LABEL_STATE = "org.ctlplane.state-dir"  # with LABEL_PROXY: two models' proxies of the same name never collide
STOP_SIGNALS = {"nginx": "SIGQUIT", "haproxy": "SIGUSR1"}  # graceful: finish in-flight requests
VRRP_CAPS = ("NET_ADMIN", "NET_RAW", "NET_BROADCAST")  # keepalived: VIPs, raw VRRP sockets, gratuitous ARP


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to create a proxy's container (plain data, no Docker objects)."""

    name: str
    image: str
    command: tuple[str, ...]
    working_dir: str
    mount: str  # host directory, mounted read-write at the same path
    network: str | None
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str = "SIGTERM"
    read_only: tuple[str, ...] = ()  # host directories (static roots) mounted read-only at the same path
    cap_add: tuple[str, ...] = ()  # VRRP_CAPS for members of an HA pair
    address: str | None = None  # fixed IPv4 address on ``network`` (a pair node's own address)

    def create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``client.containers.create``."""
        kwargs: dict[str, Any] = {
            "image": self.image, "command": list(self.command), "name": self.name, "detach": True,
            "working_dir": self.working_dir, "labels": dict(self.labels), "stop_signal": self.stop_signal,
            "volumes": {self.mount: {"bind": self.mount, "mode": "rw"},
                        **{path: {"bind": path, "mode": "ro"} for path in self.read_only}},
        }
        if self.network:
            kwargs["network"] = self.network
            if self.address:
                kwargs["networking_config"] = {self.network: {"IPAMConfig": {"IPv4Address": self.address}}}
        if self.cap_add:
            kwargs["cap_add"] = list(self.cap_add)
        return kwargs


def engine_command(engine: str, state_dir: Path) -> tuple[str, ...]:
    """The foreground command of the engine, with paths as the rendered configs expect them."""
    if engine == "nginx":
        return ("nginx", "-p", f"{state_dir}/", "-c", f"{state_dir}/{CONFIG_DIR}/nginx.conf",
                "-e", "logs/error.log", "-g", "daemon off;")
    if engine == "haproxy":
        return ("haproxy", "-W", "-S", "unix@run/master.sock", "-f", f"{CONFIG_DIR}/haproxy.cfg",
                "-p", "run/haproxy.pid")
    raise DriverError(f"unknown engine {engine!r}", [Finding(f"no container command for {engine!r}", source="driver")])


def container_spec(proxy: Proxy, state_dir: Path, read_only: tuple[str, ...] = (),
                   node: PairNode | None = None) -> ContainerSpec:
    """The container a docker-runtime proxy runs in (``node``: its place in an HA pair, if any)."""
    runtime = proxy.runtime
    state = str(state_dir)
    address = node.address if node is not None and runtime.network else None  # type: ignore[union-attr]
    return ContainerSpec(
        name=runtime.container,  # type: ignore[union-attr]
        image=runtime.image,  # type: ignore[union-attr]
        command=engine_command(proxy.engine, state_dir),
        working_dir=state,
        mount=state,
        network=runtime.network,  # type: ignore[union-attr]
        labels={LABEL_PROXY: proxy.name, LABEL_ENGINE: proxy.engine, LABEL_STATE: state},
        stop_signal=STOP_SIGNALS.get(proxy.engine, "SIGTERM"),
        read_only=tuple(sorted(set(read_only))),
        cap_add=VRRP_CAPS if node is not None else (),
        address=address if address and ":" not in address else None,
    )


def _docker_client() -> Any:
    import docker

    return docker.from_env(timeout=60)


@contextmanager
def _docker_errors(what: str) -> Iterator[None]:
    """Translate Docker SDK and transport failures into DriverError."""
    try:
        yield
    except DriverError:
        raise
    except Exception as exc:  # noqa: BLE001 - docker.errors.*, requests/urllib3 transport errors
        text = getattr(exc, "explanation", None) or str(exc) or type(exc).__name__
        raise DriverError(f"docker: {what} failed", [Finding(f"{what}: {text}", source="driver")]) from None


def _is_not_found(exc: Exception) -> bool:
    return type(exc).__name__ in ("NotFound", "ImageNotFound") or getattr(exc, "status_code", None) == 404


class ContainerHandle:
    """The one container of a docker-runtime proxy, looked up afresh on every call."""

    def __init__(self, spec: ContainerSpec, proxy: str, client_factory: Callable[[], Any] = _docker_client) -> None:
        self.spec = spec
        self.proxy = proxy
        self._factory = client_factory
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            with _docker_errors("connecting to the Docker engine"):
                self._client = self._factory()
        return self._client

    def find(self) -> Any | None:
        """The container by name, else by its proxy and state-directory labels; None when it does not exist."""
        with _docker_errors(f"looking up container {self.spec.name}"):
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

    def running(self) -> Any | None:
        container = self.find()
        return container if container is not None and container.status == "running" else None

    def ensure_started(self) -> Any:
        """Start the existing container, or create it from the spec and start it."""
        container = self.find()
        with _docker_errors(f"starting container {self.spec.name}"):
            if container is None:
                try:
                    container = self.client.containers.create(**self.spec.create_kwargs())
                except Exception as exc:
                    if type(exc).__name__ == "ImageNotFound":
                        raise DriverError(f"docker: image {self.spec.image} not found", [Finding(
                            f"image {self.spec.image} is not on this Docker engine: build or pull it first",
                            source="driver")]) from None
                    raise
            if container.status != "running":
                container.start()
            container.reload()
        return container

    def status(self) -> str:
        """running, exited, created, ... or missing."""
        container = self.find()
        if container is None:
            return "missing"
        with _docker_errors(f"inspecting container {self.spec.name}"):
            container.reload()
            return str(container.status)

    def top(self) -> dict[str, Any] | None:
        """``ps`` of the container's processes (host PIDs), None when it is not running."""
        container = self.running()
        if container is None:
            return None
        try:
            return dict(container.top())
        except Exception:  # noqa: BLE001 - stopped between the lookup and the call
            return None

    def _require_running(self) -> Any:
        container = self.running()
        if container is None:
            raise DriverError("container is not running",
                              [Finding(f"{self.spec.name} is not running", source="driver")])
        return container

    def kill(self, signal: str) -> None:
        container = self._require_running()
        with _docker_errors(f"sending {signal} to {self.spec.name}"):
            container.kill(signal=signal)

    def exec_detached(self, argv: list[str], environment: dict[str, str] | None = None) -> None:
        """Start a helper process (e.g. keepalived) inside the running container."""
        container = self._require_running()
        with _docker_errors(f"running {argv[0]} in {self.spec.name}"):
            container.exec_run(argv, detach=True, environment=environment)

    def exec(self, argv: list[str]) -> tuple[int, str]:
        """Run a short command inside the running container: (exit code, stdout and stderr)."""
        container = self._require_running()
        with _docker_errors(f"running {argv[0]} in {self.spec.name}"):
            result = container.exec_run(argv)
        return int(result.exit_code), bytes(result.output or b"").decode("utf-8", "replace")

    def cap_add(self) -> list[str]:
        """The capabilities the existing container was created with."""
        container = self.find()
        host = ((getattr(container, "attrs", None) or {}).get("HostConfig") or {}) if container is not None else {}
        return list(host.get("CapAdd") or [])

    def logs(self, since: float | None = None, tail: int | None = None) -> str:
        container = self.find()
        if container is None:
            return ""
        kwargs: dict[str, Any] = {"stdout": True, "stderr": True}
        if since is not None:
            kwargs["since"] = since
        if tail is not None:
            kwargs["tail"] = tail
        try:
            return bytes(container.logs(**kwargs)).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - logs are best effort (error reports)
            return ""

    def stop(self, timeout: float) -> None:
        """Stop gracefully (the container's stop signal, then SIGKILL); remove it when ctlplane created it."""
        container = self.find()
        if container is None:
            return
        with _docker_errors(f"stopping container {self.spec.name}"):
            if container.status == "running":
                container.stop(timeout=int(timeout))
            if container.labels.get(LABEL_PROXY) == self.proxy:
                container.remove(force=True)


def now() -> float:
    """Wall-clock time for ``logs(since=...)`` (the Docker engine timestamps log lines with it)."""
    return time.time()


def docker_control(proxy: Proxy, state_dir: Path, read_only: tuple[str, ...] = (),
                   node: PairNode | None = None) -> Control:
    """The Control of a proxy that runs in a Docker container; ``read_only``: static roots to mount;
    ``node``: the proxy's node when it is a member of an HA pair.

    Mounts, capabilities and the address are fixed when the container is created: a changed set of static
    roots, or a proxy that joins a pair, needs ``ctlplane down`` and a new apply.
    """
    handle = ContainerHandle(container_spec(proxy, state_dir.resolve(), read_only, node), proxy.name)
    if proxy.engine == "nginx":
        from ctlplane.drivers.docker_nginx import DockerNginx

        return DockerNginx(handle, state_dir.resolve())
    from ctlplane.drivers.docker_haproxy import DockerHaproxy

    return DockerHaproxy(handle, state_dir.resolve())
