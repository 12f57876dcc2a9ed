"""``ctlplane watch``: the pure debouncer and path filter, the real watch loop
(watchdog on a temp dir) driven with a fake apply — edits, bursts, invalid
saves, rename-into-place, Kubernetes ``..data`` swaps, newly referenced
files, stopping — the CLI (``--once``, SIGINT/SIGTERM in a subprocess, no
watchdog import for ``--help``), and one end-to-end run against a real NGINX.
Every wait is a bounded wait-until; nothing sleeps a fixed time to "let
things settle"."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from ctlplane.apply import ApplyResult
from ctlplane.errors import Finding, ModelError
from ctlplane.watch import JOIN_SETTLE, QUIET, Debouncer, is_editor_temp, relevant, watch_dirs
from ctlplane.watch_loop import Cycle, link_chain, run_watch, watched_paths
from tests.helpers import ROOT, need_binary


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


# ---------------------------------------------------------------- Debouncer


def test_debouncer_waits_for_the_quiet_period() -> None:
    d = Debouncer(quiet=0.2, max_wait=2.0)
    assert not d.pending and not d.due(0.0) and d.deadline() is None
    d.event(10.0)
    assert d.pending and not d.due(10.19)
    d.event(10.1)  # a later event pushes the deadline
    assert d.deadline() == pytest.approx(10.3)
    assert not d.due(10.29) and d.due(10.3)


def test_debouncer_fires_at_max_wait_under_a_continuous_burst() -> None:
    d = Debouncer(quiet=20, max_wait=200)  # the clock counts 10 ms ticks: exact arithmetic
    fired = []
    for now in range(500):  # an event every tick for 5 s: the quiet period never comes
        d.event(now)
        if d.due(now):
            fired.append(now)
            d.reset()
    assert fired == [200, 401]  # every max_wait, counted from each burst's first event


def test_debouncer_resets_after_firing() -> None:
    d = Debouncer(quiet=0.2, max_wait=2.0)
    d.event(0.0)
    assert d.due(0.2)
    d.reset()
    assert not d.pending and not d.due(100.0)
    d.event(50.0)
    assert not d.due(50.1) and d.due(50.2)


def test_a_completed_save_after_a_quiet_spell_is_due_at_once() -> None:
    d = Debouncer(quiet=0.2, max_wait=2.0)
    d.event(10.0)  # modified: the writer may not be done
    assert d.deadline() == pytest.approx(10.2)
    d.event(10.001, final=True)  # closed after writing: the save is complete
    assert d.due(10.001)
    d.reset()
    d.event(10.05, final=True)  # the next save comes right after: part of a stream, coalesced as before
    assert not d.due(10.05) and d.deadline() == pytest.approx(10.25)
    d.reset()
    d.event(20.0, final=True)  # after a quiet spell: at once again
    assert d.due(20.0)


def test_a_stream_of_completed_saves_is_still_coalesced() -> None:
    d = Debouncer(quiet=20, max_wait=200)  # 10 ms ticks
    fired = []
    for now in range(500):  # a save completes every tick for 5 s
        d.event(now, final=True)
        if d.due(now):
            fired.append(now)
            d.reset()
    assert fired == [0, 201, 402]  # the first at once, then every max_wait


def test_members_joining_in_quick_succession_wait_for_the_scale_up_to_settle() -> None:
    """Twenty containers started at once reach Docker's event stream over seconds on a busy engine, with gaps
    longer than the quiet period: the first join applies as fast as ever, the joins that follow it are a storm
    and wait for a longer lull, so the scale-up is two applies, not one per gap."""
    d = Debouncer(quiet=20, max_wait=200, settle=100, settle_max_wait=500, storm_window=200)  # 10 ms ticks
    starts = [90, 159, 176, 227, 238, 276, 288, 306, 322, 338, 340]  # gaps up to 69 ticks, over 2.5 s
    fired = []
    for now in range(1200):
        if now in starts:
            d.event(now, joining=True)
        if d.due(now):
            fired.append(now)
            d.reset()
    assert fired == [110, 440]  # the first join after 20 ticks; the rest 100 ticks after the last


def test_a_join_after_a_calm_spell_and_a_leave_in_a_storm_apply_after_the_quiet_period() -> None:
    d = Debouncer(quiet=20, max_wait=200, settle=100, settle_max_wait=500, storm_window=200)
    d.event(0, joining=True)
    assert d.deadline() == 20  # no storm: the usual quiet period
    d.reset()
    d.event(50, joining=True)  # a storm of joins ...
    assert d.deadline() == 150
    d.event(60)  # ... until a member leaves: never held back
    assert d.deadline() == 80
    d.reset()
    d.event(100, joining=True)  # the burst before held a leave: this join is not part of a storm
    assert d.deadline() == 120
    d.reset()
    d.event(1000, joining=True)  # long after: calm again
    assert d.deadline() == 1020


def test_the_settle_period_is_never_shorter_than_the_quiet_period() -> None:
    d = Debouncer(quiet=300, max_wait=2000, settle=100, settle_max_wait=500, storm_window=200)
    d.event(0, joining=True)
    d.reset()
    d.event(10, joining=True)
    assert d.deadline() == 310  # --quiet-period longer than the settle period: it wins


# ---------------------------------------------------------------- relevant()


MODEL = "/cfg/model.yaml"
WATCHED = {MODEL, "/tls/site.crt", "/tls/site.key"}


@pytest.mark.parametrize("name", [
    ".model.yaml.swp", ".model.yaml.swx", ".model.yaml.swpx", "4913", "model.yaml~", ".#model.yaml",
    "#model.yaml#", "model.yaml.tmp", ".model.yaml.tmp", ".hidden", "other.yaml",
])
def test_relevant_ignores_editor_temp_and_unrelated_files(name: str) -> None:
    assert not relevant(f"/cfg/{name}", WATCHED, MODEL)


@pytest.mark.parametrize("name", [".model.yaml.swp", "4913", "model.yaml~", ".#model.yaml", "#model.yaml#", "x.tmp"])
def test_editor_temp_names(name: str) -> None:
    assert is_editor_temp(name) and not is_editor_temp("model.yaml") and not is_editor_temp("..data")


def test_relevant_accepts_the_model_and_referenced_files() -> None:
    assert relevant(MODEL, WATCHED, MODEL)
    assert relevant("/tls/site.key", WATCHED, MODEL)
    assert relevant("/cfg/.model.yaml", WATCHED | {"/cfg/.model.yaml"}, "/cfg/.model.yaml")  # a real hidden model
    assert relevant("/tls/key.tmp", {MODEL, "/tls/key.tmp"}, MODEL)  # referenced wins over the temp rule


def test_relevant_accepts_kubernetes_swaps_and_directories_on_the_way() -> None:
    assert relevant("/cfg/..data", WATCHED, MODEL)  # by convention, even without the link chain
    assert not relevant("/elsewhere/..data", WATCHED, MODEL)
    assert relevant("/tls", WATCHED, MODEL)  # a certificate directory moved into place
    assert relevant("/etc/current", {MODEL, "/etc/current", "/etc/v2/site.crt"}, MODEL)  # a link in the chain
    assert not relevant("/cfg/..2024_01_01", WATCHED, MODEL)  # the timestamped dir itself is not
    assert watch_dirs(WATCHED) == {"/cfg", "/tls"}


def kubernetes_volume(directory: Path, version: str, files: dict[str, str]) -> None:
    """Write ``files`` the way the kubelet does: a new timestamped dir, then swap the ``..data`` link."""
    directory.mkdir(exist_ok=True)
    (directory / version).mkdir()
    for name, text in files.items():
        (directory / version / name).write_text(text)
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(f"..data/{name}")
    (directory / "..data_tmp").symlink_to(version)
    os.replace(directory / "..data_tmp", directory / "..data")


def test_link_chain_follows_kubernetes_layout(tmp_path: Path) -> None:
    kubernetes_volume(tmp_path, "..v1", {"model.yaml": "x"})
    model = str(tmp_path / "model.yaml")
    assert link_chain(model) == [model, str(tmp_path / "..data"), str(tmp_path / "..v1" / "model.yaml")]
    assert watch_dirs(watched_paths(model, [])) == {str(tmp_path), str(tmp_path / "..v1")}
    assert link_chain(str(tmp_path / "plain")) == [str(tmp_path / "plain")]


# ---------------------------------------------------------------- the loop with a fake apply


@dataclass
class FakeApply:
    """Records each call (time, model text); raises ModelError for a model containing ``bad``."""

    work: float = 0.02  # simulated apply duration, to expose any overlap
    calls: list[tuple[float, str]] = field(default_factory=list)
    active: int = 0
    max_active: int = 0

    def __call__(self, path: str) -> list[ApplyResult]:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            text = read_model(path)
            self.calls.append((time.monotonic(), text))
            time.sleep(self.work)
            return [ApplyResult("lb", "reloaded", self.work, "r1")]
        finally:
            self.active -= 1

    def texts(self) -> list[str]:
        return [text for _, text in self.calls]


def read_model(path: str) -> str:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ModelError("cannot read model", [Finding(str(exc), file=path)]) from None
    for number, line in enumerate(text.splitlines(), 1):
        if "bad" in line:
            raise ModelError("invalid model", [Finding("not a valid value", file=path, line=number,
                                                       column=line.index("bad") + 1)])
    return text


def fake_referenced(path: str) -> list[str]:
    """``ref: FILE`` lines name referenced files (relative to the model's directory)."""
    base = Path(path).resolve().parent
    return [str(base / line[5:].strip()) for line in read_model(path).splitlines() if line.startswith("ref: ")]


@dataclass
class Run:
    stop: threading.Event
    thread: threading.Thread
    cycles: list[Cycle]
    crashed: list[BaseException]

    def wait_cycles(self, count: int, timeout: float = 5.0) -> list[Cycle]:
        wait_until(lambda: len(self.cycles) >= count or self.crashed, timeout, f"{count} cycle(s)")
        assert not self.crashed, self.crashed
        return self.cycles

    def halt(self, timeout: float = 2.0) -> float:
        started = time.monotonic()
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the watch loop did not stop"
        return time.monotonic() - started


@contextmanager
def watching(model: Path, **options: Any) -> Iterator[Run]:
    run = Run(threading.Event(), threading.Thread(), [], [])

    def target() -> None:
        try:
            run_watch(str(model), stop=run.stop, report=run.cycles.append, **options)
        except BaseException as exc:  # noqa: BLE001 - surfaced by wait_cycles / the end of the block
            run.crashed.append(exc)

    run.thread = threading.Thread(target=target, name="watch-under-test", daemon=True)
    run.thread.start()
    try:
        yield run
    finally:
        run.halt()
    assert not run.crashed, run.crashed


@pytest.fixture
def fake() -> Iterator[FakeApply]:
    apply = FakeApply()
    yield apply
    assert apply.max_active == 1, "two applies ran at once"


def start(model: Path, fake: FakeApply, **options: Any) -> Any:
    options.setdefault("referenced", fake_referenced)
    return watching(model, apply=fake, **options)


def test_applies_once_at_start_then_on_an_edit(tmp_path: Path, fake: FakeApply) -> None:
    model = tmp_path / "model.yaml"
    model.write_text("v: 1\n")
    with start(model, fake) as run:
        first = run.wait_cycles(1)[0]
        assert first.trigger == "start" and first.error is None and first.watching == (str(tmp_path),)
        written = time.monotonic()
        model.write_text("v: 2\n")
        run.wait_cycles(2)
        latency = fake.calls[1][0] - written
    assert fake.texts() == ["v: 1\n", "v: 2\n"]
    assert run.cycles[1].trigger == str(model)
    print(f"edit-to-apply latency: {latency * 1000:.0f} ms")  # quiet period (200 ms) plus a few ms


def test_a_burst_of_edits_gives_few_applies(tmp_path: Path, fake: FakeApply) -> None:
    model = tmp_path / "model.yaml"
    model.write_text("v: 0\n")
    with start(model, fake, max_wait=2.0) as run:
        run.wait_cycles(1)
        saved = []
        for i in range(1, 201):  # 200 saves, one every 10 ms: a 2 s burst with no quiet period inside
            model.write_text(f"v: {i}\n")
            saved.append(time.monotonic())
            time.sleep(0.01)  # pacing the burst, not waiting for anything
        burst = saved[-1] - saved[0]
        wait_until(lambda: fake.texts()[-1] == "v: 200\n", 5.0, "the last save to be applied")
    applies = len(fake.calls) - 1
    # The save that begins the burst applies at once; then one apply when max_wait (2 s) expires inside the
    # burst, one after the quiet period that ends it: 3 on an idle machine. On a loaded one, the writer or
    # watchdog's observer thread can stall for longer than the quiet period (0.2 s), and each such stall
    # begins a new burst whose first save applies at once again; the bound stays small all the same.
    pauses = sum(b - a >= 0.2 for a, b in zip(saved, saved[1:], strict=False))
    print(f"200 saves in {burst:.2f} s ({pauses} writer pauses >= 0.2 s): {applies} applies")
    assert 1 <= applies <= 8 + pauses, (applies, burst, pauses)


def test_an_invalid_save_is_reported_and_the_next_good_save_applied(tmp_path: Path, fake: FakeApply) -> None:
    model = tmp_path / "model.yaml"
    model.write_text("v: 1\n")
    with start(model, fake) as run:
        run.wait_cycles(1)
        model.write_text("v: 2\nw: bad\n")  # also what a half-written save looks like to the loader
        bad = run.wait_cycles(2)[1]
        assert bad.results == () and bad.error is not None
        assert [f.one_line() for f in bad.error.findings] == [f"{model}:2:4: not a valid value"]
        assert run.thread.is_alive()
        model.write_text("v: 3\n")
        good = run.wait_cycles(3)[2]
    assert good.error is None and [r.proxy for r in good.results] == ["lb"]
    assert fake.texts() == ["v: 1\n", "v: 3\n"]  # the bad one never got past loading


def test_rename_into_place_triggers_and_temp_files_do_not(tmp_path: Path, fake: FakeApply) -> None:
    model = tmp_path / "model.yaml"
    model.write_text("v: 1\n")
    with start(model, fake) as run:
        run.wait_cycles(1)
        for junk in (".model.yaml.swp", "4913", "model.yaml~", ".#model.yaml", "#model.yaml#", "x.tmp"):
            (tmp_path / junk).write_text("junk")
        tmp = tmp_path / ".model.yaml.tmp123"  # an atomic writer: write beside, then rename onto the model
        tmp.write_text("v: 2\n")
        os.replace(tmp, model)
        cycle = run.wait_cycles(2)[1]
        # the burst's first relevant path is its trigger: none of the temp files written before counted
        assert cycle.trigger == str(model)
        # vim with backupcopy=no: the original moves to model.yaml~ and a new file takes its name
        os.rename(model, tmp_path / "model.yaml~")
        model.write_text("v: 3\n")
        wait_until(lambda: fake.texts()[-1:] == ["v: 3\n"], 5.0, "the vim-style save")
    assert fake.texts() == ["v: 1\n", "v: 2\n", "v: 3\n"]


def test_kubernetes_symlink_swaps_trigger(tmp_path: Path, fake: FakeApply) -> None:
    config, secret = tmp_path / "config", tmp_path / "secret"
    kubernetes_volume(config, "..v1", {"model.yaml": f"v: 1\nref: {secret}/tls.crt\n"})
    kubernetes_volume(secret, "..s1", {"tls.crt": "cert 1"})
    model = config / "model.yaml"
    with start(model, fake) as run:
        assert set(run.wait_cycles(1)[0].watching) == {str(config), str(config / "..v1"), str(secret),
                                                       str(secret / "..s1")}
        kubernetes_volume(config, "..v2", {"model.yaml": f"v: 2\nref: {secret}/tls.crt\n"})
        wait_until(lambda: fake.texts()[-1:] == [f"v: 2\nref: {secret}/tls.crt\n"], 5.0, "the config swap")
        for old in (config / "..v1" / "model.yaml", config / "..v1"):  # the kubelet then removes the old dir
            old.unlink() if old.is_file() else old.rmdir()
        kubernetes_volume(secret, "..s2", {"tls.crt": "cert 2"})  # a rotated certificate
        wait_until(lambda: len(run.cycles) >= 3 and run.cycles[-1].trigger.startswith(str(secret)), 5.0,
                   "the secret swap")
        kubernetes_volume(config, "..v3", {"model.yaml": f"v: 3\nref: {secret}/tls.crt\n"})  # again, after the rmdir
        wait_until(lambda: fake.texts()[-1:] == [f"v: 3\nref: {secret}/tls.crt\n"], 5.0, "the second config swap")
    assert str(config / "..v1") not in run.cycles[-1].watching


def test_a_newly_referenced_file_becomes_watched(tmp_path: Path, fake: FakeApply) -> None:
    model = tmp_path / "model.yaml"
    model.write_text("v: 1\n")
    certs = tmp_path / "later" / "certs"  # does not exist yet
    with start(model, fake) as run:
        assert run.wait_cycles(1)[0].watching == (str(tmp_path),)
        model.write_text("v: 2\nref: later/certs/site.crt\n")
        second = run.wait_cycles(2)[1]
        assert second.unwatchable == (str(certs),)  # its nearest existing ancestor stands in
        certs.mkdir(parents=True)
        wait_until(lambda: str(certs) in run.cycles[-1].watching, 5.0, "the certificate directory to be watched")
        count = len(run.cycles)
        (certs / "site.crt").write_text("pem")
        cycle = run.wait_cycles(count + 1)[count]
    assert cycle.trigger == str(certs / "site.crt")


def test_a_referenced_directory_deleted_and_recreated_is_watched_again(tmp_path: Path, fake: FakeApply) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "site.crt").write_text("pem 1")
    model = tmp_path / "model.yaml"
    model.write_text("v: 1\nref: certs/site.crt\n")
    with start(model, fake) as run:
        run.wait_cycles(1)
        shutil.rmtree(certs)  # its inotify watch dies with it
        certs.mkdir()
        wait_until(lambda: len(run.cycles) >= 2 and str(certs) in run.cycles[-1].watching, 5.0, "a rescan")
        count = len(run.cycles)
        (certs / "site.crt").write_text("pem 2")
        wait_until(lambda: any(c.trigger == str(certs / "site.crt") for c in run.cycles[count:]), 5.0,
                   "the new certificate to trigger")


