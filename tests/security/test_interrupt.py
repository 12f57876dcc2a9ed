"""Defect 11: the private staging directories of stage-2 validation (they hold copies of private keys) are
removed also when ctlplane is stopped with SIGTERM in the middle of a config test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import ROOT, example_certs


def test_sigterm_during_validation_removes_the_staging_directories(tmp_path: Path) -> None:
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    slow = fakebin / "nginx"
    slow.write_text("#!/bin/sh\nsleep 2\nexit 0\n")
    slow.chmod(0o755)
    temp = tmp_path / "tmp"
    temp.mkdir()
    example_certs(ROOT / "examples" / "certs")
    env = {**os.environ, "PATH": f"{fakebin}:{os.environ['PATH']}", "TMPDIR": str(temp), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "ctlplane", "validate", str(ROOT / "examples" / "webapp-tls.yaml")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60

    def staged_keys() -> list[Path]:
        return [p for d in temp.glob("ctlplane-check-*") for p in d.rglob("*.key")]
    while not staged_keys():  # the staging directory holds a private key: the config test is under way
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert list(temp.glob("ctlplane-check-*")) == []
