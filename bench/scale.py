"""Scale: ctlplane's own time against the proxy's own config test, as the model grows.

For 10, 100 and 1,000 HTTP services of 10 loopback-IP servers each, per engine
and per model format (YAML, and the same model as JSON, which takes the
loader's fast path): ctlplane's in-process work (``load_file`` +
``read_assets`` + ``render_all``, best of N) and the engine's config test on
the same output (``ctlplane.validate.check_output``: ``nginx -t`` /
``haproxy -c`` on a staged copy, best of N). Prints the ratio ctlplane/proxy
per size, the growth between sizes, the peak of Python allocations during one
build (``tracemalloc``) against the rendered config's size, and a cProfile of
the largest YAML build, so the cause of any gap is measured rather than guessed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
import tracemalloc
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import publish, ROOT, best_of, docs_header, scale_model_text, table  # noqa: E402
from scale_floor import FLOOR_HEADERS, floor_row, floor_verdict  # noqa: E402

from ctlplane.model.assets import read_assets  # noqa: E402
from ctlplane.model.load import load_file  # noqa: E402
from ctlplane.render import render_all  # noqa: E402
from ctlplane.validate import check_output, is_error  # noqa: E402

HEADING = "## Scale"
FORMATS = ("yaml", "json")
MIN_RUNS = 15  # every build under a second, both sizes of the growth column and both sides of the ratio
HEADERS = ["engine", "services x servers", "format", "model KiB", "ctlplane ms", "us per service", "proxy check ms",
           "ctlplane / proxy", "ctlplane growth (x size)", "proxy growth", "peak MiB", "config KiB", "peak / config"]


def build(path: Path) -> dict:
    loaded = load_file(path)
    return render_all(loaded.model, read_assets(loaded))


def write_model(engine: str, services: int, workdir: Path, fmt: str) -> Path:
    text = scale_model_text(engine, services)
    path = workdir / f"{engine}-{services}.{fmt}"
    path.write_text(text if fmt == "yaml" else json.dumps(yaml.safe_load(text)))
    return path


def peak_mib(path: Path) -> float:
    """The peak of Python allocations during one build, above what was allocated before it."""
    tracemalloc.start()
    try:
        build(path)
        return tracemalloc.get_traced_memory()[1] / 1024**2
    finally:
        tracemalloc.stop()


def measure(engine: str, path: Path, runs: int) -> tuple[float, float, int]:
    """Best of ``runs``, and of at least 15 for a model built in under a second: a best of 3 of a 25 ms build
    is mostly noise, and the growth column divides by it. Every size takes the same number (it once took 15 for
    the small sizes and 3 for the largest, and a best of fewer runs is higher: the growth column leaned up)."""
    runs = runs if best_of(1, lambda: build(path)) >= 1.0 else max(runs, MIN_RUNS)
    ours = best_of(runs, lambda: build(path))
    files = build(path)["lb"]
    findings = [f for f in check_output(engine, files) if is_error(f)]
    if findings:
        raise RuntimeError(f"{engine} rejected the generated config: {findings[0].message}")
    theirs = best_of(runs, lambda: check_output(engine, files))
    return ours, theirs, sum(len(f.content) for f in files.values())


def profile(path: Path, top: int = 10) -> str:
    prof = cProfile.Profile()
    prof.enable()
    build(path)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    body = text[text.index("ncalls"):] if "ncalls" in text else text
    total = f"{stats.total_tt:.3f} s total (under the profiler)"  # type: ignore[attr-defined]
    return total + "\n" + "\n".join(line.replace(str(ROOT) + "/", "") for line in body.rstrip().splitlines())


def cumulative(path: Path) -> str:
    """Share of the profiled time spent under YAML parsing, pydantic validation and Jinja rendering."""
    prof = cProfile.Profile()
    prof.enable()
    build(path)
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())
    parts = {"load_file (all of loading)": ("model/load.py", "load_file"),
             "  parse_yaml (libyaml events straight to data)": ("model/load.py", "parse_yaml"),
             "  validate_data (pydantic Model + cross checks)": ("model/load.py", "validate_data"),
             "read_assets": ("model/assets.py", "read_assets"),
             "render_all (views + Jinja)": ("render/__init__.py", "render_all"),
             "  Jinja Template.render": ("jinja2/environment.py", "render")}
    lines = []
    for label, (file, func) in parts.items():
        cum = max((v[3] for (f, _, fn), v in stats.items() if fn == func and f.endswith(file)), default=0.0)
        lines.append(f"{label}: {cum:.3f} s cumulative ({cum / total * 100:.0f}% of {total:.3f} s)")
    return "\n".join(lines)


def size_verdicts(what: str, ratio: float, memory: float, growth: tuple[float, int] | None) -> list[str]:
    """The issue's three scale targets for the largest size: time against the proxy's check, growth, memory."""
    out = [f"{what}: ctlplane / proxy check = {ratio:.2f} (target <= 1.0): {'met' if ratio <= 1.0 else 'MISSED'}",
           f"{what}: peak memory / config = {memory:.1f} (target <= 5): {'met' if memory <= 5 else 'MISSED'}"]
    if growth is not None:
        times, factor = growth
        out.append(f"{what}: {times:.2f}x the time for {factor}x the size (target <= {factor}x): "
                   f"{'met' if times <= factor else 'MISSED'}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000", help="numbers of services (10 servers each)")
    parser.add_argument("--runs", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--engines", default="nginx,haproxy")
    parser.add_argument("--quick", action="store_true", help="best of 2")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    args.markdown = args.markdown or args.write_docs
    runs = 2 if args.quick else max(1, min(args.runs, 10))
    sizes = [int(s) for s in args.sizes.split(",")]
    command = "python bench/scale.py " + " ".join(sys.argv[1:] if argv is None else argv)
    header = docs_header(command.strip())
    rows, verdicts, floors = [], [], []
    with tempfile.TemporaryDirectory(prefix="ctlplane-scale-") as tmp:
        largest = None
        warm = Path(tmp) / "warm.yaml"  # compile the templates and import lazily loaded modules before timing
        for engine in args.engines.split(","):
            warm.write_text(scale_model_text(engine, 2))
            build(warm)
        for engine in args.engines.split(","):
            for fmt in FORMATS:
                previous = None
                for size in sizes:
                    print(f"scale: {engine} {size} services ({fmt})", file=sys.stderr, flush=True)
                    path = write_model(engine, size, Path(tmp), fmt)
                    ours, theirs, config = measure(engine, path, runs)
                    peak = peak_mib(path)
                    growth = ("-", "-") if previous is None else (
                        f"{ours / previous[0]:.1f}x ({size // previous[2]}x)", f"{theirs / previous[1]:.1f}x")
                    rows.append([engine, f"{size} x 10", fmt, f"{path.stat().st_size / 1024:.0f}",
                                 f"{ours * 1000:.0f}", f"{ours / size * 1e6:.0f}", f"{theirs * 1000:.0f}",
                                 f"{ours / theirs:.2f}", *growth,
                                 f"{peak:.1f}", f"{config / 1024:.0f}", f"{peak * 1024**2 / config:.1f}"])
                    if size == max(sizes):
                        verdicts += size_verdicts(f"{engine} {fmt} {size} x 10", ours / theirs, peak * 1024**2 / config,
                                                  None if previous is None else (ours / previous[0],
                                                                                 size // previous[2]))
                        floors.append(floor_row(engine, fmt, path, max(runs, MIN_RUNS), ours, theirs,
                                                None if previous is None else (previous[3], size // previous[2])))
                    previous = (ours, theirs, size, path)
                    if fmt == "yaml":
                        largest = path
        assert largest is not None
        prof, shares = profile(largest), cumulative(largest)
    fence = "```" if args.markdown else ""
    bullet = "- " if args.markdown else ""
    out = [table(HEADERS, rows, markdown=args.markdown), "", *(bullet + v for v in verdicts), "",
           f"Where ctlplane's time goes at the largest size ({largest.name.split('.')[0]}), cumulative:", "",
           fence, shares, fence, "", "cProfile top 10 by tottime:", "", fence, prof, fence, "",
           f"The floor at the largest size: what the libraries the design fixes take on their own "
           f"(best of {max(runs, MIN_RUNS)}, garbage collector paused):", "",
           table(FLOOR_HEADERS, floors, markdown=args.markdown), "",
           *(bullet + floor_verdict(row) for row in floors)]
    text = "\n".join(line for line in out if line is not None)
    if args.markdown:
        text = header + f"  \nBest of {max(runs, MIN_RUNS)} (of {runs} for a build over a second); ctlplane " \
            "in-process (`load_file` + `read_assets` + `render_all`), the proxy check via " \
            "`ctlplane.validate.check_output` (stage the files in a temp dir, run `nginx -t` / " \
            "`haproxy -c`).\n\n" \
            + text
    publish(text, HEADING, DOC_INTRO, DOC_NOTES, write_docs=args.write_docs)
    return 0


DOC_INTRO = """\
Models of 10, 100 and 1,000 HTTP services x 10 servers (loopback IP addresses, no DNS names), one proxy.
Targets from the issue: ctlplane's own time at most 1x the proxy's own config check at 1,000 services /
10,000 servers, at most 10x the time for 10x the size, and a peak of memory at most 5x the rendered config."""

DOC_NOTES = """\
Reading it: the ratio columns are the measure (both sides ran in this run on the same machine). Done for this
issue: the YAML is read from libyaml's events straight into data (`model/yaml_events.py`: no node tree, no
position marks; positions are composed again only when an error needs one; a scalar and a plain key are
resolved without the node-compatible detour), a model written as JSON takes the C JSON parser, the cyclic
garbage collector is paused while a model loads and renders (its walks over the growing model were 10-20 % of
the time), IPv4 addresses are checked by a compiled pattern instead of `ipaddress`, HAProxy server lines are
printed in one loop, templates are not stat()ed per include, the Secure-cookie scan is linear, the escaping
filters quote a value with nothing to escape or refuse by one compiled match, durations are formatted once per
value, the NGINX view no longer copies each server's settings, the views are named tuples instead of frozen
dataclasses, and the server-line loops unpack each server's fields instead of looking each up through Jinja.

