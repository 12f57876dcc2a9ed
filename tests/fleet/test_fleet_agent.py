"""The agent on the simulated host: it applies and soaks a release and then reports it; a failed apply, a
corrupted part, a 5xx rise or a pool without a healthy server during the soak each end in one ``failed`` line, an
AgentError and the last-known-good release serving; ``check`` passes only for the soaked release."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from ctlplane.drivers import Driver, control_for
from ctlplane.drivers.fake import FakeHost
from ctlplane.fleet.bundle import sha256
from ctlplane.fleet.agent import (AgentError, Seams, Settings, check, proxy_reports, read_status, run,
                                  settings_from_env)
from ctlplane.health import PoolHealth, ProxyHealth
from ctlplane.model.fleet import Gate
from ctlplane.model.load import Loaded, load_file
from ctlplane.state.paths import proxy_dir
from ctlplane.state.releases import ReleaseStore
from tests.fleet.agent_kit import fleet_model, publish, settings

LINE_OK = '{"client":"10.0.0.9","host":"a","path":"/","status":200,"upstream":"x","pool":"app"}\n'
LINE_5XX = '10.0.0.9 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 503 0 "-" "curl" host=a upstream=- pool=app\n'


class Node:
    """One simulated node: a fake host, a clock the agent's sleeps advance, and the events it logged."""

    def __init__(self) -> None:
        self.host = FakeHost()
        self.now = 0.0
        self.events: list[dict[str, object]] = []
        self.during_soak: Callable[[], None] = lambda: None
        self.health: ProxyHealth | None = None

    def driver(self, loaded: Loaded, name: str) -> Driver:
        state = proxy_dir(loaded, name).resolve()
        engine = loaded.model.proxy(name).engine
        return Driver(name, engine, ReleaseStore(state), control_for(engine, self.host, state, engine))

    def sleep(self, seconds: float) -> None:
        self.during_soak()
        self.now += seconds

    def seams(self) -> Seams:
        return Seams(driver=self.driver, clock=lambda: self.now, sleep=self.sleep, log=self.events.append,
                     health=(lambda d, m: self.health) if self.health else None, strict_binaries=False)

    def reports(self, s: Settings, digest: str) -> dict[str, str | None]:
        """What the proxies report serving, read through the drivers of bundle ``digest``."""
        return proxy_reports(self.seams().drivers(load_file(s.bundle_dir(digest) / "model.yaml")))


def first_release(tmp_path: Path, node: Node) -> tuple[Settings, str]:
    digest = publish(tmp_path / "m1", tmp_path / "out", fleet_model(8443, 9001))
    one = settings(tmp_path / "out", tmp_path / "root", digest)
    run(one, node.seams())
    return one, digest


def test_a_release_is_applied_soaked_and_reported(tmp_path: Path) -> None:
    node = Node()
    one, digest = first_release(tmp_path, node)
    kinds = [e["event"] for e in node.events]
    assert kinds == ["applied", "serving"]
    assert node.events[0]["outcomes"] == {"edge": "started"}
    reported, configs = node.events[-1]["proxy_reports"], node.events[-1]["proxy_configs"]
    assert reported == {"edge": digest}  # in the fleet's terms: the bundle, which status compares with the target
    assert isinstance(configs, dict) and configs["edge"] and configs["edge"] != digest  # the workers' own config id
    assert node.now >= 3.0  # the soak ran its length on the agent's clock
    assert read_status(one)["state"] == "soaked" and read_status(one)["lkg"] == digest
    assert check(one, node.seams()) == (True, "serving")
    home = tmp_path / "root" / "fleet" / "edge"
    key = home / "bundles" / digest / "certs" / "www.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (home / "bundles" / digest / ".ctlplane").resolve() == (home / "state").resolve()
    assert (home / "state" / "edge" / "config").is_symlink()  # one state directory for every release
    other = Settings(**{**one.__dict__, "release": "f" * 64})
    assert check(other, node.seams())[0] is False


def test_a_failed_apply_leaves_the_last_known_good_serving(tmp_path: Path) -> None:
    node = Node()
    one, first = first_release(tmp_path, node)
    serving = node.events[-1]["proxy_configs"]
    two = settings(tmp_path / "out", one.root, publish(tmp_path / "m2", tmp_path / "out",
                                                       fleet_model(8443, 9001, client_timeout="40s")))
    node.host.faults.add("reload")
    node.events.clear()
    with pytest.raises(AgentError) as caught:
        run(two, node.seams())
    assert caught.value.message.startswith("apply failed: ") and "cannot bind socket" in caught.value.message
    assert [e["event"] for e in node.events] == ["failed"]
    assert node.events[0]["serving"] == first and node.events[0]["release"] == two.release
    assert read_status(two)["state"] == "failed" and read_status(two)["lkg"] == first
    assert check(two, node.seams())[0] is False and check(one, node.seams())[0] is False  # the record is two's
    assert node.reports(one, first) == serving


