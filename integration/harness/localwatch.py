"""``ctlplane watch`` as a user runs it, against a local proxy, with the engine ``DOCKER_HOST`` names.

For the discovery tests whose engine is not the harness's own: through a socket
proxy (``tcp://127.0.0.1:PORT``) or a private dockerd (``unix:///tmp/...``).
ctlplane's docker runtime needs the full API for its own proxy container, so the
proxy here is local (an NGINX or HAProxy process on this host, listening on
127.0.0.1) and only discovery talks to the engine under test.

``local_model(engine, port, pool, state)`` is a model with one local proxy
``lb``; :class:`CliWatch` runs ``python -m ctlplane watch`` in a subprocess with
the given environment (output in a log file for failure reports) and, on exit,
stops the watcher (SIGTERM, bounded) and then the proxy it started (proxies
outlive the watcher by design). ``served(url)`` is who answered one request
(the echo backend's name), or None. The watcher dies with the test process;
proxies of a killed run are stopped by the next run (``stale.sweep``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from integration.harness.stale import owned_dir, sweep
from integration.harness.wait import wait_until

STATE_PREFIX = "ctlplane-itest-"
ROOT = Path(__file__).resolve().parents[2]


def need_local(binary: str) -> str:
    """The path of a proxy binary on this host; a missing one fails the test in CI (CI=true), skips it elsewhere."""
    import pytest

    path = shutil.which(binary) or next((p for p in (f"/usr/sbin/{binary}",) if Path(p).exists()), None)
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{binary} is not installed (CI must install it)", pytrace=False)
        pytest.skip(f"{binary} is not installed")
    return path


def state_dir() -> Path:
    """A directory for a local proxy's state that its unprivileged NGINX workers can traverse (pytest's tmp
    dirs are 0700); removed by :meth:`CliWatch.__exit__`. Those of a killed run (proxies still running from
    them) are stopped and removed first."""
    sweep(STATE_PREFIX)
    path = owned_dir(STATE_PREFIX)
    path.chmod(0o711)  # noqa: S103 - NGINX workers (nobody) reach releases/<id> below it
    return path


def local_model(engine: str, port: int, pool: dict[str, Any], state: Path) -> dict[str, Any]:
    """One HTTP service on 127.0.0.1:``port`` in front of ``pool``, served by a local ``engine`` proxy."""
    service = {"name": "web", "mode": "http", "listen": {"address": "127.0.0.1", "port": port},
               "default_pool": pool["name"]}
    proxy = {"name": "lb", "engine": engine, "services": ["web"], "workers": 1,
             "runtime": {"kind": "local", "state_dir": str(state / "lb")}}
    return {"version": 1, "pools": [pool], "services": [service], "proxies": [proxy],
            "files": {"allowed_bases": [str(state)]}}


def served(url: str, timeout: float = 3.0) -> str | None:
    """The name of the backend that answered one request (a new connection), or None (no answer, not 200)."""
    try:
        response = httpx.get(url, timeout=timeout, headers={"Connection": "close"})
    except httpx.HTTPError:
        return None
    return response.headers.get("X-Server") if response.status_code == 200 else None


def answers(url: str, count: int = 20) -> set[str | None]:
    """Who answered ``count`` requests (None for a failed one); bounded by count and each request's timeout."""
    return {served(url) for _ in range(count)}


def _stop_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies (a killed run leaves no watcher)."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class CliWatch:
    """``ctlplane watch MODEL`` in a subprocess with ``env`` added to this process's environment."""

    def __init__(self, model: dict[str, Any], directory: Path, env: dict[str, str], state: Path) -> None:
        self.model_path = directory / "model.yaml"
        self.model_path.write_text(json.dumps(model, indent=2) + "\n")
        self.state = state
        self.log_path = directory / "watch.log"
        self.env = {**os.environ, **env, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.state / "lb" / "config"

    def rendered(self) -> str:
        """The config the proxy loads now (empty before the first apply)."""
        files = sorted(self.config.glob("*.cfg")) + sorted(self.config.glob("*.conf")) if self.config.is_dir() else []
        return "\n".join(p.read_text(errors="replace") for p in files)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> CliWatch:
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ctlplane", "watch", str(self.model_path), "--reconcile", "0"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_stop_with_parent)
        return self

    def wait_started(self, timeout: float = 60.0) -> None:
        """Until the first apply reported (``lb: started``), failing early when the watcher exited."""
        def started() -> bool:
            assert self.process is not None and self.process.poll() is None, f"watch exited:\n{self.log()}"
            log = self.log()
            assert "error:" not in log, "the first apply failed"
            return "lb: started" in log or "lb: unchanged" in log

        try:
            wait_until(started, timeout=timeout, what="the watcher's first apply")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nwatch log:\n{self.log()[-3000:]}") from None

    def __exit__(self, *exc: object) -> None:
        try:
            self._stop_watcher()
        finally:
            self._stop_proxy()

    def _stop_watcher(self) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # the current apply finishes, then it exits 0
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what it started
            proc.wait(10)

    def _stop_proxy(self) -> None:
        from ctlplane.drivers import driver_for
        from ctlplane.model.load import load_file

        try:
            control = driver_for(load_file(self.model_path), "lb").control
            control.stop()
            deadline = time.monotonic() + 15
            while control.observe().running and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            shutil.rmtree(self.state, ignore_errors=True)
