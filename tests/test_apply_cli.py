"""`ctlplane apply` as a person and as a pipeline meet it: the plan first, a
question on a terminal (answering no changes nothing), never a wait without a
terminal, and one summary line per proxy with its duration."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

from ctlplane.model.load import load_file
from ctlplane.state.paths import proxy_dir
from tests.apply.local import free_port
from tests.helpers import ROOT, need_binary


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "model.yaml"
    model.write_text(f"""pools:
  - name: web
    servers: [{{name: a, address: 127.0.0.1, port: {free_port()}}}]
services:
  - {{name: front, mode: http, listen: {{address: 127.0.0.1, port: {free_port()}}}, default_pool: web}}
proxies:
  - {{name: lb, engine: nginx, services: [front], workers: 1}}
""")
    return model


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}  # as a person or a pipeline, not our CI flag
    return {**env, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}


def _down(model: Path) -> None:
    subprocess.run([sys.executable, "-m", "ctlplane", "down", str(model)], env=_env(), capture_output=True,
                   timeout=60)


def test_without_a_terminal_apply_never_waits_and_prints_plan_then_summary(tmp_path: Path) -> None:
    need_binary("nginx")
    model = _model(tmp_path)
    try:
        run = subprocess.run([sys.executable, "-m", "ctlplane", "apply", str(model)], env=_env(), text=True,
                             capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert lines[0] == "lb: start"
        assert lines[1].startswith("lb: started (") and lines[1].endswith(" ms)")
    finally:
        _down(model)


def test_on_a_terminal_apply_asks_and_no_changes_nothing(tmp_path: Path) -> None:
    need_binary("nginx")
    model = _model(tmp_path)
    pid, fd = pty.fork()
    if pid == 0:  # the child: ctlplane on a terminal
        os.execvpe(sys.executable, [sys.executable, "-m", "ctlplane", "apply", str(model)], _env())
    output = b""
    deadline = time.monotonic() + 60
    try:
        while b"Apply these changes?" not in output and time.monotonic() < deadline:
            output += os.read(fd, 1024)
        assert b"lb: start" in output and b"Apply these changes?" in output, output
        os.write(fd, b"n\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 1
        assert not (proxy_dir(load_file(model), "lb") / "config").exists()  # nothing was deployed
    finally:
        os.close(fd)
        _down(model)
