"""Pools that follow Docker: labelled echo containers fill a discovered pool, on both engines, with real
traffic from a client container.

Each test's members carry ``ctlplane.pool=<run id>-<pool>``, so concurrent runs never see each other's
containers. ``DockerWatching`` is ``ctlplane watch`` (files and Docker events); HAProxy takes members through
the runtime API (no reload), NGINX by reload. Traffic to NGINX runs without keep-alive (a reload closes idle
keep-alive connections: the known race measured in test_reload_under_load), to HAProxy with keep-alive.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ctlplane.pipeline import build
from ctlplane.discovery.docker import DockerSource
from integration.harness import Deployer, Deployment, Lab, Request, wait_until
from integration.harness.background import Background
from integration.harness.discovered import DockerWatching, Members, healthcheck
from integration.harness.network import create_network
from integration.harness.probe import fetch

SERVICE = {"name": "web", "mode": "http", "listen": {"port": 80}, "default_pool": "web"}
Factory = Callable[..., Members]


@pytest.fixture
def members(lab: Lab) -> Iterator[Factory]:
    """``members("tag")``: labelled members for this test only, removed afterwards."""
    made: list[Members] = []

    def make(tag: str, pool_name: str = "web") -> Members:
        made.append(Members(lab, tag, pool_name))
        return made[-1]

    yield make
    for group in made:
        group.remove()


def servers(lb: Deployment) -> str:
    text = "\n".join(lb.rendered().values())
    return "\n".join(line for line in text.splitlines() if "server" in line and ":8080" in line)


def answered(lab: Lab, lb: Deployment, count: int = 60, port: int = 80) -> set[str]:
    traffic = lab.client.load(Request(lb.target(port)), count=count, concurrency=4, keepalive=False, deadline=20)
    assert set(traffic.statuses()) == {200}, traffic.summary()
    return set(traffic.counts())


def outcomes(watch: DockerWatching) -> list[tuple[str, list[str]]]:
    """What the watch's applies did (those that changed something; a network event may come first)."""
    return [(r.outcome, r.commands) for cycle in watch.applied() for r in cycle.results if r.outcome != "unchanged"]


def test_labelled_backends_fill_a_pool_beside_a_static_server(engine: str, lab: Lab, deployer: Deployer, members: Factory) -> None:
    group = members("fill")
    started = [group.create() for _ in range(2)]
    pool = group.pool(servers=lab.servers(["a"]))
    lb = deployer.deploy(engine, pools=[pool], services=[SERVICE])
    assert lb.results[0].outcome == "started"
    assert answered(lab, lb) == {"a", *(m.name for m in started)}
    for m in started:  # members are named after their containers, at their address on the named network
        assert f"{m.ip(lab.net.name)}:8080" in servers(lb) and m.name in servers(lb)

    with DockerWatching(lb.model_path) as watch:
        watch.wait_cycles(1)
        third = group.create()
        wait_until(lambda: third.name in servers(lb), timeout=15, what="the third member in the config")
        wait_until(lambda: third.name in answered(lab, lb, 30), timeout=10, what="traffic to the third member")
    how = {o for o, _ in outcomes(watch)}
    assert how == ({"runtime"} if engine == "haproxy" else {"reloaded"}), outcomes(watch)


def test_stopping_a_member_under_load_drains_it_first(engine: str, lab: Lab, deployer: Deployer, members: Factory) -> None:
    group = members("stop")
    keep, leaving = group.create(), group.create(grace=8.0)  # it serves 8 s after SIGTERM, like an app finishing
    lb = deployer.deploy(engine, pools=[group.pool()], services=[SERVICE])
    keepalive = engine == "haproxy"
    started = time.monotonic()
    with DockerWatching(lb.model_path) as watch:
        watch.wait_cycles(1)
        with Background(lab.clients[0], Request(lb.target()), concurrency=3, keepalive=keepalive, retry=False,
                        chunk=1.5, limit=40) as load:
            wait_until(lambda: len(load.runs) >= 1, timeout=10, what="traffic flowing")
            stopping = time.monotonic()
            leaving.container.stop(timeout=20)
            wait_until(lambda: leaving.name not in servers(lb), timeout=20, what="the member removed")
            removed = time.monotonic()
            time.sleep(1.0)
            found = load.stop()
    timeline = [(round(at - started, 2), c.trigger[:60], [(r.outcome, round(r.seconds, 2), r.commands) for r in c.results])
                for at, c in watch.cycles]
    print(f"\n{engine}: stop at {stopping - started:.2f}s, removed at {removed - started:.2f}s; cycles {timeline}; "
          f"runs {[(len(r.results), len(r.failures())) for r in load.runs]}")
    counts = found.counts()
    assert counts[leaving.name] > 0 and counts[keep.name] > 0, found.summary()
    assert not found.failures(), found.summary()  # HAProxy: drained first; NGINX: no keep-alive, no failures
    tail = [r.server for r in found.results[-20:]]
    assert set(tail) == {keep.name}, tail
    steps = outcomes(watch)
    if engine == "haproxy":
        commands = [c for _, cs in steps for c in cs]
        drained = next(i for i, c in enumerate(commands) if c.startswith(f"set server be_web/{leaving.name} weight 0")
                       or c.startswith(f"set server be_web/{leaving.name} state drain"))
        deleted = commands.index(f"del server be_web/{leaving.name}")
        assert drained < deleted and {o for o, _ in steps} == {"runtime"}, steps
    else:
        assert {o for o, _ in steps} == {"reloaded"}, steps


