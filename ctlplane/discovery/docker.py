"""The Docker engine as a discovery source, through the Docker SDK only.

The engine is the one ``DOCKER_HOST`` names, as the SDK reads it: a UNIX
socket (the default), ``tcp://`` with TLS (``DOCKER_TLS_VERIFY``,
``DOCKER_CERT_PATH``) or ``ssh://`` (through the system ``ssh`` client).
Discovery only reads: ``GET /_ping`` and ``/version`` (the SDK's API version
negotiation), ``GET /containers/json`` with a label filter (never a
container's inspect document, which holds its environment) and ``GET
/events``; a socket proxy that allows nothing else is enough
(docs/recipes/docker-discovery.md). A container whose ``die`` event came is
left out of listings that still show it running (the engine's list lags
behind that event), for at most ``DIED_LAG``. With TLS, the engine's CA is the one
``DOCKER_CERT_PATH`` holds, whatever ``REQUESTS_CA_BUNDLE`` says. Every failure
becomes a DriverError: an engine that cannot be asked never reads as "no
containers", which would empty the pools.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ctlplane.discovery.containers import ContainerInfo, listed_container
from ctlplane.drivers.container import docker_errors

TIMEOUT = 10  # seconds for one API call (the event stream itself has none)
DIED_LAG = 10.0  # seconds a container that died stays out of listings that still show it running


def engine_client() -> Any:
    """A client for the engine DOCKER_HOST names (ssh:// through the system ssh client, no paramiko)."""
    ssh = os.environ.get("DOCKER_HOST", "").startswith("ssh://")
    return client_class().from_env(timeout=TIMEOUT, use_ssh_client=ssh)


def client_class() -> Any:
    """The SDK's ``DockerClient`` whose TLS verification uses the engine's CA (``DOCKER_CERT_PATH/ca.pem``) even
    when ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` is set: requests lets those override a session's CA,
    so the SDK alone fails to verify the engine wherever they point elsewhere (docker/docker-py#2433, open)."""
    import docker

    class EngineApi(docker.APIClient):  # type: ignore[misc]
        def merge_environment_settings(self, url: str, proxies: Any, stream: Any, verify: Any,
                                       cert: Any) -> dict[str, Any]:
            settings: dict[str, Any] = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if verify is None and isinstance(self.verify, str):  # the engine's CA file, set from its TLS config
                settings["verify"] = self.verify
            return settings

    class EngineClient(docker.DockerClient):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.api = EngineApi(*args, **kwargs)

    return EngineClient


class DockerSource:
    """Lists labelled containers; ``stopping`` holds the ids of containers that received their stop signal."""

    def __init__(self, client_factory: Callable[[], Any] = engine_client) -> None:
        self._factory = client_factory
        self._client: Any = None
        self._lock = threading.Lock()
        self._stopping: set[str] = set()
        self._died: dict[str, float] = {}  # id -> when its die event came (the list may still show it running)
        self._known: frozenset[str] = frozenset()  # ids of the containers the last listing found

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                with docker_errors("connecting to the Docker engine for discovery"):
                    self._client = self._factory()
            return self._client

    def forget_client(self) -> None:
        """Drop the connection (after the engine went away): the next call connects again, and its listing is
        taken as it is (the events that would correct it may be lost)."""
        with self._lock:
            client, self._client = self._client, None
            self._died.clear()
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001, S110 - closing a dead connection
                pass

    def containers(self, selectors: list[dict[str, str]]) -> list[ContainerInfo]:
        found: dict[str, ContainerInfo] = {}
        try:
            with docker_errors("listing containers for discovery"):
                for selector in selectors:
                    filters = {"label": [f"{key}={value}" for key, value in sorted(selector.items())]}
                    for entry in self.client.api.containers(filters=filters):
                        info = listed_container(entry)
                        found[info.id] = info
        except Exception:
            self.forget_client()
            raise
        with self._lock:
            now = time.monotonic()  # kept while the list lags, never longer than DIED_LAG
            self._died = {cid: at for cid, at in self._died.items() if cid in found and now - at < DIED_LAG}
            for cid in self._died:
                del found[cid]
            self._known = frozenset(found)
        return list(found.values())

    def known(self) -> frozenset[str]:
        with self._lock:
            return self._known

    def stopping(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._stopping)

    def mark_stopping(self, container_id: str, stopping: bool) -> None:
        with self._lock:
            (self._stopping.add if stopping else self._stopping.discard)(container_id)

    def mark_died(self, container_id: str, died: bool) -> None:
        """A container died (left out of listings, which lag behind the event) or started again."""
        with self._lock:
            if died:
                self._died[container_id] = time.monotonic()
            else:
                self._died.pop(container_id, None)

    def events(self, since: int | None) -> Iterator[dict[str, Any]] | Any:
        """The engine's container and network events from ``since`` (epoch seconds) on, as a closable stream."""
        with docker_errors("following Docker events"):
            return self.client.events(decode=True, since=since, filters={"type": ["container", "network"]})
