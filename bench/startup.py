"""CLI start-up: wall time of short ctlplane commands, and what importing costs.

Best of N (subprocess, wall clock) for ``ctlplane --help``, ``ctlplane
validate tests/model/valid/minimal.yaml --no-binaries`` and the same validation
with the proxies' own config tests; then ``python -X importtime`` of the
validate command, top imports by cumulative time.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import threading
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import publish, ROOT, best_of, docs_header, table  # noqa: E402

HEADING = "## CLI start-up"
MINIMAL = "tests/model/valid/minimal.yaml"
TARGET_S = 0.300  # issue 14: validate of a small model, with the real binaries
CTLPLANE = str(Path(sys.executable).with_name("ctlplane"))
COMMANDS = {
    "ctlplane --help": [CTLPLANE, "--help"],
    f"ctlplane validate {MINIMAL} --no-binaries": [CTLPLANE, "validate", MINIMAL, "--no-binaries"],
    f"ctlplane validate {MINIMAL}": [CTLPLANE, "validate", MINIMAL],
    "python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
    "python: import the libraries validate uses (pydantic, typer, jinja2, yaml), no ctlplane": [
        sys.executable, "-c", "import pydantic, pydantic.types, typer, typer.main, typer._adapters, jinja2, yaml"],
    "python: the libraries, ctlplane's CLI and its model classes, no command run": [
        sys.executable, "-c", "import ctlplane.cli as c, typer._adapters, jinja2; c._without_pydantic_plugins(); "
        "import ctlplane.model.load"],
}
# Bytecode as an installed ctlplane has it: pip compiles a wheel's modules when it installs them, and an
# editable checkout writes them on its first run. An environment with PYTHONDONTWRITEBYTECODE set (this
# machine's has) would otherwise compile every ctlplane module from source on every run (about 60 ms).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(argv: list[str]) -> None:
    """Run a command to its end; a timer, not ``wait(timeout)``, bounds it: waiting with a timeout polls with a
    growing sleep (up to 50 ms), which added about 10 ms to every row."""
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    timer = threading.Timer(60, proc.kill)
    timer.start()
    try:
        proc.wait()
    finally:
        timer.cancel()


def importtime(top: int) -> list[list[object]]:
    """``-X importtime`` of the validate command: the top imports by cumulative microseconds."""
    code = ("import sys; sys.argv=['ctlplane','validate',%r,'--no-binaries']\n"
            "from ctlplane.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n") % MINIMAL
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False, env=ENV)
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            depth = (len(match.group(3)) - 1) // 2
            rows.append((int(match.group(2)), int(match.group(1)), depth, match.group(4)))
    total = sum(r[0] for r in rows if r[2] == 0)
    rows = [r for r in rows if r[2] == 0]  # top-level imports only: their cumulative times add up
    rows.sort(reverse=True)
    return [[name, f"{cum / 1000:.1f}", f"{cum / total * 100:.0f}%"] for cum, _, _, name in rows[:top]] + \
        [["(all top-level imports)", f"{total / 1000:.1f}", "100%"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="best of N (default 5)")
    parser.add_argument("--quick", action="store_true", help="best of 3")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    args.markdown = args.markdown or args.write_docs
    runs = 3 if args.quick else max(1, min(args.runs, 20))
    command = "python bench/startup.py " + " ".join(sys.argv[1:] if argv is None else argv)
    header = docs_header(command.strip())
    if main_module_missing():
        raise SystemExit("ctlplane.cli has no main(): adjust bench/startup.py")
    for argv_ in COMMANDS.values():
        run(argv_)  # warm-up: bytecode and the template cache written, as after any first run
    best = dict.fromkeys(COMMANDS, math.inf)
    for _ in range(runs):  # rounds interleave the commands, so a slow spell of the machine hits every row
        for label, argv_ in COMMANDS.items():
            best[label] = min(best[label], best_of(1, lambda a=argv_: run(a)))
    rows = [[label, f"{seconds * 1000:.0f}"] for label, seconds in best.items()]
    with_binaries = best[f"ctlplane validate {MINIMAL}"]
    verdict = (f"ctlplane validate of a small model with the real binaries: {with_binaries * 1000:.0f} ms "
               f"(target <= {TARGET_S * 1000:.0f} ms, ratio {with_binaries / TARGET_S:.2f}): "
               f"{'met' if with_binaries <= TARGET_S else 'MISSED'}")
    imports = importtime(args.top)
    text = "\n".join([table(["command", f"best of {runs}, ms"], rows, markdown=args.markdown), "",
                      "Top-level imports of `ctlplane validate --no-binaries` (`python -X importtime`), "
                      "cumulative:", "",
                      table(["module", "ms", "share"], imports, markdown=args.markdown), "",
                      ("- " if args.markdown else "") + verdict])
    if args.markdown:
        text = header + "\n\n" + text
    publish(text, HEADING, DOC_INTRO, DOC_NOTES, write_docs=args.write_docs)
    return 0


def main_module_missing() -> bool:
    import importlib

    return not hasattr(importlib.import_module("ctlplane.cli"), "main")


DOC_INTRO = """\
Wall time of short commands, each a fresh process (the installed `ctlplane` entry point in the venv), best
of N rounds that interleave the commands, after one warm-up run of each; `python -c pass` is the
interpreter's own floor on this machine. The two `python:` rows split the time: the third-party libraries a
validation imports, then those with ctlplane's CLI and model classes (no command run). Commands run with
bytecode, as an installed ctlplane has it (pip compiles a wheel's modules when it installs them; a checkout
writes them on its first run): this machine's environment sets PYTHONDONTWRITEBYTECODE, which would make
every run compile every ctlplane module from source (about 60 ms more)."""

DOC_NOTES = """\
The table above was written on the host of the fourth session of 2026-12-07, where Python code runs 2-2.7x
slower than on the host of the earlier runs (same kind: 2 cores, the same builds; see the scale section):
there importing the libraries alone takes 292-304 ms, more than the 300 ms target, so on that host the target
cannot be met whatever ctlplane's own code does. On the earlier host the same code validated in 222-268 ms
(met) with the libraries at 146-184 ms; the figures below are from there.