Fifth session of 2026-12-07 (a host as slow as the fourth's): the table was written after every HAProxy
HTTP frontend got four more rules (an HTTP/1.1 request without Host refused, the client's X-Forwarded-Host
dropped when it sent no Host, h2c upgrades not passed on). They cost HAProxy's own check of the 1,000-service
config 34 ms of CPU (144 -> 178 ms, median of 12, the two renders alternated), so HAProxy's ratios fell
(1.61 -> 1.39 from JSON) without ctlplane getting faster. After this table was written the rules moved to the
shared defaults section (`haproxy_shared`), which HAProxy parses once: its check of that config is back at
142 ms of CPU (the three renders alternated, median of 12), so this table's HAProxy rows are measured against
a check about 25 % slower than the current one, and their ratios are that much too low.

Third session of 2026-12-07: a field whose default is a model object (a service's limits, timeouts, retries,
headers; a pool's health and balance) shares one immutable default instead of building and validating about
10,000 equal ones (`Model.model_validate` 41.7 -> 27.0 ms, the validated model 13 -> 8 MiB); a canonical
dotted quad is accepted in one call; NGINX's protocol check walks a service's locations only when it has a
header route; Jinja keeps its templates in a plain dict; the error-page checks stop when no pool answers its
own 503; a server block or frontend prints a partial only when the view gave it something to print; the server
lines of both engines are built in one loop per pool. Together, alternated with the checkout before them: NGINX
from JSON 218 -> 189 ms, from YAML 300 -> 269, HAProxy from JSON 172 -> 140, from YAML 251 -> 217, before the
last three.

Fourth session of 2026-12-07: every partial of the templates is a macro the templates call, not an include. An
include copies the whole context into a new one and relays each line it prints through one generator per
level of nesting (an NGINX location line passed through four); a macro returns its text whole. Alternated
three times with the checkout before, best of 15, 1,000 services from JSON: Jinja printing NGINX 149-161 ->
96-97 ms, HAProxy 103-109 -> 76-77; the whole build NGINX 490-510 -> 433-440 ms, HAProxy 370-395 -> 342-359.
The NGINX view computes a service's server-level request and hidden headers once instead of again for each
location compared with them (view 170-176 -> 156-163 ms). Every golden is byte-identical.

The ratio is Python's time against a C program's, and it moves with the host, not only with the code. The
same checkout (`cf4a0a7`) gave HAProxy from JSON 0.96 and NGINX from JSON 1.16 on the machine of the third
session, and 1.87 and 2.15 on the machine of the fourth (same kind: 2 cores, the same Python, nginx and
HAProxy builds): there ctlplane's build took 135 and 174 ms, here 369 and 472 ms (2.7x), while `haproxy -c`
and `nginx -t` took 140 and 149 ms there, 198 and 220 ms here (1.4-1.5x). The floor table shows the same
shift without any of ctlplane's own code: the libraries took 0.34-0.73x the check there and 0.59-1.54x here,
depending also on the minute (a pure-Python loop of 5 million additions took 0.76-1.24 s on the same host
within one hour).

Whether 1.0x is reachable is what the floor table asks. Its first three columns are what the libraries the
design fixes take on their own, for the same model: libyaml's events through PyYAML's C parser (about 100,000
of them, built as Python objects and dropped) or `json.loads`, pydantic validating the parsed data into the
Model's classes with the Model's types and constraints but without ctlplane's validators
(`scale_floor.library_validator`, tested in `tests/test_bench_floor.py`), and Jinja printing the finished
view with ctlplane's templates (so that column fell with the macros: 145 -> 109 ms for NGINX here). On the
host of the fourth session the libraries alone take more than the proxy's check from YAML (1.1-1.5x in four
runs): there the YAML rows cannot be met whatever ctlplane's own code does. On the
host of the third session they took 0.69-0.73x, and a loop doing the least any builder must (one type test
per event, containers on a stack, no scalar typed) took 77 ms on the HAProxy model against 53 ms for the
events alone and 81 ms for ctlplane's builder: with pydantic and Jinja about 0.9x the check before any cross
check, engine check or view. From JSON the libraries leave ctlplane's own work about 0.4x the check on the
slower host and 0.6x on the faster one; it takes 1.1-1.2x on the slower and 0.6-0.75x on the faster. Sampled
with py-spy (NGINX from JSON, 1,000 services, 30 builds), that work is spread: the view 36 % of the build
(`http_service` 25 %), the engine checks 13 %, the cross-reference checks 4 %, and no function of ctlplane's
above 4.3 % by its own time (the escaping filter `nq`, called for 25,000 values).

The second target, 10x the time for 10x the size: the floor table's last column is the libraries' own growth
from 100 to 1,000 services, measured in the same run. The libraries alone took 9.2-10.8x the time for 10x the
size in the runs of the fourth session (pydantic's validation 11-12x, `json.loads` 9-11x, measured apart), and
ctlplane's build 9.8-10.4x (10.3-11.1x in the run written in the third session): both sit on the line, within
the noise of a 30-70 ms measurement on a host whose speed drifts within a run. What lies above 10.0x is
the cost per object growing with the working set, which the libraries show as well. Peak memory,
against the 5x target: while the model is validated, the parsed data (3.9 MiB for 1,000 services x 10,000
servers, from JSON or YAML) and the validated model (8.0 MiB of pydantic objects with their field
dictionaries; `tracemalloc`) are both alive, 11.9 MiB, more than 5x the HAProxy config (8.6 MiB) and the
NGINX one (10.8 MiB) before anything is rendered: the target cannot be met while pydantic validates parsed
data into model objects."""

if __name__ == "__main__":
    sys.exit(main())
