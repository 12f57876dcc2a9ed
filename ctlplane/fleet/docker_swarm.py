"""The Swarm seam over a real manager, through the docker SDK only.

:class:`DockerSwarm` reaches the manager a fleet names: ``unix://`` (a local socket),
``tcp://`` with TLS (the CA, client certificate and key files; plain tcp only when the
caller allows it) or ``ssh://`` (the system ssh client, no paramiko). The client is made
on first use, with the project's TLS fix (the engine's CA wins over ``REQUESTS_CA_BUNDLE``).
Services are written whole (``fetch_current_spec=False``) with the version read before, so
the manager refuses a stale write ("update out of sequence"), which becomes
:class:`SwarmConflict`; a name taken at create (HTTP 409) is a conflict too. Every other
failure becomes a DriverError naming the manager URL and the operation. Config and secret
data are written, never read back; a service's logs are read within a bounded time (the SDK
sets no socket timeout on a log stream, and the manager waits for a lost node's task without
end), so a down node's logs fail rather than hang, and with their timestamps, so lines of
several tasks come back in time order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ctlplane.errors import DriverError, Finding
from ctlplane.fleet.swarm import Blob, Node, Service, ServiceSpec, SwarmConflict, Task

TIMEOUT = 30  # seconds for one API call
CONNECT_TIMEOUT = 5.0  # seconds for a tcp:// manager to accept a connection before any API call is tried
LOGS_TIMEOUT = 10.0  # seconds for a service's logs (a stream: the SDK sets no socket timeout on it)
NS = 1_000_000_000


@dataclass(frozen=True)
class TlsFiles:
    """The files of a TLS connection to the manager."""

    ca: str
    cert: str
    key: str


def manager_client(url: str, tls: TlsFiles | None = None, timeout: int = TIMEOUT) -> Any:
    """A docker SDK client for the manager at ``url`` (tcp:// becomes https when ``tls`` is given)."""
    import docker

    from ctlplane.discovery.docker import client_class

    cls = client_class()
    if url.startswith("tcp://"):
        _reachable(url, 2376 if tls is not None else 2375)
    if url.startswith("ssh://"):
        return cls(base_url=url, use_ssh_client=True, timeout=timeout)
    if url.startswith("tcp://") and tls is not None:
        config = docker.tls.TLSConfig(client_cert=(tls.cert, tls.key), ca_cert=tls.ca, verify=True)
        return cls(base_url=url, tls=config, timeout=timeout)
    return cls(base_url=url, timeout=timeout)


def _reachable(url: str, default_port: int) -> None:
    """Fail fast when a tcp:// manager does not accept a connection: against a vanished address the SDK's own
    attempts take about half a minute before ``apply`` or ``status`` can say so."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    where = (parts.hostname or "", parts.port or default_port)
    try:
        socket.create_connection(where, timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        why = f"no answer within {CONNECT_TIMEOUT:g} s" if isinstance(exc, TimeoutError) else \
            (exc.strerror or type(exc).__name__)
        raise DriverError(f"swarm manager {url}: cannot connect", [
            Finding(f"connecting to {where[0]}:{where[1]}: {why} (is the manager running and reachable?)",
                    path=url, source="driver")]) from exc


def _is_not_found(exc: Exception) -> bool:
    return type(exc).__name__ == "NotFound" or getattr(exc, "status_code", None) == 404


def _timestamp(text: str) -> float:
    """An RFC 3339 time with nanoseconds (as the engine writes it) in unix seconds; 0 when absent."""
    if not text or text.startswith("0001-"):
        return 0.0
    main, _, rest = text.rstrip("Z").partition(".")
    frac = "".join(c for c in rest if c.isdigit())[:6]
    stamp = datetime.fromisoformat(main + "+00:00").timestamp()
    return stamp + (int(frac.ljust(6, "0")) / 1e6 if frac else 0.0)


def _env(pairs: list[str] | None) -> dict[str, str]:
    return dict(p.split("=", 1) for p in pairs or [] if "=" in p)


def _labels(attrs: Mapping[str, Any]) -> dict[str, str]:
    return dict(attrs.get("Spec", {}).get("Labels") or {})


class DockerSwarm:
    """The :class:`~ctlplane.fleet.swarm.Swarm` seam over a real manager."""

    def __init__(self, url: str, tls: TlsFiles | None = None,
                 client_factory: Callable[[], Any] | None = None, logs_timeout: float = LOGS_TIMEOUT) -> None:
        self.url = url
        self.logs_timeout = logs_timeout
        self._factory = client_factory or (lambda: manager_client(url, tls))
        self._client: Any = None

    @contextmanager
    def _calls(self, what: str) -> Iterator[None]:
        try:
            yield
        except DriverError:
            raise
        except Exception as exc:  # noqa: BLE001 - docker.errors.*, requests/urllib3 transport errors
            text = str(getattr(exc, "explanation", None) or exc or type(exc).__name__)
            finding = [Finding(f"{what}: {text}", path=self.url, source="driver")]
            if "update out of sequence" in text or getattr(exc, "status_code", None) == 409:
                raise SwarmConflict(f"swarm manager {self.url}: {what}: changed by someone else", finding) from exc
            raise DriverError(f"swarm manager {self.url}: {what} failed", finding) from exc

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._calls("connecting"):
                self._client = self._factory()
        return self._client

    def nodes(self) -> list[Node]:
        with self._calls("listing nodes"):
            found = self.client.api.nodes()
        return [Node(id=a["ID"], hostname=a.get("Description", {}).get("Hostname", ""), labels=_labels(a),
                     state=a.get("Status", {}).get("State", "unknown"),
                     availability=a.get("Spec", {}).get("Availability", "active"),
                     address=a.get("Status", {}).get("Addr", "")) for a in found]

    def _blob(self, kind: str, name: str) -> Blob | None:
        with self._calls(f"looking up {kind} {name}"):
            try:
                attrs = getattr(self.client.api, f"inspect_{kind}")(name)
            except Exception as exc:
                if _is_not_found(exc):
                    return None
                raise
        if attrs.get("Spec", {}).get("Name") != name:  # an ID (prefix) matched, not the name
            return None
        return Blob(attrs["ID"], name, _labels(attrs))

    def _create_blob(self, kind: str, name: str, data: bytes, labels: Mapping[str, str]) -> Blob:
        with self._calls(f"creating {kind} {name}"):
            made = getattr(self.client.api, f"create_{kind}")(name=name, data=data, labels=dict(labels))
        return Blob(made["ID"], name, dict(labels))

    def config(self, name: str) -> Blob | None:
        return self._blob("config", name)

    def configs(self, labels: Mapping[str, str]) -> list[Blob]:
        with self._calls("listing configs"):
            found = self.client.api.configs(filters={"label": [f"{k}={v}" for k, v in labels.items()]})
        return [Blob(a["ID"], a["Spec"]["Name"], _labels(a)) for a in found]

    def create_config(self, name: str, data: bytes, labels: Mapping[str, str]) -> Blob:
        return self._create_blob("config", name, data, labels)

    def secret(self, name: str) -> Blob | None:
        return self._blob("secret", name)

    def create_secret(self, name: str, data: bytes, labels: Mapping[str, str]) -> Blob:
        return self._create_blob("secret", name, data, labels)

    def secrets(self, labels: Mapping[str, str]) -> list[Blob]:
        with self._calls("listing secrets"):
            found = self.client.api.secrets(filters={"label": [f"{k}={v}" for k, v in labels.items()]})
        return [Blob(a["ID"], a["Spec"]["Name"], _labels(a)) for a in found]

    def _remove_blob(self, kind: str, name: str) -> None:
        """Remove a config or secret by name (gone already: no error; still in use: Swarm refuses, DriverError)."""
        found = self._blob(kind, name)
        if found is None:
            return
        with self._calls(f"removing {kind} {name}"):
            try:
                getattr(self.client.api, f"remove_{kind}")(found.id)
            except Exception as exc:
                if not _is_not_found(exc):
                    raise

    def remove_config(self, name: str) -> None:
        self._remove_blob("config", name)

    def remove_secret(self, name: str) -> None:
        self._remove_blob("secret", name)

    def service(self, name: str) -> Service | None:
        with self._calls(f"looking up service {name}"):
            try:
                attrs = self.client.api.inspect_service(name)
            except Exception as exc:
                if _is_not_found(exc):
                    return None
                raise
        return _service(attrs) if attrs.get("Spec", {}).get("Name") == name else None

    def services(self, labels: Mapping[str, str]) -> list[Service]:
        with self._calls("listing services"):
            found = self.client.api.services(filters={"label": [f"{k}={v}" for k, v in labels.items()]})
        return [_service(a) for a in found]

    def create_service(self, spec: ServiceSpec) -> Service:
        task_template, mode = self._template(spec)
        with self._calls(f"creating service {spec.name}"):
            self.client.api.create_service(task_template, name=spec.name, labels=dict(spec.labels), mode=mode)
        made = self.service(spec.name)
        if made is None:
            raise DriverError(f"swarm manager {self.url}: service {spec.name} vanished after its creation")
        return made

    def update_service(self, current: Service, spec: ServiceSpec) -> None:
        task_template, mode = self._template(spec)
        with self._calls(f"updating service {spec.name} (version {current.version})"):
            self.client.api.update_service(current.id, current.version, task_template=task_template,
                                           name=spec.name, labels=dict(spec.labels), mode=mode,
                                           fetch_current_spec=False)

    def remove_service(self, name: str) -> None:
        with self._calls(f"removing service {name}"):
            try:
                self.client.api.remove_service(name)
            except Exception as exc:
                if not _is_not_found(exc):
                    raise

    def tasks(self, service: str) -> list[Task]:
        with self._calls(f"listing the tasks of {service}"):
            found = self.client.api.tasks(filters={"service": service})
        return [_task(a) for a in found]

    def service_logs(self, service: str, tail: int) -> list[str]:
        """The last ``tail`` lines of each of the service's tasks, oldest first: the manager sends them task by
        task, in no given order, so they are read with their timestamps and put in time order. The SDK turns
        the socket's timeout off for a log stream, and the manager waits without end for a task on a node it
        lost: the read runs in a thread given :data:`LOGS_TIMEOUT` seconds, then it is a DriverError."""
        found: list[str] = []
        failed: list[BaseException] = []

        def read() -> None:
            try:
                with self._calls(f"reading the logs of {service}"):
                    chunks = self.client.api.service_logs(service, stdout=True, stderr=True, tail=tail,
                                                          follow=False, is_tty=False, timestamps=True)
                    found.extend(in_time_order(b"".join(chunks).decode("utf-8", "replace")))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                failed.append(exc)

        reader = threading.Thread(target=read, name=f"logs-{service}", daemon=True)
        reader.start()
        reader.join(self.logs_timeout)
        if reader.is_alive():
            why = (f"reading the logs of {service}: no end within {self.logs_timeout:g} s (its node may be down or "
                   "cut off from the manager)")
            raise DriverError(f"swarm manager {self.url}: the logs of {service} did not come",
                              [Finding(why, path=self.url, source="driver")])
        if failed:
            raise failed[0]
        return found

    def _template(self, spec: ServiceSpec) -> tuple[Any, Any]:
        """The docker SDK task template and mode of ``spec`` (configs and secrets referenced by their IDs)."""
        from docker import types

        configs, secrets = [], []
        for ref in spec.configs:
            blob = self.config(ref.name)
            if blob is None:
                raise DriverError(f"swarm manager {self.url}: config {ref.name} is missing")
            configs.append(types.ConfigReference(blob.id, ref.name, filename=ref.target, mode=ref.mode))
        for ref in spec.secrets:
            blob = self.secret(ref.name)
            if blob is None:
                raise DriverError(f"swarm manager {self.url}: secret {ref.name} is missing")
            secrets.append(types.SecretReference(blob.id, ref.name, filename=ref.target, mode=ref.mode))
        health = None
        if spec.health is not None:
            h = spec.health
            health = types.Healthcheck(test=["CMD", *h.test], interval=int(h.interval_s * NS),
                                       timeout=int(h.timeout_s * NS), retries=h.retries,
                                       start_period=int(h.start_period_s * NS))
        container = types.ContainerSpec(
            spec.image, command=list(spec.command) or None, env=dict(spec.env) or None,
            mounts=[types.Mount(b.target, b.source, type="bind", read_only=b.read_only) for b in spec.binds] or None,
            configs=configs or None, secrets=secrets or None, healthcheck=health)
        template = types.TaskTemplate(container, restart_policy=types.RestartPolicy(condition=spec.restart),
                                      placement=types.Placement(constraints=list(spec.constraints)) or None,
                                      force_update=spec.generation)
        return template, types.ServiceMode("replicated", replicas=spec.replicas)


def in_time_order(text: str) -> list[str]:
    """Log lines that start with their RFC 3339 timestamp, sorted by it (stable) and without it; a line without
    one keeps the time of the line before it."""
    stamped: list[tuple[float, int, str]] = []
    at = 0.0
    for line in text.splitlines():
        head, _, rest = line.partition(" ")
        if head[:4].isdigit() and "T" in head:
            try:
                at, line = _timestamp(head), rest
            except ValueError:
                pass
        if line:
            stamped.append((at, len(stamped), line))
    return [line for _, _, line in sorted(stamped)]


def _service(attrs: Mapping[str, Any]) -> Service:
    spec = attrs.get("Spec", {})
    replicas = spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 0)
    return Service(id=attrs["ID"], name=spec.get("Name", ""), version=int(attrs["Version"]["Index"]),
                   labels=_labels(attrs), generation=int(spec.get("TaskTemplate", {}).get("ForceUpdate", 0)),
                   replicas=int(replicas))


def _task(attrs: Mapping[str, Any]) -> Task:
    status = attrs.get("Status", {})
    spec = attrs.get("Spec", {})
    return Task(id=attrs["ID"], node_id=attrs.get("NodeID", ""), state=status.get("State", "new"),
                desired_state=attrs.get("DesiredState", ""), error=status.get("Err", ""),
                created_at=_timestamp(attrs.get("CreatedAt", "")), updated_at=_timestamp(attrs.get("UpdatedAt", "")),
                generation=int(spec.get("ForceUpdate", 0)),
                release=_env(spec.get("ContainerSpec", {}).get("Env")).get("CTLPLANE_RELEASE", ""))
