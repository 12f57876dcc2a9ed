"""The apply state machine, driven through the fake driver: every step of the
transaction fails once in turn, and each time the end state is checked — the
last-known-good release active, the proxy serving it, a clear error."""

from __future__ import annotations

import pytest

from ctlplane.apply import apply_proxy
from ctlplane.drivers.fake import FakeDriver
from ctlplane.errors import ApplyError
from ctlplane.render import text_file

OLD = {"haproxy.cfg": text_file("backend 'be_web'\n    server 'a' '10.0.0.1:80' weight 1\n")}
NEW_RELOAD = {"haproxy.cfg": text_file("backend 'be_web'\n    server 'a' '10.0.0.9:80' weight 1\n")}
NEW_RUNTIME = {"haproxy.cfg": text_file("backend 'be_web'\n    server 'a' '10.0.0.1:80' weight 5\n")}


def running(engine: str = "haproxy") -> tuple[FakeDriver, str]:
    driver = FakeDriver.make(engine=engine)
    apply_proxy(driver, OLD)
    old_release = driver.state.active
    assert old_release and driver.state.generation.running
    driver.state.events.clear()
    return driver, old_release


def test_first_apply_starts_the_proxy() -> None:
    driver = FakeDriver.make()
    result = apply_proxy(driver, OLD)
    assert result.outcome == "started"
    assert driver.state.events == ["lock", "stage", "activate", "start"]


def test_unchanged_bytes_touch_nothing() -> None:
    driver, release = running()
    before = driver.state.generation
    result = apply_proxy(driver, OLD)
    assert result.outcome == "unchanged"
    assert driver.state.events == ["lock"]
    assert driver.state.generation == before and driver.state.active == release


def test_reload_change() -> None:
    driver, _ = running()
    master = driver.state.generation.master
    result = apply_proxy(driver, NEW_RELOAD)
    assert result.outcome == "reloaded"
    assert driver.state.events == ["lock", "stage", "activate", "reload"]
    assert driver.state.generation.master == master


def test_weight_change_goes_through_the_runtime_api_on_haproxy() -> None:
    driver, _ = running()
    before = driver.state.generation
    result = apply_proxy(driver, NEW_RUNTIME)
    assert result.outcome == "runtime"
    assert result.commands == ["set server be_web/a weight 5"]
    assert driver.state.generation == before  # no reload: same master and workers
    assert driver.state.serving == driver.state.active  # the written config carries the new weight


def test_weight_change_needs_a_reload_on_nginx() -> None:
    driver, _ = running(engine="nginx")
    assert apply_proxy(driver, NEW_RUNTIME).outcome == "reloaded"


@pytest.mark.parametrize(("new", "step"), [(NEW_RELOAD, "stage"), (NEW_RELOAD, "activate"),
                                           (NEW_RELOAD, "reload"), (NEW_RUNTIME, "runtime")])
def test_failure_at_each_step_leaves_last_known_good_serving(new: dict, step: str) -> None:
    driver, old_release = running()
    driver.state.fail = {step}
    with pytest.raises(ApplyError) as caught:
        apply_proxy(driver, new)
    assert driver.state.active == old_release
    assert driver.state.serving == old_release
    assert driver.state.generation.running
    assert f"{step} failed" in caught.value.message or "nothing changed" in caught.value.message
    if step != "stage":
        assert caught.value.rolled_back
        assert ("restored release" in caught.value.message or
                (step == "activate" and "still active" in caught.value.message))


def test_failed_first_start_leaves_nothing_running() -> None:
    driver = FakeDriver.make(fail={"start"})
    with pytest.raises(ApplyError) as caught:
        apply_proxy(driver, OLD)
    assert not driver.state.generation.running
    assert "nothing to restore" in caught.value.message


def test_a_restore_that_fails_too_is_reported_as_such() -> None:
    driver, _ = running()
    driver.state.fail = {"runtime"}  # runtime commands may have half-applied: the restore must reload
    driver.state.fail_always = {"reload"}
    with pytest.raises(ApplyError) as caught:
        apply_proxy(driver, NEW_RUNTIME)
    assert caught.value.rolled_back is False
    assert "restore failed" in caught.value.message


def test_a_rejected_reload_is_not_followed_by_another_reload() -> None:
    driver, old_release = running()
    driver.state.fail = {"reload"}
    with pytest.raises(ApplyError) as caught:
        apply_proxy(driver, NEW_RELOAD)
    assert driver.state.events == ["lock", "stage", "activate", "reload", "activate"]  # no second reload
    assert driver.state.active == old_release and driver.state.serving == old_release
    assert "never stopped serving" in caught.value.message


def test_old_releases_are_pruned_to_current_and_previous() -> None:
    driver, old_release = running()
    apply_proxy(driver, NEW_RELOAD)
    third = {"haproxy.cfg": text_file("backend 'be_web'\n    server 'a' '10.0.0.7:80' weight 1\n")}
    apply_proxy(driver, third)
    assert old_release not in driver.state.releases
    assert len(driver.state.releases) == 2
