"""Reload under load: how many requests fail while ctlplane changes a busy proxy.

Per engine, a local proxy started by ``apply_model`` in front of echo backends
carries steady wrk keep-alive load for a fixed time while N operations run
evenly spaced: bare reloads without ctlplane (the baseline), ctlplane applies
that need a reload, and ctlplane weight changes (HAProxy: runtime API). Rounds
of the three kinds are interleaved; failed requests (wrk socket errors plus
non-2xx/3xx) are compared side by side. Method and options: bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (publish, Echo, Wrk, WrkResult, cleanup_on_exit, free_port, machine_note,  # noqa: E402
                    every, p50_p95_ms, quietly, scale_model_text, split, standard_error, start_echo, table)

from ctlplane.apply import apply_model  # noqa: E402
from ctlplane.drivers import driver_for, haproxy_api, procfs  # noqa: E402
from ctlplane.drivers import Driver  # noqa: E402
from ctlplane.errors import DriverError  # noqa: E402
from ctlplane.model.load import load_file  # noqa: E402

HEADING = "## Reload under load"
KINDS = ("bare reload (baseline)", "ctlplane: reload change", "ctlplane: weight change")
LEAD_S = 1.5  # load runs alone before the first operation
TAIL_S = 2.0  # and after the last one
SETTLE_TIMEOUT_S = 40.0
FILLER_BASE_PORT = 20000  # below the ephemeral range: filler listeners never collide with client ports


@dataclass
class Proxy:
    """One engine's proxy under test: its model file, front port and driver."""

    engine: str
    model: Path
    port: int
    echoes: dict[str, Echo]
    driver: Driver
    filler: int = 0

    def write(self, default: str = "a", a2_weight: int = 1) -> None:
        self.model.write_text(model_text(self.engine, self.port, self.echoes, default, a2_weight, self.filler))


def model_text(engine: str, port: int, echoes: dict[str, Echo], default: str = "a", a2_weight: int = 1,
               filler: int = 0) -> str:
    """Pools a (a1, a2) and b (b1, b2), one HTTP service on ``port`` whose default pool is ``default``; with
    ``filler``, that many more services (each its own listener and pool of 10 servers) that take no traffic
    but make every reload parse, bind and hand over a config of that size."""
    pools = []
    for pool in ("a", "b"):
        pools.append(f"  - name: {pool}\n    servers:")
        for name in (f"{pool}1", f"{pool}2"):
            weight = a2_weight if name == "a2" else 1
            pools.append(f"      - {{name: {name}, address: 127.0.0.1, port: {echoes[name].port}, weight: {weight}}}")
    front = f"{{name: front, mode: http, listen: {{address: 127.0.0.1, port: {port}}}, default_pool: {default}}}"
    if filler:
        return scale_model_text(engine, filler, 10, FILLER_BASE_PORT, routed=front, extra_pools="\n".join(pools))
    return "\n".join(["pools:", *pools, f"services:\n  - {front}",
                      f"proxies:\n  - {{name: lb, engine: {engine}, services: [front], workers: 1}}"]) + "\n"


@dataclass
class Run:
    """One kind of operation on one engine: what wrk saw and what the operations did."""

    engine: str
    kind: str
    planned: int
    wrk: WrkResult
    outcomes: Counter[str] = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)  # ctlplane apply_model() wall time, seconds
    transactions: list[float] = field(default_factory=list)  # of which apply_proxy() (stage .. verify), seconds
    op_errors: list[str] = field(default_factory=list)
    skipped: int = 0  # operations that did not fit into the load time (slow applies)
    retries: int = 0  # bare HAProxy reloads sent again while the master was re-executing
    gaps: list[float] = field(default_factory=list)  # seconds between the starts of consecutive operations
    per_round: list[float] = field(default_factory=list)  # failed requests per operation, one value per round

    def add(self, other: Run) -> None:
        """Fold another round of the same kind into this one."""
        self.planned += other.planned
        self.wrk = self.wrk + other.wrk
        self.outcomes.update(other.outcomes)
        self.durations += other.durations
        self.transactions += other.transactions
        self.op_errors += other.op_errors
        self.retries += other.retries
        self.skipped += other.skipped
        self.gaps += other.gaps
        self.per_round += [other.wrk.failed / other.ops] if other.ops else []

    @property
    def ops(self) -> int:
        return sum(self.outcomes.values())

    def row(self) -> list[object]:
        per_op = f"{self.wrk.failed / self.ops:.2f}" if self.ops else "-"
        done = ", ".join(f"{k} x{v}" for k, v in sorted(self.outcomes.items()))
        if self.op_errors:
            done += f", {len(self.op_errors)} failed op(s)"
        if self.skipped:
            done += f", {self.skipped} skipped (out of load time)"
        if self.retries:
            done += f" ({self.retries} retries: master busy)"
        spacing = f"{sum(self.gaps) / len(self.gaps) * 1000:.0f}" if self.gaps else "-"
        return [self.engine, self.kind, done, spacing, self.wrk.requests, self.wrk.failed, per_op,
                f"{self.wrk.rps:.0f}", self.wrk.breakdown(), p50_p95_ms(self.durations), p50_p95_ms(self.transactions)]


