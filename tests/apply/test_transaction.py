"""The apply transaction on the simulated host: every path through it (start, nothing, runtime, reload), a
failure at each step, and each time the end state checked from what the workers themselves report — the
last-known-good release serving, a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctlplane.drivers.fake import FakeHost
from ctlplane.errors import ApplyError, DriverError
from ctlplane.render.release import release_id
from ctlplane.transaction import apply_proxy, plan_change, serving_release
from tests.apply.fakes import fake_driver, files

ENGINES = ["haproxy", "nginx"]


def running(tmp_path: Path, engine: str = "haproxy"):
    driver, host = fake_driver(tmp_path, engine)
    old = files(engine)
    assert apply_proxy(driver, old).outcome == "started"
    host.events.clear()
    return driver, host, release_id(old)


def serving(driver) -> str | None:
    return serving_release(driver.store, driver.control.observe())


@pytest.mark.parametrize("engine", ENGINES)
def test_first_apply_starts_and_the_workers_report_the_release(engine: str, tmp_path: Path) -> None:
    driver, host = fake_driver(tmp_path, engine)
    new = files(engine)
    result = apply_proxy(driver, new)
    assert result.outcome == "started" and result.release == release_id(new)
    assert host.events[0] == f"launch {engine}"
    assert driver.control.observe().release == release_id(new)


@pytest.mark.parametrize("engine", ENGINES)
def test_unchanged_release_touches_nothing(engine: str, tmp_path: Path) -> None:
    driver, host, release = running(tmp_path, engine)
    before = driver.control.observe()
    assert apply_proxy(driver, files(engine)).outcome == "unchanged"
    assert driver.control.observe() == before
    assert not [e for e in host.events if e.startswith(("launch", "signal")) or e.endswith("reload")]


@pytest.mark.parametrize("engine", ENGINES)
def test_reload_change_keeps_the_master(engine: str, tmp_path: Path) -> None:
    driver, _, _ = running(tmp_path, engine)
    master = driver.control.observe().master
    new = files(engine, address="10.0.0.9")
    assert apply_proxy(driver, new).outcome == "reloaded"
    seen = driver.control.observe()
    assert seen.master == master and seen.release == release_id(new)


def test_weight_change_goes_through_the_runtime_api_on_haproxy(tmp_path: Path) -> None:
    driver, host, old = running(tmp_path)
    before = driver.control.observe()
    new = files("haproxy", weight=5)
    result = apply_proxy(driver, new)
    assert result.outcome == "runtime" and result.commands == ["set server be_web/a weight 5"]
    assert host.runtime_log == ["set server be_web/a weight 5"]
    assert driver.control.observe() == before  # no reload: same master, workers, loaded release
    assert driver.control.observe().release == old and serving(driver) == release_id(new)
    assert apply_proxy(driver, new).outcome == "unchanged"  # the runtime record makes it the serving release


def test_weight_change_needs_a_reload_on_nginx(tmp_path: Path) -> None:
    driver, _, _ = running(tmp_path, "nginx")
    assert apply_proxy(driver, files("nginx", weight=5)).outcome == "reloaded"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_mode_only_change_is_a_change(engine: str, tmp_path: Path) -> None:
    driver, _, _ = running(tmp_path, engine)
    old = files(engine)
    (name, f), = old.items()
    from ctlplane.render import RenderedFile
    from ctlplane.render.release import seal
    tightened = seal({name: RenderedFile(f.content, 0o600)})
    assert release_id(tightened) != release_id(old)
    assert apply_proxy(driver, tightened).outcome == "reloaded"


@pytest.mark.parametrize(("engine", "step"), [(e, s) for e in ENGINES for s in ("stage", "activate", "reload")]
                         + [("haproxy", "runtime")])
def test_failure_at_each_step_leaves_last_known_good_serving(engine: str, step: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    driver, host, old = running(tmp_path, engine)
    new = files(engine, weight=5) if step == "runtime" else files(engine, address="10.0.0.9")
    if step in ("stage", "activate"):
        def broken(*args: object) -> None:
            raise DriverError(f"disk full at {step}")
        monkeypatch.setattr(driver.store, step, broken)
    else:
        host.faults.add(step)
    with pytest.raises(ApplyError) as caught:
        apply_proxy(driver, new)
    monkeypatch.undo()
    assert serving(driver) == old and driver.store.active_release() == old
    assert f"{step} failed" in caught.value.message
    if step == "stage":
        assert "nothing changed" in caught.value.message
    else:
        assert caught.value.rolled_back and (old in caught.value.message)


@pytest.mark.parametrize("engine", ENGINES)
def test_failed_first_start_leaves_nothing_running(engine: str, tmp_path: Path) -> None:
    driver, host = fake_driver(tmp_path, engine)
    host.faults.add("start")
    with pytest.raises(ApplyError) as caught:
        apply_proxy(driver, files(engine))
    assert not driver.control.observe().running
    assert "nothing to restore" in caught.value.message
    assert "bind" in str(caught.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_failed_start_with_a_known_good_release_starts_that_release(engine: str, tmp_path: Path) -> None:
    """Defect 5: the proxy was down (crash, reboot); the new config cannot start; last-known-good must."""
    driver, host, old = running(tmp_path, engine)
    host.kill(driver.control.observe().master, orphan=False)
    assert not driver.control.observe().running
    host.faults.add("start")
    with pytest.raises(ApplyError) as caught:
        apply_proxy(driver, files(engine, address="10.0.0.9"))
    assert caught.value.rolled_back and "started it" in caught.value.message
    assert driver.control.observe().running and serving(driver) == old


def test_a_restore_that_fails_too_is_reported_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    driver, host, _ = running(tmp_path)
    host.faults.add("runtime")  # runtime commands may have half-applied: the restore must reload

    def refuse(*args: object, **kwargs: object) -> None:
        raise DriverError("reload refused")
    monkeypatch.setattr(driver.control, "reload", refuse)
    with pytest.raises(ApplyError) as caught:
        apply_proxy(driver, files("haproxy", weight=5))
    assert caught.value.rolled_back is False and "restore failed" in caught.value.message


@pytest.mark.parametrize("engine", ENGINES)
def test_a_rejected_reload_is_not_followed_by_another_reload(engine: str, tmp_path: Path) -> None:
    driver, host, old = running(tmp_path, engine)
    host.faults.add("reload")
    with pytest.raises(ApplyError) as caught:
        apply_proxy(driver, files(engine, address="10.0.0.9"))
    reloads = [e for e in host.events if e.startswith("signal SIGHUP") or e.endswith(" reload")]
    assert len(reloads) == 1  # the rejected one; no second reload drops keep-alive connections again
    assert serving(driver) == old and "never stopped serving" in caught.value.message


def test_nginx_reload_verdict_ignores_other_processes_alerts(tmp_path: Path) -> None:
    """Defect 6: old workers logging [alert] under overload must not fail a reload that worked."""
    driver, host, _ = running(tmp_path, "nginx")
    host.noise.append("2026/01/01 00:00:00 [alert] 4242#4242: 1024 worker_connections are not enough")
    new = files("nginx", address="10.0.0.9")
    assert apply_proxy(driver, new).outcome == "reloaded"
    assert serving(driver) == release_id(new)


@pytest.mark.parametrize("engine", ENGINES)
def test_old_releases_are_pruned_to_current_and_previous(engine: str, tmp_path: Path) -> None:
    driver, _, old = running(tmp_path, engine)
    second = files(engine, address="10.0.0.9")
    apply_proxy(driver, second)
    apply_proxy(driver, files(engine, address="10.0.0.7"))
    left = sorted(p.name for p in driver.store.releases.iterdir())
    assert old not in left and release_id(second) in left and len(left) == 2


def test_a_plan_that_went_stale_applies_nothing(tmp_path: Path) -> None:
    """Compare-and-swap: the proxy changed between the plan and the apply (another apply won)."""
    driver, host, old = running(tmp_path)
    planned = plan_change(driver, files("haproxy", address="10.0.0.9"))
    apply_proxy(driver, files("haproxy", address="10.0.0.7"))  # the concurrent apply
    host.events.clear()
    with pytest.raises(ApplyError) as caught:
        apply_proxy(driver, files("haproxy", address="10.0.0.9"), expect=planned.serving)
    assert "changed since the plan" in caught.value.message
    assert [e for e in host.events if " show " not in e and not e.endswith("show proc")] == []
    assert planned.serving == old


def test_a_stale_plan_says_what_it_saw(tmp_path: Path) -> None:
    """The refusal names what the plan saw, so that "nothing" and "could not tell" are told apart."""
    from ctlplane.drivers.control import STOPPED, Observation

    driver, _, old = running(tmp_path)
    with pytest.raises(ApplyError, match=r"planned against nothing\)"):
        apply_proxy(driver, files("haproxy", address="10.0.0.9"), expect=None, planned_seen=STOPPED)
    unknown = Observation(master=4, workers=frozenset({5}))
    with pytest.raises(ApplyError, match=r"planned against a release its workers did not report .*\(master 4\)"):
        apply_proxy(driver, files("haproxy", address="10.0.0.9"), expect=None, planned_seen=unknown)
    twice = Observation(master=4, problem="two masters")
    with pytest.raises(ApplyError, match=r"planned against nothing: two masters\)"):
        apply_proxy(driver, files("haproxy", address="10.0.0.9"), expect=None, planned_seen=twice)
    assert serving(driver) == old  # nothing changed


def test_a_host_that_cannot_run_the_engine_is_not_a_stopped_proxy() -> None:
    assert FakeHost().processes() == {}


def test_the_real_binary_judges_what_reaches_a_proxy_and_nothing_else() -> None:
    from ctlplane.apply import needs_binary_check
    from ctlplane.decide import Change

    assert not needs_binary_check(Change("none"))  # the release it already serves was judged when deployed
    assert not needs_binary_check(Change("runtime", ("set server be_web/a weight 5", "del server be_web/b")))
    assert needs_binary_check(Change("runtime", ("add server be_web/c app3.internal:80",)))  # may not resolve
    for address in ("10.1.0.6:8080", "[fd00::6]:8080"):  # a discovered member: nothing to resolve
        assert not needs_binary_check(Change("runtime", (f"add server be_web/c {address} weight 1 check",
                                                         "enable health be_web/c", "enable server be_web/c")))
    assert needs_binary_check(Change("runtime", ("add server be_web/c 10.1.0.6:8080", "add server be_web/d db:5432")))
    assert needs_binary_check(Change("reload")) and needs_binary_check(Change("start"))
