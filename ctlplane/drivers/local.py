"""This machine as a Host: processes from /proc, signals with ``kill``, daemons started
detached in their own session (they outlive ctlplane, and the watcher reaps the ones
that die while it runs), UNIX sockets and HTTP reached directly (never through an
``http_proxy``).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from ctlplane.drivers import haproxy_api, process, procfs
from ctlplane.drivers.host import LocalFiles, Proc
from ctlplane.errors import DriverError, Finding


class LocalHost(LocalFiles):
    """The machine ctlplane runs on."""

    label = "this host"

    @property
    def vrrp_capable(self) -> bool:
        return os.geteuid() == 0

    def launch(self, argv: Sequence[str], *, cwd: Path, log: Path) -> None:
        process.spawn(list(argv), cwd=cwd, log_path=log)

    def spawn(self, argv: Sequence[str], *, cwd: Path, log: Path, env: Mapping[str, str] | None = None) -> None:
        process.spawn(list(argv), cwd=cwd, log_path=log, env=env)

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> process.Completed:
        return process.run(list(argv), timeout=timeout)

    def processes(self) -> dict[int, Proc]:
        process.reap()  # daemons we started that died while we run: no zombies in a long-running watcher
        return procfs.processes()

    def signal(self, pid: int, signum: int) -> bool:
        process.reap()
        found = procfs.read_proc(pid)
        if found is None or found.dead:  # a zombie is gone too
            return False
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return False
        return True

    def available(self) -> bool:
        return True

    def retire(self, timeout: float) -> None:
        process.reap()

    def http_get(self, url: str, timeout: float = 2.0) -> tuple[int, str]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(url, timeout=timeout) as response:  # noqa: S310 - the proxy's own listener
                return int(response.status), response.read(65536).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read(65536).decode("utf-8", "replace")
        except (OSError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise DriverError(f"GET {url} failed", [Finding(f"GET {url}: {reason}", source="driver")]) from exc

    def request(self, socket: Path, command: str, timeout: float = 5.0) -> str:
        return haproxy_api.send(socket, command, timeout)