HEADERS = ["engine", "kind", "operations", "mean spacing ms", "requests", "failed", "failed per op", "req/s",
           "failures by type", "apply p50 / p95 ms", "of which transaction ms"]


def start_proxy(engine: str, workdir: Path, echoes: dict[str, Echo], filler: int = 0) -> Proxy:
    model = workdir / engine / "model.yaml"
    model.parent.mkdir(parents=True)
    port = free_port()
    model.write_text(model_text(engine, port, echoes, filler=filler))
    proxy = Proxy(engine, model, port, echoes, driver_for(load_file(model), "lb"), filler)
    outcomes = [r.outcome for r in apply_model(str(model))]
    if outcomes != ["started"]:
        raise RuntimeError(f"{engine}: first apply gave {outcomes}")
    return proxy


def old_generations_gone(proxy: Proxy) -> bool:
    """No NGINX worker / HAProxy process of an earlier generation is still draining."""
    gen = proxy.driver.control.observe()
    if gen.master is None:
        return False
    if proxy.engine == "nginx":
        procs = procfs.processes()
        return not any("shutting down" in procs[pid].cmdline for pid in gen.workers if pid in procs)
    try:
        answer = haproxy_api.send(master_socket(proxy), "show proc")
    except DriverError:  # the master may be re-executing
        return False
    return "# old workers" not in answer or not answer.split("# old workers", 1)[1].strip()


def master_socket(proxy: Proxy) -> Path:
    return proxy.driver.store.state_dir / "run" / "master.sock"


def settle(proxy: Proxy) -> None:
    if not procfs.wait_for(lambda: old_generations_gone(proxy), SETTLE_TIMEOUT_S, interval=0.1):
        print(f"warning: {proxy.engine}: old processes still draining after {SETTLE_TIMEOUT_S:g}s", file=sys.stderr)


def operation(proxy: Proxy, kind: str, run: Run) -> Callable[[int], None]:
    """The i-th operation of a kind (alternating between two states so each one changes something)."""

    def bare(i: int) -> None:
        if proxy.engine == "nginx":
            master = proxy.driver.control.observe().master
            assert master is not None
            os.kill(master, signal.SIGHUP)
            run.outcomes["SIGHUP"] += 1
        else:
            # the master re-executes itself on reload and refuses connections meanwhile: retry, bounded
            sock = master_socket(proxy)
            deadline = time.monotonic() + 5.0
            while True:
                try:
                    haproxy_api.send(sock, "reload")
                    break
                except DriverError:
                    if time.monotonic() > deadline:
                        raise
                    run.retries += 1
                    time.sleep(0.02)
            run.outcomes["master CLI reload"] += 1

    def through_ctlplane(i: int) -> None:
        if kind == KINDS[1]:
            proxy.write(default="b" if i % 2 == 0 else "a")
        else:
            proxy.write(a2_weight=3 if i % 2 == 0 else 1)
        started = time.perf_counter()
        results = apply_model(str(proxy.model))
        run.durations.append(time.perf_counter() - started)
        run.transactions.append(results[0].seconds)
        run.outcomes[results[0].outcome] += 1

    return bare if kind == KINDS[0] else through_ctlplane