Reading it: this is the most load-sensitive table here (every row is a fresh process on two shared cores; the
load average at the start is in the header): the libraries row alone moved between 146 and 184 ms across runs
on one day, so compare rows within a table. Three runs of this benchmark on the same code within fifteen
minutes gave 235, 249 and 233 ms for the validation with the binaries (the table is a later run). Done for this
issue: renderers are imported only for the engines a model uses; docker, watchdog and the rich help only by
the commands that need them; compiled templates come from jinja's bytecode cache (a 0700 directory of the
user's in the temp directory, keyed by each template's digest and the environment's options); pydantic's
plugins are off unless the operator sets `PYDANTIC_DISABLE_PLUGINS`, and while they are all off the CLI
stands in for pydantic's plugin loader with one that finds none, so no command imports `importlib.metadata`
(about 15 ms; `tests/test_cli_startup.py` holds the stand-in to pydantic's answer). Measured one by one in one
process or A/B alternated (the commit messages carry the figures): the model's validators are built when
first needed (`defer_build`: the root's validation builds the tree once instead of every class building its
subtree at import, about 10 ms); the renderer's views are named tuples instead of frozen dataclasses (a class
is made in about 90 us instead of 510: the NGINX renderer imports in 14 ms instead of 29); the cyclic
collector is paused for a command (about 10 ms: it walked the import-time objects some 70 times; `watch`, the
fleet agent and a rollout resume it); a single config test runs without a thread pool (about 3 ms); and what
lives until the process exits is frozen before the interpreter's last collection, which runs even with the
collector off and walked the whole model and every library's objects only to free them with the process
(about 40 ms). What remains: the libraries (about 150 ms, fixed by the design), pydantic building the root
model's validators on the first load (about 30 ms), the renderer's import and the work (about 25 ms), and the
proxy's own config test with its staging (about 15 ms)."""

if __name__ == "__main__":
    sys.exit(main())
