"""Following Docker's events: which events matter, the follower's reconnects with backoff and ``since``, and
the watch loop turning a burst of container events into one apply that lists the containers again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ctlplane.discovery.fake import FakeDocker
from ctlplane.discovery.follow import Follower, Interest, classify
from ctlplane.discovery.watching import DockerEvents
from ctlplane.transaction import ApplyResult
from ctlplane.watch_loop import Cycle, run_watch
from tests.discovery.helpers import container

WEB = Interest(selectors=({"ctlplane.pool": "web"},))


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


def event(kind: str, action: str, actor: str = "c" * 64, **attributes: str) -> dict[str, object]:
    return {"Type": kind, "Action": action, "Actor": {"ID": actor, "Attributes": attributes}, "time": 1}


def test_container_events_matter_when_the_container_is_selected() -> None:
    selected = {"ctlplane.pool": "web", "name": "web-1"}
    for action in ("start", "die", "stop", "pause", "destroy", "health_status: healthy", "health_status: unhealthy"):
        assert classify(event("container", action, **selected), WEB).reason, action
    assert classify(event("container", "start", **selected), WEB).reason == "docker: 'web-1' start"
    assert classify(event("container", "start", name="x", **{"ctlplane.pool": "api"}), WEB).reason is None
    assert classify(event("container", "exec_start: sh", **selected), WEB).reason is None
    assert classify(event("container", "create", **selected), WEB).reason is None
    assert classify(event("image", "pull"), WEB).reason is None
    known = Interest(selectors=WEB.selectors, known=frozenset({"c" * 64}))
    assert classify(event("container", "die", name="relabelled"), known).reason  # a member that lost its label


def test_joins_are_told_apart_from_every_other_change() -> None:
    """A join may wait for a scale-up to settle (``watch.Debouncer``); a leave, a rename or a pause never does."""
    selected = {"ctlplane.pool": "web", "name": "web-1"}
    for action in ("start", "unpause", "health_status: healthy"):
        assert classify(event("container", action, **selected), WEB).joining, action
    for action in ("die", "stop", "kill", "pause", "destroy", "rename", "health_status: unhealthy"):
        verdict = classify(event("container", action, signal="15", **selected), WEB)
        assert verdict.reason and not verdict.joining, action
    listed = Interest(selectors=WEB.selectors, known=frozenset({"x" * 64}))
    assert classify(event("network", "connect", "n" * 64, name="app-net", container="x" * 64), listed).joining
    assert not classify(event("network", "disconnect", "n" * 64, name="app-net", container="x" * 64), listed).joining


def test_a_stop_signal_marks_the_container_stopping_and_start_or_die_clears_it() -> None:
    selected = {"ctlplane.pool": "web", "name": "web-1"}
    assert classify(event("container", "kill", signal="15", **selected), WEB).stopping == ("c" * 64, True)
    assert classify(event("container", "kill", signal="1", **selected), WEB).reason is None  # SIGHUP: a reload
    assert classify(event("container", "die", **selected), WEB).stopping == ("c" * 64, False)
    assert classify(event("container", "start", **selected), WEB).stopping == ("c" * 64, False)


def test_network_events_matter_for_a_selected_container_the_last_listing_found() -> None:
    listed = Interest(selectors=WEB.selectors, known=frozenset({"x" * 64}))
    for verb in ("connect", "disconnect"):
        for network in ("app-net", "other"):  # a second network makes it multi-homed; leaving app-net, unreachable
            assert classify(event("network", verb, "n" * 64, name=network, container="x" * 64), listed).reason
    # a container being started is connected before its start event: that event brings the one apply it needs
    assert classify(event("network", "connect", "n" * 64, name="app-net", container="y" * 64), listed).reason is None


class Pokes(list[str]):
    """The watch loop's ``poke``: records each reason, and which of them were joins."""

    def __init__(self) -> None:
        super().__init__()
        self.joins: list[str] = []

    def __call__(self, reason: str, joining: bool = False) -> None:
        self.append(reason)
        if joining:
            self.joins.append(reason)


def test_the_follower_judges_network_events_with_the_latest_listing() -> None:
    docker, pokes = FakeDocker([]), Pokes()
    follower = Follower(docker, pokes, backoff_first=0.01)
    follower.interest = WEB  # set before the listing below, as the watch loop does before each apply
    follower.start()
    try:
        wait_until(lambda: docker.streams, what="subscription")
        web1 = container("web-1")
        docker.start(web1)
        wait_until(lambda: pokes, what="the start event")
        docker.containers([{"ctlplane.pool": "web"}])  # the apply's listing finds it
        docker.emit("network", "connect", "n" * 64, {"name": "other", "container": web1.id})
        wait_until(lambda: len(pokes) == 2, what="the network event of a listed container")
        assert pokes[1].startswith("docker: network 'other' connect")
    finally:
        follower.stop()