def measure(proxy: Proxy, kind: str, ops: int, interval: float, seconds: int, connections: int) -> Run:
    """wrk for ``seconds`` while ``ops`` operations run every ``interval`` seconds (never past the load's end)."""
    proxy.write()
    apply_model(str(proxy.model))  # the same starting state for every kind
    settle(proxy)
    wrk = Wrk(f"http://127.0.0.1:{proxy.port}/", seconds, connections=connections)
    run = Run(proxy.engine, kind, ops, WrkResult(0, 0.0, 0.0))
    try:
        start = time.monotonic()
        done = every(interval, ops, operation(proxy, kind, run), first=start + LEAD_S, last=start + seconds - TAIL_S)
        run.gaps, run.op_errors, run.skipped = done.gaps, done.errors, done.skipped
        run.wrk = wrk.result()
    finally:
        wrk.stop()
    return run


def load_seconds(ops: int, interval: float) -> int:
    """One fixed duration for every kind: room for late operations (a slow apply delays the next one)."""
    return math.ceil(LEAD_S + ops * interval * 2 + TAIL_S)


def verdicts(runs: list[Run]) -> list[str]:
    lines = []
    by = {(r.engine, r.kind): r for r in runs}
    for (engine, kind), run in by.items():
        if kind == KINDS[0]:
            continue
        if engine == "haproxy":
            verdict = "met" if run.wrk.failed == 0 else "MISSED"
            lines.append(f"haproxy, {kind}: {run.wrk.failed} failed requests (target 0): {verdict}")
        else:
            base = by.get((engine, KINDS[0]))
            if base is None or not base.ops or not run.ops:
                continue
            mine, theirs = run.wrk.failed / run.ops, base.wrk.failed / base.ops
            ratio = f"{mine / theirs:.2f}x" if theirs else ("1.00x" if not mine else "inf")
            noise = math.hypot(standard_error(run.per_round), standard_error(base.per_round))
            verdict = ("met" if mine <= theirs else "above the baseline; one round gives no spread: run more rounds"
                       if math.isinf(noise) else
                       "within noise (above the baseline by less than 2 standard errors of the round means)"
                       if mine - theirs <= 2 * noise else "MISSED")
            lines.append(f"nginx, {kind}: {mine:.2f} failed per op vs {theirs:.2f} for bare reloads ({ratio}; "
                         f"standard error of the difference {noise:.2f}; target <= baseline): {verdict}")
    return lines


def report(runs: list[Run], args: argparse.Namespace, command: str, seconds: int, load: float) -> str:
    rows = [r.row() for r in runs]
    out = [table(HEADERS, rows, markdown=args.markdown), ""]
    out += [("- " if args.markdown else "") + v for v in verdicts(runs)]
    bullet = "- " if args.markdown else "  "
    out += ["", "Failed requests per operation, round by round:"]
    out += [f"{bullet}{r.engine}, {r.kind}: " + ", ".join(f"{v:.1f}" for v in r.per_round) for r in runs]
    errors = [f"{r.engine}, {r.kind}: {e}" for r in runs for e in r.op_errors[:3]]
    if errors:
        out += ["", "Operation errors:", *[bullet + e for e in errors]]
    if args.markdown:
        out = [f"Command: `{command}` ({datetime.date.today().isoformat()})  ",
               f"Machine: {machine_note()}; 1-min load average at the start {load:.2f}  ",
               f"Load: `wrk -t1 -c{args.connections} -d{seconds}s --latency` (keep-alive), {args.rounds} interleaved "
               f"rounds per row ({args.rounds * seconds}s of load per row); {args.ops} operations per row, one every "
               f"{args.interval * 1000:.0f} ms; 2+2 Python echo backends.", "",
               *out]
    return "\n".join(out)


DOC_INTRO = """\
Steady keep-alive load from wrk on a local proxy in front of Python echo backends, while one
operation runs every interval: bare reloads without ctlplane (the baseline: SIGHUP to the NGINX master,
`reload` on the HAProxy master CLI), ctlplane applies that need a reload (default pool swapped between two
pools), and ctlplane applies of a weight change (HAProxy: runtime API, no reload; NGINX: a reload). Failed
= wrk socket errors + non-2xx/3xx responses; "apply" is the whole `apply_model()` call (load, render,
`nginx -t`/`haproxy -c` in a private directory, stage, activate, reload or runtime commands, verify). The
rows of one engine ran side by side with the same load and duration; compare counts and ratios, not
absolute req/s (two shared cores, Python backends)."""


