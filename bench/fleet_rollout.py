"""Fleet rollout: from ``ctlplane apply`` to every node of a 3-node fleet serving the new release, and the
failed requests per rollout.

The fleet suite's real lab (``integration/fleet/lab.py``: three docker-in-docker Swarm nodes on a test network
with an explicit subnet, the proxy and agent images loaded into them, everything removed afterwards) runs the
suite's HAProxy fleet (``integration/fleet/kit.py``: canary n1, then a wave of n2 and n3, the configured soak per
wave). After one warm-up release (the first start of every proxy container, not counted), each of N releases
changes only the ``X-Release`` response header, so every node hot-reloads once per rollout. Keep-alive load from
this host through every node (``integration/fleet/traffic.py``'s NodeLoad) records each answer's time and
``X-Release``: a node serves the new release from its first answer carrying it. Per rollout: the wall time of the
``ctlplane apply`` subprocess, the time from its start until the canary and until the last node first answered
with the new release, the same with the canary's soak subtracted (the wave after it starts only once the canary
soaked), the apply time with every wave's soak subtracted, and the failed requests (no answer or a 5xx).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import cleanup_on_exit, docs_header, publish, quietly, table  # noqa: E402

HEADING = "## Fleet rollout: ctlplane apply to every node serving"
APPLY_TIMEOUT_S = 240.0  # one rollout, bounded (the wave deadline stops a stuck one long before)
SEEN_TIMEOUT_S = 15.0  # after apply returned: until the load saw the release on every node
MAX_RELEASES = 20
DOC_INTRO = ("A 3-node HAProxy fleet on the fleet suite's real Swarm lab (docker-in-docker nodes on this machine): "
             "per release, the time from starting `ctlplane apply` until every node answers with the new release, "
             "read from keep-alive load through every node (each answer's `X-Release` header), with the canary's "
             "soak subtracted and reported apart, and the failed requests per rollout. Waves: the canary n1, then "
             "n2 and n3 together; each release changes one response header, so every node hot-reloads once.")
DOC_NOTES = ("Where the time goes: `ctlplane apply` builds the release and proves it with the real `haproxy -c` on "
             "the operator's machine, publishes it (a Swarm config), claims the fleet's state record, then per wave "
             "updates the nodes' agent services; Swarm schedules a new agent task on each node, which starts a "
             "Python process that joins and checks the release, applies it with the normal transaction (stage, "
             "`haproxy -c`, hot reload, verify) and soaks. The controller polls the tasks every second and a task "
             "counts as running only once its 1 s healthcheck passed after the soak, so each wave adds about the "
             "soak plus one to two seconds of polling to the apply. The wave after the canary starts only once the "
             "canary soaked: the canary's soak is part of every later node's time, hence the column without it. "
             "The last wave's soak delays only the command's return, not what the nodes serve. Production soaks "
             "are longer (30 s or more); the per-wave overhead is what the other columns show.")


@dataclass(frozen=True)
class Rollout:
    """One measured rollout (seconds from the start of ``ctlplane apply``)."""

    release: str
    apply_s: float
    canary_s: float
    all_s: float
    waves: int
    soak_s: float
    failed: int
    requests: int

    @property
    def all_minus_canary_soak(self) -> float:
        return self.all_s - self.soak_s

    @property
    def apply_minus_soaks(self) -> float:
        return self.apply_s - self.soak_s * self.waves


def first_seen(answers: list, release: str) -> float:  # type: ignore[type-arg]
    return min((a.at for a in answers if a.release == release and a.status == 200), default=float("inf"))


def rollout(lab: object, home: Path, release: str, soak_s: float, deadline_s: float, rate: float) -> Rollout:
    from integration.fleet.kit import PORT, ctl, fleet_model, write_model
    from integration.fleet.traffic import NodeLoad
    from integration.harness.wait import wait_until

    nodes = sorted(lab.nodes, key=lambda n: n.name)  # type: ignore[attr-defined]
    targets = {n.name: f"{n.ip}:{PORT}" for n in nodes}
    path = write_model(home / release, fleet_model(lab, release, soak=f"{soak_s:g}s",  # type: ignore[arg-type]
                                                   deadline=f"{deadline_s:g}s"))
    with NodeLoad(list(targets.values()), rate=rate, limit=APPLY_TIMEOUT_S + 60) as load:
        wait_until(lambda: all(load.answers[t] for t in targets.values()), timeout=15, what="load on every node")
        started = time.time()
        run = ctl("apply", str(path), "--yes", "-o", "json", timeout=APPLY_TIMEOUT_S)
        if run.code != 0:
            raise RuntimeError(f"the rollout of {release} failed: {run}")
        wait_until(lambda: all(load.last_release(t) == release for t in targets.values()), timeout=SEEN_TIMEOUT_S,
                   interval=0.2, what=f"{release} answered by every node")
    result = run.json()
    waves = {n["hostname"]: n["wave"] for n in result["nodes"]}
    canary = next(name for name, wave in waves.items() if wave == 0)
    seen = {name: first_seen(load.answers[t], release) - started for name, t in targets.items()}
    return Rollout(release, run.took, seen[canary], max(seen.values()), len(set(waves.values())), soak_s,
                   len(load.failures()), load.total())


def stats(values: list[float]) -> list[str]:
    return [f"{statistics.median(values):.1f}", f"{min(values):.1f}", f"{max(values):.1f}"]


def report(rows: list[Rollout], header: str, timings: dict[str, float], rate: float) -> str:
    per = [[r.release, f"{r.apply_s:.1f}", f"{r.canary_s:.1f}", f"{r.all_s:.1f}", f"{r.all_minus_canary_soak:.1f}",
            f"{r.apply_minus_soaks:.1f}", f"{r.failed} / {r.requests}"] for r in rows]
    summary = [
        ["`ctlplane apply` wall time", *stats([r.apply_s for r in rows])],
        ["apply to the canary serving", *stats([r.canary_s for r in rows])],
        ["apply to every node serving", *stats([r.all_s for r in rows])],
        ["apply to every node serving, canary soak excluded", *stats([r.all_minus_canary_soak for r in rows])],
        ["`ctlplane apply` wall time, every wave's soak excluded", *stats([r.apply_minus_soaks for r in rows])],
        ["failed requests per rollout", *[f"{v:g}" for v in (statistics.median([r.failed for r in rows]),
                                                            min(r.failed for r in rows), max(r.failed for r in rows))]],
    ]
    soak, waves = rows[0].soak_s, rows[0].waves
    lines = [
        f"- {len(rows)} rollouts after one warm-up; soak {soak:g} s per wave ({waves} waves: {soak * waves:g} s of "
        f"soak in every apply, {soak:g} s of it before the last wave starts); keep-alive load of {rate:g} "
        f"requests/s per node from this host; {sum(r.failed for r in rows)} failed of "
        f"{sum(r.requests for r in rows)} requests in all",
        "- lab start-up (s): " + ", ".join(f"{k} {v:g}" for k, v in timings.items()),
        f"- 1-min load average at the end {os.getloadavg()[0]:.2f} (two shared cores: the three nodes, their "
        "agents and proxies, the controller and the load share them)",
    ]
    return "\n\n".join([
        header,
        table(["", "median s", "min s", "max s"], summary, True),
        "Per rollout (seconds from the start of `ctlplane apply`):",
        table(["release", "apply", "canary serving", "every node serving", "every node, canary soak excluded",
               "apply, soaks excluded", "failed / requests"], per, True),
        "\n".join(lines)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=5,
                        help=f"measured rollouts (default 5, at most {MAX_RELEASES})")
    parser.add_argument("--quick", action="store_true", help="3 rollouts")
    parser.add_argument("--soak", type=float, default=5.0, help="soak per wave in seconds (default 5)")
    parser.add_argument("--deadline", type=float, default=60.0, help="wave deadline in seconds (default 60)")
    parser.add_argument("--rate", type=float, default=25.0, help="requests/s per node (default 25)")
    parser.add_argument("--markdown", action="store_true", help="(the tables are always markdown)")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    count = 3 if args.quick else max(1, min(args.releases, MAX_RELEASES))
    if not 0 <= args.soak < args.deadline:
        parser.error("--soak must be at least 0 and below --deadline")
    from integration.fleet.kit import Backends, ctl, fleet_model, prepare_nodes, sweep, write_model
    from integration.fleet.lab import SwarmLab
    from integration.harness import start_session
    from integration.images.agent import ensure_agent_image
    from integration.images.node import ensure_node_image

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    command = f"python bench/fleet_rollout.py --releases {count} --soak {args.soak:g}"
    header = docs_header(command)
    rows: list[Rollout] = []
    with cleanup_on_exit() as stack, tempfile.TemporaryDirectory(prefix="ctlplane-fleet-bench-") as tmp:
        session = start_session(progress=None)
        stack.callback(quietly(session.cleanup))
        t0 = time.monotonic()
        node_image = ensure_node_image(session.client, progress=say)
        agent_image = ensure_agent_image(session.client, progress=say)
        lab = SwarmLab(session, node_image, images=(session.image, agent_image), progress=say)
        lab.timings["images"] = round(time.monotonic() - t0, 1)
        stack.callback(quietly(lab.remove))
        lab.start()
        prepare_nodes(lab)
        backends = Backends(lab).start()
        stack.callback(quietly(backends.remove))
        stack.callback(quietly(lambda: sweep(lab)))
        home = Path(tmp)
        warm = ctl("apply", str(write_model(home / "warm-up", fleet_model(lab, "warm-up"))), "--yes", "-o", "json",
                   timeout=APPLY_TIMEOUT_S)
        if warm.code != 0:
            raise RuntimeError(f"the warm-up rollout failed: {warm}")
        for k in range(1, count + 1):
            row = rollout(lab, home, f"bench-{k}", args.soak, args.deadline, args.rate)
            say(f"bench-{k}: apply {row.apply_s:.1f}s, canary {row.canary_s:.1f}s, every node {row.all_s:.1f}s, "
                f"failed {row.failed}/{row.requests}")
            rows.append(row)
        timings = dict(lab.timings)
    publish(report(rows, header, timings, args.rate), HEADING, DOC_INTRO, DOC_NOTES, write_docs=args.write_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
