"""Small helpers shared by the benchmarks in ``bench/``: echo backends started
as subprocesses on 127.0.0.1, free loopback ports, running ``wrk`` for a
bounded time and parsing its summary (requests, req/s, latency percentiles,
socket errors connect/read/write/timeout and non-2xx/3xx responses), an
exit stack that stops every process a benchmark started (also on Ctrl-C and
SIGTERM), percentiles, plain and markdown tables, and replacing one ``## ``
section of a markdown file. Benchmarks print counts and ratios measured side
by side in one run; nothing here asserts a wall-clock figure.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ECHO = ROOT / "integration" / "backend" / "echo.py"
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


# --- processes -------------------------------------------------------------------------------------------------

@dataclass
class Echo:
    """One echo backend (integration/backend/echo.py) listening on 127.0.0.1:port."""

    name: str
    port: int
    process: subprocess.Popen[str]

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(proc: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Terminate a child we started, then kill it if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def start_echo(name: str, ready_timeout: float = 10.0) -> Echo:
    """Start an echo backend on an ephemeral loopback port and wait for its READY line."""
    proc = subprocess.Popen([sys.executable, str(ECHO), "--name", name, "--http-port", "0", "--bind", LOOPBACK],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + ready_timeout
    line = ""
    while time.monotonic() < deadline and proc.poll() is None:
        readable, _, _ = select.select([proc.stdout], [], [], 0.1)
        if readable:
            line = proc.stdout.readline()
            break
    match = re.search(r"http=[^\s]*:(\d+)", line)
    if not match:
        stop_process(proc)
        raise RuntimeError(f"echo backend {name} did not report READY: {line!r}")
    return Echo(name, int(match.group(1)), proc)


@contextlib.contextmanager
def cleanup_on_exit() -> Iterator[contextlib.ExitStack]:
    """An ExitStack whose callbacks run on normal exit, exceptions, Ctrl-C and SIGTERM (turned into Ctrl-C)."""

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        with contextlib.ExitStack() as stack:
            yield stack
    finally:
        signal.signal(signal.SIGTERM, previous)


def quietly(action: Callable[[], object]) -> Callable[[], None]:
    """A cleanup callback that reports, but does not raise, a failure (so later callbacks still run)."""

    def run() -> None:
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - cleanup must go on
            print(f"cleanup: {exc!r}", file=sys.stderr)

    return run


# --- wrk -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WrkResult:
    """The summary wrk prints. ``requests`` are completed responses; failures are counted apart."""

    requests: int
    seconds: float
    rps: float
    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0
    non2xx: int = 0  # wrk's "Non-2xx or 3xx responses" (status >= 400)
    latency_ms: dict[str, float] | None = None

    @property
    def socket_errors(self) -> int:
        return self.connect + self.read + self.write + self.timeout

    @property
    def failed(self) -> int:
        return self.socket_errors + self.non2xx

    def __add__(self, other: WrkResult) -> WrkResult:
        """Two runs as one (requests and errors summed, req/s over the summed time; latencies dropped)."""
        seconds = self.seconds + other.seconds
        requests = self.requests + other.requests
        return WrkResult(requests, seconds, requests / seconds if seconds else 0.0, self.connect + other.connect,
                         self.read + other.read, self.write + other.write, self.timeout + other.timeout,
                         self.non2xx + other.non2xx)

    def breakdown(self) -> str:
        parts = [f"{k} {v}" for k, v in (("connect", self.connect), ("read", self.read), ("write", self.write),
                                          ("timeout", self.timeout), ("non-2xx", self.non2xx)) if v]
        return ", ".join(parts) or "-"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(text: str) -> WrkResult:
    """Parse wrk 4's summary (with or without --latency)."""
    done = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", text, re.M)
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M)
    if not done or not rps:
        raise ValueError("wrk printed no summary:\n" + text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    latency = {m.group(1): _ms(m.group(2)) for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)\s*$", text, re.M)}
    connect, read, write, timeout = (int(g) for g in errors.groups()) if errors else (0, 0, 0, 0)
    return WrkResult(requests=int(done.group(1)), seconds=_ms(done.group(2) + done.group(3)) / 1000,
                     rps=float(rps.group(1)), connect=connect, read=read, write=write, timeout=timeout,
                     non2xx=int(non2xx.group(1)) if non2xx else 0, latency_ms=latency or None)


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    return found


class Wrk:
    """wrk running in the background for a fixed, bounded duration against a loopback URL."""

    def __init__(self, url: str, seconds: int, connections: int = 32, threads: int = 1, timeout: str = "2s",
                 headers: Sequence[str] = ()) -> None:
        if not url.startswith((f"http://{LOOPBACK}:", f"https://{LOOPBACK}:")):
            raise ValueError("benchmarks send traffic to 127.0.0.1 only")
        self.seconds = seconds
        argv = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout}",
                "--latency", *(a for h in headers for a in ("-H", h)), url]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def result(self) -> WrkResult:
        """Wait for the summary (bounded: the duration plus a margin; SIGINT makes wrk print early)."""
        try:
            out, _ = self.process.communicate(timeout=self.seconds + 15)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGINT)
            out, _ = self.process.communicate(timeout=10)
        return parse_wrk(out)

    def stop(self) -> None:
        stop_process(self.process)


# --- schedules, numbers and tables --------------------------------------------------------------------------

@dataclass
class Schedule:
    """What :func:`every` did: gaps between operation starts (s), failed operations, operations not run."""

    gaps: list[float]
    errors: list[str]
    skipped: int


