"""Apply never lies, on the simulated host: after an interrupted apply, a stale pid file, a master that does
not answer, a damaged release or a dead master's orphaned workers, the truth is read from the processes,
status says it, and the next apply converges (the same cases run against real proxies in test_crash.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctlplane.errors import ApplyError
from ctlplane.render.release import release_id
from ctlplane.state.releases import ReleaseStore
from ctlplane.status import read_status
from ctlplane.transaction import apply_proxy, plan_change
from tests.apply.fakes import fake_driver, files

ENGINES = ["haproxy", "nginx"]


def started(tmp_path: Path, engine: str):
    driver, host = fake_driver(tmp_path, engine)
    old = files(engine)
    apply_proxy(driver, old)
    return driver, host, release_id(old)


@pytest.mark.parametrize("engine", ENGINES)
def test_activated_but_never_loaded_is_not_in_sync_and_the_next_apply_converges(engine: str, tmp_path: Path) -> None:
    """Defect 1: the run died after activating (the symlink names the new release, the old one serves)."""
    driver, host, old = started(tmp_path, engine)
    new = files(engine, address="10.0.0.9")
    driver.store.activate(driver.store.stage(new))  # what a kill -9 right after 'activate' leaves behind
    status = read_status(driver, new, None)
    assert status.release == old and status.active == release_id(new)
    assert status.state == "drift" and "never verified" in status.summary()
    assert plan_change(driver, new).change.kind == "reload"
    assert apply_proxy(driver, new).outcome == "reloaded"
    assert read_status(driver, new, None).state == "in sync"


@pytest.mark.parametrize("engine", ENGINES)
def test_an_apply_of_what_serves_puts_back_a_config_link_a_killed_run_left_on_another_release(
        engine: str, tmp_path: Path) -> None:
    """A run killed after 'activate' left ``config`` naming a release that never served; the next apply of the
    release that does serve changed nothing and left the link there, so a restart of the proxy (the docker
    runtime's restart policy reads ``config``) would have loaded the never-verified release."""
    driver, host, old = started(tmp_path, engine)
    driver.store.activate(driver.store.stage(files(engine, address="10.0.0.9")))  # kill -9 after 'activate'
    assert apply_proxy(driver, files(engine)).outcome == "unchanged"
    assert driver.store.active_release() == old
    assert read_status(driver, files(engine), None).state == "in sync"


@pytest.mark.parametrize("engine", ENGINES)
def test_interrupted_apply_rolls_back_and_stops(engine: str, tmp_path: Path) -> None:
    """Ctrl-C or SIGTERM (KeyboardInterrupt) during the reload: roll back, then stop as asked."""
    driver, host, old = started(tmp_path, engine)

    def interrupt(step: str) -> None:
        if step == "reloading":
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt) as caught:
        apply_proxy(driver, files(engine, address="10.0.0.9"), step=interrupt)
    assert any(old in note for note in caught.value.__notes__)
    assert read_status(driver, files(engine), None).state == "in sync"


@pytest.mark.parametrize("engine", ENGINES)
def test_an_unexpected_error_rolls_back_too(engine: str, tmp_path: Path) -> None:
    driver, _, old = started(tmp_path, engine)

    def crash(step: str) -> None:
        if step == "activated":
            raise OSError(5, "Input/output error")
    with pytest.raises(ApplyError) as caught:
        apply_proxy(driver, files(engine, address="10.0.0.9"), step=crash)
    assert caught.value.rolled_back and "OSError" in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)
    assert driver.store.active_release() == old


@pytest.mark.parametrize("engine", ENGINES)
def test_a_stale_pid_file_is_not_a_running_proxy(engine: str, tmp_path: Path) -> None:
    """Defect 2: after a reboot the pid file names an unrelated process."""
    driver, host = fake_driver(tmp_path, engine)
    stranger = host._add(1, "sleep 1000", "/")
    pid_file = driver.store.state_dir / "run" / f"{engine}.pid"
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{stranger}\n")
    assert not driver.control.observe().running
    assert apply_proxy(driver, files(engine)).outcome == "started"
    driver.control.stop()
    assert stranger in host.processes() and f"signal SIGQUIT {stranger}" not in host.events