def _second(tmp_path: Path, node: Node, gate: Gate) -> tuple[Settings, str, object]:
    one, first = first_release(tmp_path, node)
    serving = node.events[-1]["proxy_configs"]
    digest = publish(tmp_path / "m2", tmp_path / "out", fleet_model(8443, 9001, client_timeout="40s"))
    node.events.clear()
    return settings(tmp_path / "out", one.root, digest, gate=gate), first, serving


def test_a_5xx_rise_during_the_soak_restores_the_last_known_good(tmp_path: Path) -> None:
    node = Node()
    two, first, serving = _second(tmp_path, node, Gate(max_5xx_increase=0.1))
    log = tmp_path / "root" / "fleet" / "edge" / "state" / "edge" / "logs" / "haproxy.log"
    with log.open("a") as handle:
        handle.write(LINE_OK * 20 + LINE_5XX)  # before: 1 in 21

    def errors() -> None:
        with log.open("a") as handle:
            handle.write(LINE_OK + LINE_5XX)  # since: 1 in 2

    node.during_soak = errors
    with pytest.raises(AgentError) as caught:
        run(two, node.seams())
    assert caught.value.message.startswith("gate breached during the soak: the share of 5xx answers rose from 4.8% "
                                           "(1 of 21) to 50.0%")
    assert [e["event"] for e in node.events] == ["applied", "failed"]
    assert node.events[-1]["serving"] == first
    assert node.reports(two, first) == serving
    assert read_status(two)["state"] == "failed"


def test_a_small_5xx_share_within_the_gate_passes(tmp_path: Path) -> None:
    node = Node()
    two, _, _ = _second(tmp_path, node, Gate(max_5xx_increase=0.5))
    log = tmp_path / "root" / "fleet" / "edge" / "state" / "edge" / "logs" / "haproxy.log"
    node.during_soak = lambda: log.open("a").write(LINE_OK + LINE_5XX) and None
    run(two, node.seams())
    assert [e["event"] for e in node.events] == ["applied", "serving"]
    assert read_status(two)["lkg"] == two.release


def test_a_pool_without_a_healthy_server_breaches_the_gate_unless_the_gate_ignores_pools(tmp_path: Path) -> None:
    node = Node()
    two, first, _ = _second(tmp_path, node, Gate())
    node.health = ProxyHealth("edge", (PoolHealth("app", 0, 1, 0, "L4CON"),))
    with pytest.raises(AgentError) as caught:
        run(two, node.seams())
    assert caught.value.message.endswith("pools without a healthy server: edge: pool app has 0 of 1 servers up "
                                         "(L4CON)")
    assert node.events[-1]["serving"] == first
    node.events.clear()
    run(Settings(**{**two.__dict__, "gate": Gate(pools_healthy=False)}), node.seams())
    assert node.events[-1]["event"] == "serving"


def test_a_corrupted_part_is_refused_before_anything_changes(tmp_path: Path) -> None:
    node = Node()
    two, first, serving = _second(tmp_path, node, Gate())
    part = two.parts_dir / "part-1"
    data = bytearray(part.read_bytes())
    data[600] ^= 1
    part.write_bytes(bytes(data))
    with pytest.raises(AgentError) as caught:
        run(two, node.seams())
    assert "join to sha256" in str(caught.value)
    assert node.events == [{"event": "failed", "node": "node-1", "release": two.release, "serving": first,
                            "reason": node.events[0]["reason"]}]
    assert not two.bundle_dir(two.release).exists()