def every(interval: float, count: int, operation: Callable[[int], object], first: float, last: float) -> Schedule:
    """Run ``operation(i)`` for i < count at ``first + i * interval`` (monotonic clock); a late operation runs at
    once; none starts after ``last`` (those are counted as skipped). An exception is recorded, not raised."""
    done = Schedule([], [], 0)
    previous: float | None = None
    for i in range(count):
        time.sleep(max(0.0, first + i * interval - time.monotonic()))
        now = time.monotonic()
        if now > last:
            done.skipped = count - i
            break
        if previous is not None:
            done.gaps.append(now - previous)
        previous = now
        try:
            operation(i)
        except Exception as exc:  # noqa: BLE001 - a failed operation is a result
            done.errors.append(f"op {i}: {exc}")
    return done


def split(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` counts, as evenly as possible."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.4999)))
    return ordered[rank - 1]


def p50_p95_ms(seconds: Sequence[float]) -> str:
    """'p50 / p95' in whole milliseconds, '-' for no values."""
    p50, p95 = percentile(seconds, 50), percentile(seconds, 95)
    return f"{p50 * 1000:.0f} / {p95 * 1000:.0f}" if p50 is not None and p95 is not None else "-"


def standard_error(values: Sequence[float]) -> float:
    """The standard error of the mean (infinite for fewer than two values)."""
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.inf


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], markdown: bool = False) -> str:
    """A plain aligned table, or a GitHub markdown table."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    if markdown:
        lines = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells[1:]])
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([fmt(cells[0]), fmt(["-" * w for w in widths]), *(fmt(r) for r in cells[1:])])


def replace_section(path: Path, heading: str, body: str) -> None:
    """Write ``heading`` + ``body`` into a markdown file, replacing that section (up to the next ``## ``) only."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{heading}\n\n{body.strip()}\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + block
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + block + ("\n" + tail if tail else "")
    path.write_text(new)


def machine_note() -> str:
    """Cores, kernel, and the versions of the binaries a benchmark used."""

    def version(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        text = (done.stdout + done.stderr).strip().splitlines()
        return text[0] if text else "?"

    nginx = version(["nginx", "-v"]).replace("nginx version: ", "")
    haproxy = version(["haproxy", "-v"]).split(" - ")[0].replace("HA-Proxy version ", "HAProxy ")
    wrk = version(["wrk", "--version"]).split(" [")[0].replace(" Copyright (C) 2012 Will Glozer", "")
    return (f"{os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}, "
            f"{nginx}, {haproxy}, {wrk}")


# --- models and docs for the issue-7 benchmarks ----------------------------------------------------------------

def scale_model_text(engine: str, services: int, servers: int = 10, base_port: int = 20000,
                     routed: str = "", extra_pools: str = "") -> str:
    """``services`` HTTP services, each with its own pool of ``servers`` loopback IP servers (no DNS names).
    Service i listens on 127.0.0.1:(base_port + i). With ``routed`` (a YAML flow mapping for one more service)
    and ``extra_pools`` (YAML pool items), one real service can be added in front of echo backends."""
    lines = ["pools:"]
    for i in range(services):
        lines.append(f"  - name: p{i}\n    servers:")
        for j in range(servers):
            lines.append(f"      - {{name: s{j}, address: 127.{1 + i // 250}.{i % 250}.{1 + j}, port: 9}}")
    if extra_pools:
        lines.append(extra_pools.rstrip("\n"))
    lines.append("services:")
    names = []
    for i in range(services):
        lines.append(f"  - {{name: svc{i}, mode: http, listen: {{address: 127.0.0.1, port: {base_port + i}}}, "
                     f"default_pool: p{i}}}")
        names.append(f"svc{i}")
    if routed:
        lines.append(f"  - {routed}")
        names.append(routed.split("name: ", 1)[1].split(",", 1)[0])
    lines.append(f"proxies:\n  - {{name: lb, engine: {engine}, services: [{', '.join(names)}], workers: 1}}")
    return "\n".join(lines) + "\n"


def best_of(runs: int, action: Callable[[], object]) -> float:
    """The shortest wall time (seconds) of ``runs`` calls of ``action``."""
    best = math.inf
    for _ in range(runs):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def docs_header(command: str) -> str:
    """The 'Command / Machine' lines every docs section starts with."""
    import datetime

    return (f"Command: `{command}` ({datetime.date.today().isoformat()})  \n"
            f"Machine: {machine_note()}; 1-min load average at the start {os.getloadavg()[0]:.2f}")


def free_port_block(count: int, start: int = 20000, stop: int = 60000) -> int:
    """The first port p in [start, stop) such that p .. p+count-1 are all free on 127.0.0.1 right now."""
    base = start
    while base + count <= stop:
        for offset in range(count):
            with socket.socket() as sock:
                try:
                    sock.bind((LOOPBACK, base + offset))
                except OSError:
                    base += offset + 1
                    break
        else:
            return base
    raise RuntimeError(f"no {count} consecutive free ports between {start} and {stop}")


DOCS = ROOT / "docs" / "benchmarks.md"


def publish(text: str, heading: str, intro: str, notes: str, *, write_docs: bool) -> None:
    """Print a benchmark's table; with ``write_docs``, also replace its section of docs/benchmarks.md."""
    print(text)
    if write_docs:
        replace_section(DOCS, heading, intro + "\n\n" + text + "\n\n" + notes)
        print(f"wrote the '{heading}' section of {DOCS.relative_to(ROOT)}", file=sys.stderr)
