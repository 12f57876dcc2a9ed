"""HA pairs in a lab: a two-node model, who holds a virtual IP, node failures, steady traffic.

``HaPair.deploy(deployer, lab, engine, mode=...)`` applies a model with two
proxies ``lb1``/``lb2`` (the lab's echo backends behind them, admin on
8404) and one pair ``edge``: nodes at fixed addresses ``.101``/``.102`` of
the lab subnet (ctlplane's driver creates pair containers at their node's
address), VIPs ``.120`` (owner lb1) and, active-active, ``.121`` (owner
lb2) — both outside Docker's dynamic range ``.128/25`` and the harness's
fixed ``.10``-``.99``. ``holder(vip)`` asks the kernels (``ip -o addr`` in
each node's container), ``kill``/``freeze`` break a node, and
:class:`Steady` runs ``steady.py`` (rate-limited traffic with timestamps)
in a client container on a background thread, so a test can break things
while traffic flows and then count failures and measure the gap.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from integration.harness.containers import HARNESS_MOUNT, Client
from integration.harness.deploy import Deployer, Deployment
from integration.harness.lab import Lab
from integration.harness.wait import wait_until

STEADY_SCRIPT = f"{HARNESS_MOUNT}/steady.py"
MAX_DURATION = 40.0
MAX_RATE = 200.0
ADMIN_PORT = 8404
NODE_HOSTS = {"lb1": 101, "lb2": 102}
VIP_HOSTS = (120, 121)


@dataclass
class HaPair:
    """Two deployed pair members and the model that made them."""

    deployer: Deployer
    lab: Lab
    model: dict[str, Any]
    nodes: dict[str, Deployment]
    vips: list[str]  # addresses without prefix, in model order (vips[0] owned by lb1)

    @classmethod
    def deploy(cls, deployer: Deployer, lab: Lab, engine: str, *, mode: str = "active_passive",
               **pair_fields: Any) -> HaPair:
        """Apply the two-node model and wait until every VIP has a holder."""
        subnet = lab.net.subnet
        host = lambda n: str(subnet.network_address + n)  # noqa: E731
        vips = [host(n) for n in VIP_HOSTS[: 2 if mode == "active_active" else 1]]
        owners = ["lb1", "lb2"]
        pair = {"name": "edge", "mode": mode, "advert_interval": "1s",
                "nodes": [{"proxy": name, "interface": "eth0", "address": host(NODE_HOSTS[name])} for name in owners],
                "virtual_ips": [{"address": f"{vip}/{subnet.prefixlen}", "router_id": 51 + i, "owner": owners[i]}
                                for i, vip in enumerate(vips)],
                **pair_fields}
        proxies = [{"name": name, "engine": engine, "runtime": deployer.runtime(name), "services": ["web"],
                    "workers": 1, "admin": {"port": ADMIN_PORT}} for name in owners]
        model = {"version": 1, "pools": [{"name": "app", "servers": lab.servers()}],
                 "services": [{"name": "web", "mode": "http", "listen": {"port": 80}, "default_pool": "app"}],
                 "proxies": proxies, "pairs": [pair]}
        found = deployer.apply_model(model)
        ha = cls(deployer, lab, model, {d.proxy: d for d in found}, vips)
        for i, vip in enumerate(vips):  # with preemption the owner ends up with it (the peer may hold it first)
            want = owners[i] if pair.get("preempt", True) else None
            wait_until(lambda v=vip, w=want: ha.holder(v) == w if w else ha.holder(v), timeout=15,
                       what=f"{want or 'a node'} holding {vip}")
        return ha

    @property
    def model_path(self) -> Any:
        return self.nodes["lb1"].model_path

    def apply(self, **changes: Any) -> list[Any]:
        """Apply the model again (with top-level keys replaced): ctlplane's rolling apply."""
        self.model = {**self.model, **changes}
        results = self.deployer.apply_file(self.model_path, self.model)
        for node in self.nodes.values():
            node.model, node.results = self.model, results
        return results

    def addresses(self, node: str) -> set[str]:
        """The IPv4 addresses on the node's eth0 now (empty when its container is not running)."""
        try:
            container = self.nodes[node].container
            if container.status != "running":
                container.reload()
            if container.status != "running":
                return set()
            out = container.exec_run(["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).output.decode()
        except Exception:  # noqa: BLE001 - container gone
            return set()
        return {line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3}

    def holder(self, vip: str) -> str | None:
        """The one node whose kernel carries ``vip`` (AssertionError if both do: split brain)."""
        holders = [name for name in self.nodes if vip in self.addresses(name)]
        assert len(holders) <= 1, f"{vip} is held by both nodes: {holders}"
        return holders[0] if holders else None

    def wait_holder(self, vip: str, node: str, timeout: float = 15.0) -> float:
        """Wait until ``node`` holds ``vip``; return the time.time() it was first seen there."""
        wait_until(lambda: vip in self.addresses(node), timeout=timeout, interval=0.02, what=f"{node} holds {vip}")
        return time.time()

    def kill(self, node: str) -> float:
        """SIGKILL the node's container (the node dies: proxy, keepalived and its network namespace)."""
        at = time.time()
        self.nodes[node].container.kill()
        return at

    def freeze(self, node: str) -> float:
        """SIGSTOP every proxy process of the node (it stops serving) while keepalived keeps running."""
        container = self.nodes[node].container
        engine = self.nodes[node].engine
        at = time.time()
        result = container.exec_run(["sh", "-c", f"kill -STOP $(pgrep -x {engine})"])
        assert result.exit_code == 0, result.output
        return at

    def vrrp_log(self, node: str) -> str:
        path = self.nodes[node].state_dir / "logs" / "keepalived.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class SteadyResult:
    """Timestamped results of one steady run."""

    results: list[tuple[int, int, float, float, int, str]]
    unsent: int

    def failures(self) -> list[tuple[int, int, float, float, int, str]]:
        return [r for r in self.results if r[4] < 0]

    def ok(self, target: int | None = None) -> list[tuple[int, int, float, float, int, str]]:
        return [r for r in self.results if r[4] == 200 and (target is None or r[1] == target)]

    def longest_gap(self, target: int | None = None) -> tuple[float, float]:
        """(start, seconds) of the longest time without a successful answer: the outage clients saw."""
        ends = sorted(r[3] for r in self.ok(target))
        if len(ends) < 2:
            return 0.0, float("inf")
        gap, start = max((b - a, a) for a, b in zip(ends, ends[1:], strict=False))
        return start, gap

    def sent_between(self, start: float, end: float) -> int:
        return sum(1 for r in self.results if start <= r[2] < end)

    def timeline(self, at: float, step: float = 0.25) -> str:
        """Per ``step`` seconds from ``at``: requests sent, answered, failed (and why), for failure reports."""
        rows: dict[int, list[int]] = {}
        reasons: dict[str, int] = {}
        for r in self.results:
            row = rows.setdefault(int((r[2] - at) // step), [0, 0, 0])
            row[0] += 1
            row[1 if r[4] == 200 else 2] += 1
            if r[4] < 0:
                reason = r[5].split(":")[0]
                reasons[reason] = reasons.get(reason, 0) + 1
        lines = [f"{k * step:+6.2f}s sent {v[0]:3} ok {v[1]:3} failed {v[2]:3}" for k, v in sorted(rows.items())]
        return "\n".join([*lines, f"failures: {reasons}"])

    def summary(self) -> str:
        statuses: dict[int, int] = {}
        for r in self.results:
            statuses[r[4]] = statuses.get(r[4], 0) + 1
        return (f"{len(self.results)} requests, unsent {self.unsent}, statuses {statuses}, "
                f"first failures {[r[5] for r in self.failures()[:3]]}")


@dataclass
class Steady:
    """Steady traffic from ``client`` to ``targets`` on a background thread (start, then ``result()``)."""

    client: Client
    targets: list[str]
    rate: float = 50.0
    duration: float = 15.0
    concurrency: int = 8
    timeout: float = 2.0
    keepalive: bool = False
    _thread: threading.Thread | None = None
    _out: dict[str, Any] = field(default_factory=dict)

    def start(self, lead: float = 1.0) -> Steady:
        """Start, and return once the traffic has flowed ``lead`` seconds (the baseline before a test breaks
        something)."""
        if not (0 < self.rate <= MAX_RATE and 0 < self.duration <= MAX_DURATION):
            raise ValueError(f"steady traffic must be bounded: rate <= {MAX_RATE}/s, duration <= {MAX_DURATION}s")
        spec = {"targets": self.targets, "rate": self.rate, "duration": self.duration, "path": "/",
                "concurrency": self.concurrency, "timeout": self.timeout, "keepalive": self.keepalive}

        def run() -> None:
            try:
                self._out["exec"] = self.client.container.exec_run(["python3", STEADY_SCRIPT, json.dumps(spec)],
                                                                   demux=True)
            except Exception as exc:  # noqa: BLE001 - reported by result()
                self._out["error"] = exc

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        wait_until(lambda: self.started(), timeout=5, what="steady traffic started")
        time.sleep(lead)  # a fixed stretch of normal traffic, not a wait for a condition
        return self

    def started(self) -> bool:
        top = self.client.container.top()
        return any("steady.py" in " ".join(row) for row in top.get("Processes") or [])

    def result(self) -> SteadyResult:
        assert self._thread is not None, "start() first"
        self._thread.join(self.duration + 4 * self.timeout + 30)
        if "error" in self._out:
            raise self._out["error"]
        result = self._out["exec"]
        out, err = (result.output[0] or b""), (result.output[1] or b"")
        if result.exit_code != 0:
            raise RuntimeError(f"steady.py failed ({result.exit_code}): {err.decode(errors='replace')[-2000:]}")
        data = json.loads(out)
        rows = [(int(i), int(t), float(s), float(e), int(st), str(srv)) for i, t, s, e, st, srv in data["results"]]
        return SteadyResult(rows, int(data["unsent"]))
