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
    runs = runs if best_of(1, lambda: build(path)) >= 1.0 else max(runs, 15)
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
                        floors.append(floor_row(engine, fmt, path, runs, ours, theirs))
                    previous = (ours, theirs, size)
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
           f"(best of {runs}, garbage collector paused):", "", table(FLOOR_HEADERS, floors, markdown=args.markdown), "",
           *(bullet + floor_verdict(row) for row in floors)]
    text = "\n".join(line for line in out if line is not None)
    if args.markdown:
        text = header + f"  \nBest of {runs}; ctlplane in-process (`load_file` + `read_assets` + `render_all`), " \
            "the proxy check via `ctlplane.validate.check_output` (stage the files in a temp dir, run `nginx -t` / " \
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

Whether 1.0x is reachable at all is what the floor table answers. Its first three columns are what the
libraries the design fixes take on their own, for the same model: libyaml's events through PyYAML's C parser
(about 100,000 of them, built as Python objects and dropped) or `json.loads`, pydantic validating the parsed
data into the Model, and Jinja printing the finished view with ctlplane's templates. For NGINX from YAML, and
now for HAProxy from YAML too, their sum alone is more than the proxy's own check of the result: the target
cannot be met with PyYAML, pydantic and Jinja. For the two JSON rows the floor leaves ctlplane's own Python (the
event builder, the cross and engine checks that keep every setting an engine cannot honour from passing
silently, and the views that make every decision) the time in the last column, less than half of what
ctlplane's own code takes (the event builder, and the cross and engine checks, about 25 ms, are part of it).
The HAProxy rows moved on 2026-12-07 (second session) for a reason on the other side of the ratio: the config
became cheaper for HAProxy to check. `haproxy -c` of the 1,000-service config took 216-231 ms in the runs
before and about 135 ms now, because HAProxy's built-in HTTP client no longer loads the system's CA bundle
(`httpclient.ssl.verify none`) and the first rules of alike frontends are parsed once, in a named defaults
section (`haproxy_shared`; the config is 1,756 KiB instead of 2,384). ctlplane's own time fell as well (from
JSON 212 -> 178 ms, from YAML 334 -> 252 ms, the machine also faster today) but less, so the HAProxy-from-JSON
ratio went from 0.98 (met, the run before) to about 1.3. The same two changes make every HAProxy reload parse
less, which is what an operator waits for (see Edit-to-traffic latency). What ctlplane's own time is made of is in
the profile above: thousands of small functions and records, a dozen helpers per service, none of them more
than a few per cent. The second target, 10x the time for 10x the size, is about linearity, and this
column is noisy: a build of 100 services takes 20-40 ms, and the time per service at 1,000 moved as much
between three runs on one day (NGINX from JSON: 279, 292 and 346 us) as between sizes. Measured apart, best of
5 on JSON models of 100, 300, 1,000 and 2,000 services (`build()` of this script), the time per service stayed
flat: NGINX 344, 340, 318, 335 us, HAProxy 225, 224, 240, 253 us. The work is linear; what is left above 10.0x
is the cost per object growing a little with the working set (26 MiB at 1,000 services against about 3 MiB at
100), not an algorithm. Peak memory, against the 5x target: the validated model alone is about 13 MiB here
(10,000 pydantic objects with their field dictionaries, measured with `tracemalloc`), already more than 5x a
1.7-2.2 MB config, so the target cannot be met while the model is made of pydantic objects; the YAML path no
longer adds a node tree (its peak fell from about 36 MiB to 6 MiB for the model text alone)."""

if __name__ == "__main__":
    sys.exit(main())