def test_stop_ends_the_loop_promptly_and_joins_the_observer(tmp_path: Path, fake: FakeApply) -> None:
    from watchdog.utils import BaseThread

    model = tmp_path / "model.yaml"
    model.write_text("v: 1\n")
    with start(model, fake) as run:
        run.wait_cycles(1)
        assert any(isinstance(t, BaseThread) for t in threading.enumerate())
        took = run.halt()
    assert took < 0.5
    assert not any(isinstance(t, BaseThread) and t.is_alive() for t in threading.enumerate())


class FakeEvents:
    """The watch loop's ``events`` (Docker's, in ``ctlplane watch``): keeps the ``poke`` it is given."""

    poke: Any = None

    def refresh(self, model_path: str, poke: Any) -> None:
        self.poke = poke

    def stop(self) -> None:
        pass


@dataclass
class FakeClock:
    """The loop's clock: moves only when the test moves it, and counts how often the loop read it."""

    now: float = 1000.0
    reads: int = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def test_a_scale_up_is_two_applies_however_far_apart_its_joins_reach_the_loop(tmp_path: Path,
                                                                            fake: FakeApply) -> None:
    model = tmp_path / "model.yaml"
    model.write_text("v: 1\n")
    clock, events = FakeClock(), FakeEvents()
    with start(model, fake, events=events, clock=clock, reconcile=0) as run:
        run.wait_cycles(1)
        events.poke("docker: 'w1' start", joining=True)
        clock.now += QUIET
        assert run.wait_cycles(2)[1].trigger == "docker: 'w1' start"  # the first join: the usual quiet period
        for n, gap in enumerate((0.5, 0.7, 0.9, 0.3), 2):  # every gap longer than the quiet period
            events.poke(f"docker: 'w{n}' start", joining=True)
            clock.now += gap
        seen = clock.reads
        wait_until(lambda: clock.reads >= seen + 6, 5.0, "the loop to look at the clock again (3 ticks)")
        assert len(run.cycles) == 2  # it would have applied by now if the gaps were not waited for
        clock.now += JOIN_SETTLE
        assert run.wait_cycles(3)[2].trigger == "docker: 'w2' start"
        events.poke("docker: 'w1' kill")  # a member leaving, in the storm's wake: never held back
        clock.now += QUIET
        assert run.wait_cycles(4)[3].trigger == "docker: 'w1' kill"
    assert len(fake.calls) == 4