def test_the_follower_reconnects_with_backoff_and_resumes_from_the_last_event() -> None:
    docker = FakeDocker()
    pokes = Pokes()
    follower = Follower(docker, pokes, backoff_first=0.01, backoff_max=0.05)
    follower.interest = WEB
    follower.start()
    try:
        wait_until(lambda: docker.subscriptions == [None], what="the first subscription")
        web1 = container("web-1")
        docker.start(web1)
        wait_until(lambda: pokes == ["docker: 'web-1' start"], what="the start event")
        docker.stop(web1.id)
        wait_until(lambda: len(pokes) == 3, what="kill and die")
        assert pokes.joins == ["docker: 'web-1' start"]  # kill and die are leaves
        assert docker.stopping() == frozenset()  # die cleared what kill set
        seen = docker.clock
        docker.go_down()  # the engine restarts: the stream ends, subscribing fails for a while
        time.sleep(0.2)
        assert follower.alive and len(docker.subscriptions) == 1
        docker.come_back()
        wait_until(lambda: len(docker.subscriptions) == 2, what="the reconnection")
        assert docker.subscriptions[1] == seen  # since = the time of the last event seen
        wait_until(lambda: pokes[-1] == "docker: reconnected to the engine", what="a poke after reconnecting")
        assert follower.failures and follower.connects == 2
    finally:
        follower.stop()
    assert not follower.alive


class Applies:
    """A fake apply that lists the containers like a real one (so the loop's source is exercised)."""

    def __init__(self, docker: FakeDocker) -> None:
        self.docker = docker
        self.calls: list[tuple[float, int, frozenset[str]]] = []

    def __call__(self, path: str) -> list[ApplyResult]:
        members = self.docker.containers([{"ctlplane.pool": "web"}])
        self.calls.append((time.monotonic(), len(members), self.docker.stopping()))
        return []


def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text("pools:\n  - name: web\n    discover: {docker: {labels: {ctlplane.pool: web}, port: 8080}}\n"
                    "services:\n  - {name: front, mode: http, listen: {port: 8080}, default_pool: web}\n"
                    "proxies:\n  - {name: lb, engine: haproxy, services: [front]}\n")
    return path


def watching(tmp_path: Path, docker: FakeDocker, applies: Applies) -> tuple[threading.Event, list[Cycle],
                                                                               threading.Thread]:
    stop, cycles = threading.Event(), []
    events = DockerEvents(docker, backoff_first=0.01, backoff_max=0.05)
    thread = threading.Thread(target=run_watch, args=(str(model_file(tmp_path)),), kwargs={
        "stop": stop, "report": cycles.append, "apply": applies, "events": events, "reconcile": 0})
    thread.start()
    wait_until(lambda: cycles and docker.subscriptions, what="the first apply and subscription")
    return stop, cycles, thread


def test_a_burst_of_twenty_starts_is_one_or_two_applies(tmp_path: Path) -> None:
    docker = FakeDocker()
    applies = Applies(docker)
    stop, cycles, thread = watching(tmp_path, docker, applies)
    try:
        for n in range(20):
            docker.start(container(f"web-{n}", f"10.1.0.{10 + n}"))
            time.sleep(0.02)
        wait_until(lambda: applies.calls and applies.calls[-1][1] == 20, what="an apply that lists all 20")
        time.sleep(0.5)  # nothing more comes: the burst is over
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    after_start = len(applies.calls) - 1
    assert 1 <= after_start <= 2, applies.calls
    assert cycles[1].trigger.startswith("docker: 'web-") and cycles[1].error is None


def test_a_stopping_container_reaches_the_next_apply_drained_and_the_engine_restart_is_resynced(
        tmp_path: Path) -> None:
    docker = FakeDocker([container("web-1")])
    applies = Applies(docker)
    stop, cycles, thread = watching(tmp_path, docker, applies)
    try:
        web2 = container("web-2", "10.1.0.6")
        docker.start(web2)
        wait_until(lambda: applies.calls[-1][1] == 2, what="web-2 listed")
        docker._container_event(web2, "kill", signal="15")  # docker stop: the signal first, the exit later
        wait_until(lambda: applies.calls[-1][2] == frozenset({web2.id}), what="an apply that sees it stopping")
        docker.go_down()
        docker.items.pop(web2.id)  # gone while the engine was away: no event will ever say so
        docker.come_back()
        wait_until(lambda: applies.calls[-1][1] == 1, what="the re-sync after the reconnection")
        assert cycles[-1].trigger == "docker: reconnected to the engine"
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_a_container_that_died_leaves_at_its_die_event_though_the_list_still_shows_it_running(
        tmp_path: Path) -> None:
    """Docker 20.10 (measured): at ``die`` and ``network disconnect`` the container list still says
    ``running``; only at ``stop`` it is gone, and a container that crashes gets no ``stop`` at all. An apply
    at ``die`` that trusted the list put a drained member back to full weight, and traffic went to a dead
    address."""
    docker = FakeDocker([container("web-1")])
    applies = Applies(docker)
    stop, cycles, thread = watching(tmp_path, docker, applies)
    try:
        web2 = container("web-2", "10.1.0.6")
        docker.start(web2)
        wait_until(lambda: applies.calls[-1][1] == 2, what="web-2 listed")
        docker._container_event(web2, "kill", signal="15")
        wait_until(lambda: applies.calls[-1][2] == frozenset({web2.id}), what="an apply that sees it stopping")
        docker._container_event(web2, "die", exitCode="0")  # the list lags: web-2 still shows as running
        wait_until(lambda: cycles[-1].trigger.endswith(" die"), what="the apply at die")
        assert applies.calls[-1][1] == 1  # not listed: it died, whatever the lagging list says
        docker.start(web2)  # started again (a restart policy): it is back
        wait_until(lambda: applies.calls[-1][1] == 2, what="web-2 listed again after its start")
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