DOC_NOTES = """\
Reading the NGINX rows: every NGINX reload fails some requests, with or without ctlplane. On reload the
old worker stops accepting, answers the requests it is already working on with `Connection: close` (those
do not fail), and closes its *idle* keep-alive connections at once. A client that has just sent its next
request on such a connection gets a reset or EOF and no answer; wrk counts a read error and does not
retry. So failures per reload are about the number of connections idle at that instant (a share of
wrk's), whatever `keepalive_timeout`, `worker_shutdown_timeout` or `lingering_close` say; only clients that
retry idempotent requests on a closed keep-alive connection (RFC 9112, section 9.3.1), or no client
keep-alive at all, avoid them. ctlplane's reload is the same SIGHUP followed by a verification that only
reads `/proc` and the error log, so the ctlplane rows should match the baseline within the round-to-round
noise, which is large on a shared machine. HAProxy hands its listeners to the new worker, and `option
idle-close-on-response` makes the old one answer the next request on each idle connection with
`Connection: close` before closing it, so no request fails; a weight change is a runtime-API command and
starts no process at all."""


SCALED_INTRO = """\
The same measurement with {n:,} services in the model: the one that takes the load, and {n:,} - 1 more, each
with its own listener and a pool of 10 servers, that take no traffic. Every reload parses, binds and hands
over a config of that size; the apply column shows ctlplane's whole cost (load, render and the binary's own
config test of the large model), so compare it with the one-service section above."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 operations per kind instead of 50")
    parser.add_argument("--ops", type=int, help="operations per kind (default 50, or 10 with --quick)")
    parser.add_argument("--rounds", type=int, help="split the operations into interleaved rounds of the three "
                        "kinds (default 5, or 2 with --quick)")
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds between operations (default 0.5: longer than an apply under load, so every kind "
                        "keeps the same spacing)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--services", type=int, default=1,
                        help="services in the model (default 1); more adds listeners with 10-server pools that take no "
                        "traffic, to show how the reload cost grows with the config (own docs section)")
    parser.add_argument("--engines", default="nginx,haproxy", help="comma-separated (default nginx,haproxy)")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    parser.add_argument("--write-docs", action="store_true",
                        help=f"write/replace the '{HEADING}' section of docs/benchmarks.md (implies --markdown)")
    args = parser.parse_args(argv)
    args.ops = args.ops or (10 if args.quick else 50)
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.markdown = args.markdown or args.write_docs
    if not 1 <= args.rounds <= args.ops:
        parser.error("--rounds must be between 1 and the number of operations")
    if not 1 <= args.ops <= 500 or not 0.05 <= args.interval <= 5 or not 1 <= args.connections <= 1000:
        parser.error("--ops 1..500, --interval 0.05..5, --connections 1..1000")
    if not 1 <= args.services <= 2000:
        parser.error("--services 1..2000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python bench/reload_under_load.py " + " ".join(sys.argv[1:] if argv is None else argv)
    seconds = load_seconds(max(split(args.ops, args.rounds)), args.interval)
    load = os.getloadavg()[0]
    print(f"1-min load average before the run: {load:.2f} on {os.cpu_count()} cores", file=sys.stderr)
    runs: list[Run] = []
    with cleanup_on_exit() as stack, tempfile.TemporaryDirectory(prefix="ctlplane-bench-") as tmp:
        echoes = {}
        for name in ("a1", "a2", "b1", "b2"):
            echoes[name] = start_echo(name)
            stack.callback(quietly(echoes[name].stop))
        for engine in args.engines.split(","):
            proxy = start_proxy(engine, Path(tmp), echoes, filler=args.services - 1)
            stack.callback(quietly(proxy.driver.control.stop))
            totals = {kind: Run(engine, kind, 0, WrkResult(0, 0.0, 0.0)) for kind in KINDS}
            for round_no, ops in enumerate(split(args.ops, args.rounds), 1):
                for kind in KINDS:  # interleaved, so a change in background load hits every kind alike
                    print(f"{engine} round {round_no}/{args.rounds}: {kind}: {ops} ops under {seconds}s of load",
                          file=sys.stderr, flush=True)
                    totals[kind].add(measure(proxy, kind, ops, args.interval, seconds, args.connections))
            runs += totals.values()
            proxy.driver.control.stop()
    text = report(runs, args, command.strip(), seconds, load)
    if args.services > 1:
        publish(text, f"{HEADING} at {args.services:,} services", SCALED_INTRO.format(n=args.services), "",
                write_docs=args.write_docs)
    else:
        publish(text, HEADING, DOC_INTRO, DOC_NOTES, write_docs=args.write_docs)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; every process started here was stopped", file=sys.stderr)
        sys.exit(130)