def test_a_master_that_does_not_answer_is_an_error_not_a_stopped_proxy(tmp_path: Path) -> None:
    """Defect 4: never start a second HAProxy master while ours lives."""
    driver, host, old = started(tmp_path, "haproxy")
    host.faults.add("hang")
    seen = driver.control.observe(patience=0.2)
    assert seen.running and seen.problem and "does not answer" in seen.problem
    launches = host.events.count("launch haproxy")
    with pytest.raises(ApplyError) as caught:
        apply_proxy(driver, files("haproxy", address="10.0.0.9"))
    assert "nothing changed" in caught.value.message and host.events.count("launch haproxy") == launches
    assert read_status(driver, files("haproxy"), None).state == "problem"
    host.faults.discard("hang")
    assert apply_proxy(driver, files("haproxy", address="10.0.0.9")).outcome == "reloaded"


def test_orphaned_workers_are_reported_and_replaced(tmp_path: Path) -> None:
    """Defect 12: the master died by SIGKILL; its workers still serve the old release without it."""
    driver, host, old = started(tmp_path, "nginx")
    workers = driver.control.observe().workers
    host.kill(driver.control.observe().master)
    seen = driver.control.observe()
    assert not seen.running and seen.orphans == workers
    status = read_status(driver, files("nginx"), None)
    assert status.state == "orphaned" and "2 worker(s)" in status.summary()
    planned = plan_change(driver, files("nginx"))
    assert planned.change.kind == "start" and "orphaned" in planned.change.why
    assert apply_proxy(driver, files("nginx")).outcome == "started"
    assert not set(workers) & set(host.processes()) and not driver.control.observe().orphans


def test_a_damaged_release_is_never_reused(tmp_path: Path) -> None:
    """Defect 9: a half-written or half-deleted release directory of the same id is written again."""
    store = ReleaseStore(tmp_path / "state")
    release = files("nginx")
    rid = store.stage(release)
    (store.releases / rid / "nginx.conf").write_text("half")
    assert store.read(rid) is None
    assert store.stage(release) == rid and store.read(rid) == release
    (store.releases / rid / "nginx.conf").unlink()  # a prune interrupted half-way used to leave this
    assert store.read(rid) is None and store.stage(release) == rid and store.read(rid) == release


def test_a_reload_in_progress_is_not_read_as_serving_nothing(tmp_path: Path) -> None:
    """NGINX's workers changing over (a new worker not yet in its release directory) made a plan read "serving
    nothing", and the apply then refused as "changed since the plan" (seen under load in CI). observe() now
    looks again until the workers settle (bounded), and says "unknown" only if they do not."""
    import threading

    from ctlplane.drivers.nginx import WORKER_TITLE

    driver, host, old = started(tmp_path, "nginx")
    master = driver.control.observe().master
    assert master is not None
    newcomer = host._add(master, WORKER_TITLE, str(driver.store.state_dir))  # forked, not yet in its release dir
    threading.Timer(0.2, lambda: host.procs.pop(newcomer, None)).start()
    assert driver.control.observe().release == old
    assert plan_change(driver, files("nginx")).serving == old
    stuck = host._add(master, WORKER_TITLE, str(driver.store.state_dir))
    assert driver.control.observe().release is None  # still changing after the wait: unknown, not a guess
    host.procs.pop(stuck)


def test_a_release_unreadable_for_longer_than_the_drivers_patience_is_looked_at_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the parallel suite's load a plan or an apply read a running proxy's release as unknown past the
    driver's own one-second settle, and the apply refused as "changed since the plan (serving nothing, ...)".
    A running master whose workers' release cannot be read is looked at again (bounded) before it counts as
    changed; when it stays unreadable the refusal says so instead of "nothing"."""
    import threading

    from ctlplane.drivers.nginx import WORKER_TITLE
    from ctlplane.transaction import ChangedSincePlan

    monkeypatch.setattr("ctlplane.transaction.KNOWN_WAIT", 4.0)
    driver, host, old = started(tmp_path, "nginx")
    master = driver.control.observe().master
    assert master is not None
    slow = host._add(master, WORKER_TITLE, str(driver.store.state_dir))  # unreadable for 2.5 s
    threading.Timer(2.5, lambda: host.procs.pop(slow, None)).start()
    new = files("nginx", address="10.0.0.9")
    assert apply_proxy(driver, new, expect=old).outcome == "reloaded"

    stuck = host._add(master, WORKER_TITLE, str(driver.store.state_dir))
    with pytest.raises(ChangedSincePlan) as caught:
        apply_proxy(driver, files("nginx", address="10.0.0.7"), expect=release_id(new))
    host.procs.pop(stuck)
    assert "serving nothing" not in caught.value.message
    assert "did not report" in caught.value.message and f"master {master}" in caught.value.message
