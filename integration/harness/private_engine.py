"""A private Docker engine for one test module: a dockerd of its own, to restart without touching the shared one.

``PrivateEngine.create(session)`` starts ``dockerd`` with everything under one
temporary directory (``--data-root``, ``--exec-root``, ``--pidfile`` and its
UNIX socket; the containerd it starts lives in the exec root), no default
bridge and no iptables rules (``--bridge=none --iptables=false
--ip-masq=false``: the shared engine's rules are left alone), then loads the
run's image into it (the SDK's image save and load, streamed) and creates a
bridge network on an explicit free /24 of ``10.214.0.0/16``: the host reaches
its containers directly, as it reaches the shared engine's test networks.
:meth:`stop` (SIGTERM, as ``systemctl restart docker`` does, or SIGKILL, as a
crash does) and :meth:`start` restart it on the same state. :meth:`remove`
removes its containers and network, stops it and deletes the directory; an
engine left behind by a killed run (its owner pid gone) is swept at the next
creation. Only the Docker SDK talks to an engine; the one command run is
``dockerd`` itself (and ``ip link delete`` for a bridge an engine that could
not stop cleanly left on the host).

A dockerd killed with SIGKILL cannot be restarted on the containerd it started:
the new dockerd finds that containerd "still running" but times out dialling
its socket ("failed to start containerd: timeout waiting for containerd to
start"). Packaged engines run containerd as a service of its own; here the
restart is SIGTERM, as ``systemctl restart docker`` does.
"""

from __future__ import annotations

import ctypes
import ipaddress
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration.harness.network import docker_subnets, free_subnets, host_routes
from integration.harness.session import DockerSession
from integration.harness.stale import owned_dir, processes_using, stop_processes, sweep
from integration.harness.wait import wait_until

POOL = ipaddress.IPv4Network("10.214.0.0/16")
PREFIX = "ctlplane-dockerd-"  # /tmp/ctlplane-dockerd-<owner pid>-XXXX
MNT_DETACH = 2


def _unmount_under(root: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/mounts") as handle:
        points = [line.split()[1] for line in handle if line.split()[1].startswith(str(root) + "/")]
    for point in sorted(points, key=len, reverse=True):
        libc.umount2(point.encode(), MNT_DETACH)


def _destroy(root: Path) -> None:
    """Kill whatever still runs from ``root``, unmount what is mounted below it, delete the host bridge its
    network left (an engine that could not remove it), delete the directory."""
    stop_processes(root, grace=2.0)
    _unmount_under(root)
    bridge = (root / "bridge").read_text().strip() if (root / "bridge").exists() else ""
    if bridge.startswith("br-") and Path("/sys/class/net", bridge).exists():
        subprocess.run(["ip", "link", "delete", bridge], capture_output=True, timeout=10, check=False)
    shutil.rmtree(root, ignore_errors=True)


def sweep_stale() -> None:
    """Private engines of runs whose process is gone (killed before their cleanup)."""
    sweep(PREFIX, _destroy)


@dataclass
class PrivateEngine:
    root: Path
    session: DockerSession
    process: subprocess.Popen[bytes] | None = None
    client: Any = None
    network: Any = None
    subnet: ipaddress.IPv4Network | None = None
    starts: list[float] = field(default_factory=list)  # seconds each start took

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        """What DOCKER_HOST is set to."""
        return f"unix://{self.socket}"

    @property
    def log_path(self) -> Path:
        return self.root / "dockerd.log"

    def log(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    @classmethod
    def create(cls, session: DockerSession) -> PrivateEngine:
        sweep_stale()
        engine = cls(owned_dir(PREFIX), session)
        try:
            engine.start()
            engine.load_image()
            engine.create_network()
        except BaseException:
            engine.remove()
            raise
        return engine

    def start(self, timeout: float = 90.0) -> None:
        import docker

        started = time.monotonic()
        argv = [shutil.which("dockerd") or "/usr/sbin/dockerd", "--data-root", str(self.root / "data"),
                "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "docker.pid"),
                "-H", self.url, "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip6tables=false"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        self.client = None

        def answers() -> bool:
            assert self.process is not None and self.process.poll() is None, f"dockerd exited:\n{self.log()}"
            if self.client is None:  # the SDK asks the API version as it connects
                self.client = docker.DockerClient(base_url=self.url, timeout=60)
            return bool(self.client.ping())

        try:
            wait_until(answers, timeout=timeout, interval=0.2, what="the private dockerd answering")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\ndockerd log:\n{self.log()}") from None
        self.starts.append(time.monotonic() - started)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60.0) -> None:
        """Stop dockerd with ``sig`` and wait for it to exit (SIGTERM stops its containers first; SIGKILL leaves
        them and its containerd running, as a crash would)."""
        proc = self.process
        if self.client is not None:
            self.client.close()
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def restart(self, sig: signal.Signals = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()
        if self.network is not None:
            self.network = self.client.networks.get(self.network.id)

    def load_image(self) -> None:
        """The run's image, saved from the shared engine and loaded here (streamed, tag kept)."""
        image = self.session.client.images.get(self.session.image)
        for _ in self.client.api.load_image(image.save(named=self.session.image), quiet=True):
            pass
        self.client.images.get(self.session.image)

    def create_network(self) -> None:
        import docker

        used = docker_subnets(self.session.client) + docker_subnets(self.client) + host_routes()
        for subnet in list(free_subnets(used, pool=POOL))[:20]:
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
                subnet=str(subnet), gateway=str(subnet.network_address + 1))])
            try:
                self.network = self.client.networks.create(self.session.name("private"), driver="bridge", ipam=ipam,
                                                           labels=self.session.labels)
            except docker.errors.APIError:
                continue  # a route or network that appeared meanwhile
            self.subnet = subnet
            (self.root / "bridge").write_text(f"br-{self.network.id[:12]}\n")  # for _destroy
            return
        raise RuntimeError(f"no free /24 in {POOL} for the private engine's network")

    def remove(self) -> None:
        """Its containers and network, then the engine and its directory (tolerates an engine already down)."""
        try:
            if self.client is not None and self.process is not None and self.process.poll() is None:
                for container in self.client.containers.list(all=True):
                    container.remove(force=True)
                if self.network is not None:
                    self.network.remove()
        except Exception:  # noqa: BLE001, S110 - the engine is in a bad state: the directory goes anyway
            pass
        finally:
            self.stop(signal.SIGTERM, timeout=30)
            deadline = time.monotonic() + 30  # its containerd exits once dockerd did
            while processes_using(self.root) and time.monotonic() < deadline:
                time.sleep(0.2)
            _destroy(self.root)