# ---------------------------------------------------------------- CLI


def watch_app() -> typer.Typer:
    from ctlplane.cli.watch_cmd import watch

    app = typer.Typer()
    app.command()(watch)
    return app


def test_once_reports_a_located_error_and_exits_1(tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    model.write_text("pools: []\nservices: [}\n")
    result = CliRunner().invoke(watch_app(), [str(model), "--once"])
    assert result.exit_code == 1
    assert f"error: {model}:2:" in result.output


STANDALONE = "import typer; from ctlplane.cli.watch_cmd import watch; app = typer.Typer(); app.command()(watch); app()"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_stop_the_watcher_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    model = tmp_path / "model.yaml"
    model.write_text("services: [}\n")  # invalid: nothing gets started, the watcher keeps waiting
    proc = subprocess.Popen([sys.executable, "-c", STANDALONE, str(model)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    guard = threading.Timer(30, proc.kill)  # bounds the blocking reads below
    guard.start()
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # returns once the first cycle reported its error
        assert line.startswith(f"error: {model}:1:"), line
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    finally:
        guard.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err
    assert out.splitlines() == [f"watching: {tmp_path}", "watch: stopped"]


def test_help_does_not_import_watchdog() -> None:
    code = ("import sys; from typer.testing import CliRunner; from ctlplane.cli import app; "
            "import ctlplane.cli.watch_cmd; r = CliRunner().invoke(app, ['--help']); "
            "assert r.exit_code == 0, r.output; print(sorted(m for m in sys.modules if m.startswith('watchdog')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------- end to end: a real NGINX


def test_watch_end_to_end_with_a_real_nginx(tmp_path: Path) -> None:
    need_binary("nginx")
    from ctlplane.drivers import driver_for
    from ctlplane.model.load import load_file
    from tests.apply.local import free_port, start_echo, stop_echoes, who
    from tests.apply.test_local import model_text

    def answer() -> str | None:
        try:
            return who(url)
        except httpx.HTTPError:
            return None

    echoes = {name: start_echo(name) for name in ("a1", "b1")}
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    model = tmp_path / "model.yaml"

    def text(default: str) -> str:
        return model_text("nginx", port, {"a": [echoes["a1"]], "b": [echoes["b1"]]}, default)

    model.write_text(text("a"))
    loaded = load_file(model)
    try:
        with watching(model) as run:
            first = run.wait_cycles(1, timeout=30)[0]
            assert first.error is None and [r.outcome for r in first.results] == ["started"], first.error
            assert who(url) == "a1"

            saved = time.monotonic()
            model.write_text(text("b"))
            wait_until(lambda: answer() == "b1", 5.0, "pool b to answer")
            latency = time.monotonic() - saved
            print(f"save-to-new-backend latency with a real nginx reload: {latency * 1000:.0f} ms")

            count = len(run.cycles)  # the cycle that switched to b may still be reporting: look for an error
            model.write_text(text("a").replace("default_pool: a", "default_pool: [a"))  # broken YAML
            wait_until(lambda: any(c.error for c in run.cycles[count:]), 5.0, "the error to be reported")
            bad = next(c for c in run.cycles[count:] if c.error)
            assert bad.error is not None and bad.error.findings[0].line is not None
            assert {who(url) for _ in range(5)} == {"b1"}  # the last good config keeps serving

            model.write_text(text("a"))  # recovers on the next good save
            wait_until(lambda: answer() == "a1", 5.0, "pool a to answer again")
    finally:
        driver_for(loaded, "lb").control.stop()
        stop_echoes(list(echoes.values()))
    assert not driver_for(loaded, "lb").control.observe().running

