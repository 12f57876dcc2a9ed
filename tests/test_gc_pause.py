"""The cyclic collector is paused while a model loads or renders, and restored as it was."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from ctlplane.gc_pause import paused_gc
from ctlplane.model.load import load_bytes
from ctlplane.render import render_all

MINIMAL = Path(__file__).resolve().parent / "model" / "valid" / "minimal.yaml"


def test_a_step_runs_without_the_collector_and_restores_it_also_on_errors() -> None:
    seen: list[bool] = []

    @paused_gc
    def inner() -> None:
        seen.append(gc.isenabled())

    @paused_gc
    def outer(fail: bool) -> None:
        inner()
        seen.append(gc.isenabled())  # the inner step ending does not turn it back on
        if fail:
            raise RuntimeError("step failed")

    assert gc.isenabled()
    outer(False)
    with pytest.raises(RuntimeError):
        outer(True)
    assert seen == [False, False, False, False] and gc.isenabled()
    gc.disable()
    try:
        outer(False)
        assert not gc.isenabled(), "a collector someone else turned off stays off"
    finally:
        gc.enable()


def test_loading_and_rendering_are_paused_steps() -> None:
    assert getattr(load_bytes, "__wrapped__", None) is not None
    assert getattr(render_all, "__wrapped__", None) is not None
    assert gc.isenabled()


def test_a_cli_command_runs_paused_and_long_running_ones_resume(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Start-up's imports run without the collector; ``watch`` (and the fleet agent and rollouts) turn it back
    on before their loop, and the CLI restores it as it was when the command ends."""
    import sys

    import ctlplane.apply  # binds the real build() at import: imported while it is patched, it would keep the fake
    import ctlplane.watch_loop
    from ctlplane.cli import main
    from ctlplane.errors import ModelError

    seen: dict[str, bool] = {}

    def run_watch(*args: object, **kwargs: object) -> None:
        seen["watch loop"] = gc.isenabled()

    def build(*args: object, **kwargs: object) -> None:
        seen["build"] = gc.isenabled()
        raise ModelError("seen enough", [])

    monkeypatch.setattr(ctlplane.watch_loop, "run_watch", run_watch)
    for argv in (["validate", str(MINIMAL), "--no-binaries"], ["watch", str(MINIMAL)]):
        monkeypatch.setattr(sys, "argv", ["ctlplane", *argv])
        monkeypatch.setattr("ctlplane.pipeline.build", build)
        with pytest.raises(SystemExit):
            main()
        assert gc.isenabled()
    assert seen == {"build": False, "watch loop": True}


def test_the_cli_process_freezes_what_lives_before_its_last_collection() -> None:
    """The interpreter collects once more at exit even with the collector off; the CLI freezes first, so that
    collection does not walk every object only to free them with the process."""
    import subprocess
    import sys

    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: print('FROZEN', gc.get_freeze_count() > 0))  # runs last (registered first)\n"
            f"sys.argv = ['ctlplane', 'validate', {str(MINIMAL)!r}, '--no-binaries']\n"
            "from ctlplane.cli import main\nmain()\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0 and "is valid" in run.stdout and "FROZEN True" in run.stdout, run.stdout + run.stderr


def test_planning_and_applying_run_without_the_collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A watch cycle (and the fleet agent's applies) run with the collector on between cycles; the plan and the
    transaction still rest it, as loading and rendering do, and restore it afterwards."""
    from ctlplane.apply import apply_model
    from ctlplane.drivers.control import Observation
    from tests.apply.fakes import fake_driver

    driver, _ = fake_driver(tmp_path, engine="nginx", name="lb")
    looks: list[bool] = []
    observe = driver.control.observe

    def looking(*args: Any, **kwargs: Any) -> Observation:
        looks.append(gc.isenabled())
        return observe(*args, **kwargs)

    monkeypatch.setattr(driver.control, "observe", looking)
    assert gc.isenabled()
    results = apply_model(MINIMAL, driver=lambda loaded, name: driver, strict_binaries=False)
    assert [r.outcome for r in results] == ["started"]
    assert looks and not any(looks)  # the plan's look and the transaction's looks
    assert gc.isenabled()
