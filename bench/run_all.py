"""Run every benchmark in ``bench/`` once and write each table into its own ``## `` section of
docs/benchmarks.md: scale, edit-to-traffic latency, data plane, reload under load (``--quick``), CLI
start-up, Docker discovery (needs a Docker engine and the integration image) and the fleet rollout (the
docker-in-docker Swarm lab). Each script runs as its own process with ``--write-docs``; a failing one is
reported and the others still run. ``--quick`` passes the scripts' own quick settings (reload under load
always runs quick).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "scale": ["scale.py"],
    "edit_latency": ["edit_latency.py"],
    "data_plane": ["data_plane.py"],
    "reload_under_load": ["reload_under_load.py", "--quick"],
    "reload_1000": ["reload_under_load.py", "--services", "1000", "--ops", "8", "--rounds", "2", "--interval", "2"],
    "startup": ["startup.py"],
    "discovery": ["discovery.py"],
    "fleet_rollout": ["fleet_rollout.py"],
}
TIMEOUT_S = 1800  # per script: every script bounds its own loops; this only stops a hung one


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the scripts' quick settings")
    parser.add_argument("--only", default=",".join(SCRIPTS), help="comma-separated subset of " + ", ".join(SCRIPTS))
    parser.add_argument("--no-docs", action="store_true", help="print only; do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    failed = []
    for name in args.only.split(","):
        argv_ = [sys.executable, str(HERE / SCRIPTS[name][0]), *SCRIPTS[name][1:]]
        if args.quick and "--quick" not in argv_:
            argv_.append("--quick")
        argv_.append("--markdown" if args.no_docs else "--write-docs")
        print(f"== {name}: {' '.join(argv_[1:])}", file=sys.stderr, flush=True)
        started = time.monotonic()
        proc = subprocess.Popen(argv_)
        try:
            code = proc.wait(TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.terminate()  # the script's SIGTERM handler stops what it started
            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        print(f"== {name}: exit {code} after {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
