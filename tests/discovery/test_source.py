"""DockerSource's listings with a fake SDK client: a container whose die event came stays out of listings that
still show it running (the engine's list lags behind die), until it starts again, the list drops it, a
reconnection, or DIED_LAG passes."""

from __future__ import annotations

from typing import Any

import pytest

from ctlplane.discovery import docker as source_module
from ctlplane.discovery.docker import DockerSource

WEB = [{"ctlplane.pool": "web"}]


class FakeApi:
    def __init__(self) -> None:
        self.running = {"a" * 64: "web-1", "b" * 64: "web-2"}

    def containers(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"Id": cid, "Names": [f"/{name}"], "Labels": {"ctlplane.pool": "web"}, "State": "running",
                 "Status": "Up 1 second", "NetworkSettings": {"Networks": {"app-net": {"IPAddress": "10.1.0.5"}}}}
                for cid, name in self.running.items()]


class FakeClient:
    def __init__(self, api: FakeApi) -> None:
        self.api = api

    def close(self) -> None:
        pass


def listed(source: DockerSource) -> set[str]:
    return {c.name for c in source.containers(WEB)}


def test_a_container_that_died_is_left_out_while_the_list_lags() -> None:
    api = FakeApi()
    source = DockerSource(lambda: FakeClient(api))
    assert listed(source) == {"web-1", "web-2"}
    source.mark_died("b" * 64, True)
    assert listed(source) == {"web-1"} and source.known() == frozenset({"a" * 64})
    source.mark_died("b" * 64, False)  # started again
    assert listed(source) == {"web-1", "web-2"}
    source.mark_died("b" * 64, True)
    del api.running["b" * 64]  # the list caught up: forgotten
    assert listed(source) == {"web-1"}
    api.running["b" * 64] = "web-2"  # running again (its start event may come later): listed
    assert listed(source) == {"web-1", "web-2"}


def test_a_reconnection_or_a_long_lag_ends_it(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi()
    source = DockerSource(lambda: FakeClient(api))
    source.mark_died("b" * 64, True)
    source.forget_client()  # the stream broke: events that would correct a listing may be lost
    assert listed(source) == {"web-1", "web-2"}
    source.mark_died("b" * 64, True)
    monkeypatch.setattr(source_module, "DIED_LAG", 0.0)
    assert listed(source) == {"web-1", "web-2"}