def test_a_member_with_a_failing_healthcheck_never_receives_traffic(engine: str, lab: Lab,
                                                                     deployer: Deployer, members: Factory) -> None:
    group = members("health")
    good = group.create(healthcheck=healthcheck("true"))
    bad = group.create(healthcheck=healthcheck("false"))
    wait_until(lambda: "(healthy)" in _status(good) and "(unhealthy)" in _status(bad), timeout=20,
               what="docker health states")
    lb = deployer.deploy(engine, pools=[group.pool()], services=[SERVICE])
    assert good.name in servers(lb) and bad.name not in servers(lb)
    assert answered(lab, lb) == {good.name}
    left_out = build(lb.model_path, discovery=DockerSource()).discovered.excluded
    assert [(e.container, e.refused) for e in left_out] == [(repr(bad.name), False)]
    assert "waits for its healthcheck (health: 'unhealthy')" in left_out[0].reason


def _status(member: Any) -> str:
    member.container.reload()
    return str(member.container.attrs["State"].get("Health", {}).get("Status") and
               f"({member.container.attrs['State']['Health']['Status']})")


def test_a_multi_homed_member_is_reached_on_the_named_network_only(engine: str, lab: Lab,
                                                                   deployer: Deployer, members: Factory) -> None:
    other = create_network(lab.session, f"{lab.net.suffix[:8]}-mh")
    try:
        group = members("multi")
        member = group.create()
        other.network.connect(member.container)
        lb = deployer.deploy(engine, pools=[group.pool()], services=[SERVICE])
        assert f"{member.ip(lab.net.name)}:8080" in servers(lb)
        assert member.ip(other.name) not in servers(lb)
        assert answered(lab, lb) == {member.name}
        unnamed = {"name": "unnamed", "discover": {"docker": {**group.pool()["discover"]["docker"], "network": None}}}
        lb.update(pools=[group.pool(), unnamed], services=[SERVICE, {**SERVICE, "name": "x", "listen": {"port": 81},
                                                                       "default_pool": "unnamed"}],
                  proxies=[{**lb.model["proxies"][0], "services": ["web", "x"]}])
        (left_out,) = build(lb.model_path, discovery=DockerSource()).discovered.excluded
        assert left_out.pool == "unnamed" and "is on 2 networks" in left_out.reason  # reported, never guessed
        assert fetch(lab.client, lb.target(81)).status == 503
    finally:
        other.remove()


def test_hostile_labels_are_refused_with_a_located_message_and_change_nothing(engine: str, lab: Lab,
                                                                              deployer: Deployer, members: Factory) -> None:
    group = members("hostile")
    good = group.create()
    lb = deployer.deploy(engine, pools=[group.pool()], services=[SERVICE])
    before = lb.rendered()
    hostile = {"ctlplane.port": "8080;\n}\nserver { listen 81", "ctlplane.weight": "1 backup",
               "ctlplane.drain": "$(reboot)"}
    for key, value in hostile.items():
        group.create(labels={key: value})
    result = build(lb.model_path, discovery=DockerSource())
    refused = result.discovered.excluded
    assert len(refused) == 3 and all(e.refused for e in refused), refused
    from ctlplane.discovery.report import excluded_findings

    lines = [f.one_line() for f in excluded_findings(result.loaded, result.discovered)]
    for key in hostile:
        line = next(line for line in lines if f"label {key}:" in line)
        assert line.startswith(f"{lb.model_path}:") and "(pools[0].discover.docker.labels)" in line, line
        assert "\n" not in line
    assert [r.outcome for r in lb.update()] == ["unchanged"]
    assert lb.rendered() == before and answered(lab, lb) == {good.name}