def test_a_corrupted_part_is_named_by_its_swarm_config_when_the_agent_knows_the_parts_sha256(
        tmp_path: Path) -> None:
    node = Node()
    two, first, _ = _second(tmp_path, node, Gate())
    part = two.parts_dir / "part-1"
    good = part.read_bytes()
    part.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    two = Settings(**{**two.__dict__, "part_shas": (sha256(good),)})
    with pytest.raises(AgentError) as caught:
        run(two, node.seams())
    config = f"ctl-edge-{two.release[:16]}-1-of-1"
    assert caught.value.findings[0].file == config
    assert f"part {config!r} of release {two.release[:16]}" in str(caught.value) and "corrupted" in str(caught.value)
    assert node.events[0]["event"] == "failed" and config in str(node.events[0]["reason"])
    assert node.events[0]["serving"] == first and not two.bundle_dir(two.release).exists()


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    env = {"CTLPLANE_FLEET": "edge", "CTLPLANE_NODE": "n1", "CTLPLANE_RELEASE": "a" * 64, "CTLPLANE_SOAK_MS": "500",
           "CTLPLANE_GATE": '{"max_5xx_increase": 0.05, "pools_healthy": false}', "CTLPLANE_PARTS": '["x"]'}
    found = settings_from_env(env, root=tmp_path)
    assert (found.soak_ms, found.gate.max_5xx_increase, found.part_shas, found.root) == (500, 0.05, ("x",), tmp_path)
    with pytest.raises(AgentError) as caught:
        settings_from_env({"CTLPLANE_FLEET": "edge"})
    assert [f.message for f in caught.value.findings] == ["CTLPLANE_NODE is not set", "CTLPLANE_RELEASE is not set"]
    with pytest.raises(AgentError, match="not a sha256 digest"):
        settings_from_env({**env, "CTLPLANE_RELEASE": "../x"})
    with pytest.raises(AgentError, match="CTLPLANE_GATE: max_5xx_increase: Input should be less than or equal to 1"):
        settings_from_env({**env, "CTLPLANE_GATE": '{"max_5xx_increase": 7}'})


def test_agent_check_cli_fails_before_a_release_soaked(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ctlplane.cli import app

    env = {**os.environ, "CTLPLANE_FLEET": "edge", "CTLPLANE_NODE": "n1", "CTLPLANE_RELEASE": "b" * 64}
    result = CliRunner().invoke(app, ["agent", "check", "--root", str(tmp_path)], env=env)
    assert result.exit_code == 1 and "not applied" in result.output
    result = CliRunner().invoke(app, ["agent", "run", "--root", str(tmp_path), "--parts", str(tmp_path / "none")],
                                env=env)
    assert result.exit_code == 1 and "cannot be read" in result.output


def test_the_health_file_holds_the_release_while_the_proxies_report_it(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from ctlplane.fleet import agent
    from ctlplane.fleet.specs import CHECK_COMMAND, HEALTH_FILE

    node = Node()
    health = tmp_path / "run" / "healthy"
    digest = publish(tmp_path / "m1", tmp_path / "out", fleet_model(8443, 9001))
    one = Settings(**{**settings(tmp_path / "out", tmp_path / "root", digest).__dict__, "health_file": health})

    def healthcheck() -> int:
        argv = [a.replace(HEALTH_FILE, str(health)) for a in CHECK_COMMAND]
        return subprocess.run(argv, env={"CTLPLANE_RELEASE": digest, "PATH": os.environ["PATH"]}).returncode

    seen: list[bool] = []
    real = agent.proxy_reports
    looks = iter([True, False, True, False, False])  # the proxies report the release, then not (twice running)

    def reports(drivers: object) -> dict[str, str | None]:
        found = real(drivers)  # type: ignore[arg-type]
        return found if next(looks) else {name: "something-else" for name in found}

    def serve() -> bool:
        seen.append(healthcheck() == 0)
        return len(seen) < 5

    assert healthcheck() != 0
    monkeypatch.setattr(agent, "proxy_reports", reports)
    run(one, node.seams(), serve=serve)
    assert seen == [True, True, True, True, False]  # one miss is forgiven, two in a row are not
    serving = [e for e in node.events if e["event"] == "serving"]
    assert [e["proxy_reports"] for e in serving] == [{"edge": digest}, {"edge": "config something-else"}] * 2 + [
        {"edge": "config something-else"}]
    assert not health.exists()


def test_an_apply_that_changed_nothing_because_the_proxy_read_as_changed_is_tried_once_more(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ctlplane.apply
    from ctlplane.transaction import ChangedSincePlan

    node = Node()
    real = ctlplane.apply.apply_model
    calls: list[int] = []

    def flaky(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:  # what a busy worker under load once gave on the real Swarm
            raise ChangedSincePlan("edge: changed since the plan (serving nothing, planned against x); nothing "
                                   "changed, run apply again")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ctlplane.apply, "apply_model", flaky)
    first_release(tmp_path, node)
    assert len(calls) == 2 and [e["event"] for e in node.events] == ["retry", "applied", "serving"]

    def always(*args: object, **kwargs: object) -> object:
        raise ChangedSincePlan("edge: changed since the plan (serving nothing, planned against x); nothing changed")

    monkeypatch.setattr(ctlplane.apply, "apply_model", always)
    node.events.clear()
    two = settings(tmp_path / "out", tmp_path / "root", publish(tmp_path / "m2", tmp_path / "out",
                                                                fleet_model(8443, 9001, client_timeout="40s")))
    with pytest.raises(AgentError, match="changed since the plan"):
        run(two, node.seams())
    assert [e["event"] for e in node.events] == ["retry", "failed"]  # once more only: then it is the answer