def test_an_emptied_pool_answers_503_and_the_log_names_it(engine: str, lab: Lab, deployer: Deployer, members: Factory) -> None:
    group = members("empty")
    only = group.create()
    lb = deployer.deploy(engine, pools=[group.pool()], services=[SERVICE])
    assert fetch(lab.client, lb.target()).status == 200
    with DockerWatching(lb.model_path) as watch:
        watch.wait_cycles(1)
        only.container.stop(timeout=5)
        wait_until(lambda: only.name not in servers(lb), timeout=20, what="the last member removed")
    assert all(c.error is None for c in watch.applied()), watch.applied()
    assert {fetch(lab.client, lb.target(), f"/gone{n}").status for n in range(3)} == {503}
    log = lb.state_dir / "logs" / ("haproxy.log" if engine == "haproxy" else "access.log")  # the access log

    def logged() -> list[str]:
        return [ln for ln in log.read_text().splitlines() if "/gone" in ln]
    wait_until(lambda: len(logged()) >= 3, timeout=10, what="the 503s in the access log")
    assert all('" 503 ' in ln and f" pool={group.pool_name} " in ln for ln in logged()), logged()


def test_twenty_members_started_at_once_are_one_or_two_applies(lab: Lab, deployer: Deployer, members: Factory) -> None:
    group = members("burst")  # the pool starts empty: on HAProxy the first members join at runtime too
    pools = [group.pool()]
    services = [{**SERVICE, "name": "n"}, {**SERVICE, "name": "h", "listen": {"port": 81}}]
    model = {"version": 1, "pools": pools, "services": services,
             "proxies": [{"name": "ng", "engine": "nginx", "runtime": deployer.runtime("ng"), "services": ["n"]},
                         {"name": "hx", "engine": "haproxy", "runtime": deployer.runtime("hx"), "services": ["h"]}]}
    ng, hx = deployer.apply_model(model)
    created = [group.create(start=False) for _ in range(20)]
    with DockerWatching(ng.model_path) as watch:
        watch.wait_cycles(1)
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            list(pool.map(lambda m: m.container.start(), created))
        for lb in (ng, hx):
            wait_until(lambda lb=lb: all(m.name in servers(lb) for m in created), timeout=60,
                       what=f"all 20 members in {lb.proxy}'s config")
        time.sleep(1.5)  # no apply is still pending
        applies = watch.applied()
    changing = [c for c in applies if any(r.outcome != "unchanged" for r in c.results)]
    assert 1 <= len(changing) <= 2, [(c.trigger, [r.outcome for r in c.results]) for c in applies]
    assert {r.outcome for c in applies for r in c.results if r.proxy == "hx"} - {"unchanged"} == {"runtime"}
    for lb, port in ((ng, 80), (hx, 81)):
        wait_until(lambda lb=lb, port=port: len(answered(lab, lb, 200, port)) == 20, timeout=20,
                   what="all 20 answering")


def test_a_member_that_exits_on_its_own_leaves_at_its_die_event(engine: str, lab: Lab, deployer: Deployer,
                                                                members: Factory) -> None:
    """No ``docker stop``: the backend exits by itself, so the engine sends ``die`` and a network ``disconnect``
    but no ``kill`` and no ``stop``; its list may still show the container running at both (Docker 20.10:
    ~100 ms idle, longer under load; tests/discovery/test_follow.py covers that lag deterministically)."""
    group = members("exit")
    keep, leaving = group.create(), group.create()
    lb = deployer.deploy(engine, pools=[group.pool()], services=[SERVICE])
    with DockerWatching(lb.model_path) as watch:
        watch.wait_cycles(1)
        assert answered(lab, lb) == {keep.name, leaving.name}
        leaving.container.exec_run(["kill", "-TERM", "1"])  # the echo backend is PID 1 and exits on SIGTERM
        wait_until(lambda: leaving.name not in servers(lb), timeout=15, what="the member out of the config")
        wait_until(lambda: answered(lab, lb, 20) == {keep.name}, timeout=15, what="traffic to the other only")
    triggers = [c.trigger for c in watch.applied() if any(r.outcome != "unchanged" for r in c.results)]
    assert triggers and all(t.startswith("docker: ") for t in triggers), triggers  # events, not a periodic pass
    assert all(c.error is None for c in watch.applied()), watch.applied()
