"""The floor under ctlplane's time at scale: what the libraries the design fixes take on their own.

For one model (YAML or JSON) and one engine, best of N with the garbage collector paused (as ctlplane's
own load and render run): reading the text with nothing built (libyaml's events through PyYAML's C parser,
or ``json.loads``), pydantic validating the parsed data into the Model, and Jinja printing the finished
view with ctlplane's templates. Their sum is a floor: however fast ctlplane's own Python (the event
builder, cross and engine checks, the views) became, its time could not fall below it. Set beside the
proxy's own config test of the same output, it says whether the 1.0x target is reachable at all, and how
much time ctlplane's own work would have left.
"""

from __future__ import annotations

import gc
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yaml.cyaml import CParser

from ctlplane.model.assets import read_assets
from ctlplane.model.load import load_file, parse_yaml
from ctlplane.model.root import Model
from ctlplane.render.env import render_template

FLOOR_HEADERS = ["engine", "format", "read text ms", "pydantic ms", "Jinja print ms", "floor ms", "proxy check ms",
                 "floor / proxy", "ctlplane ms", "ctlplane's own ms", "own ms the target leaves"]


def best_paused(runs: int, action: Callable[[], Any]) -> float:
    """The shortest wall time (seconds) of ``runs`` calls, the cyclic garbage collector paused in each."""
    best = math.inf
    for _ in range(runs):
        gc.disable()
        try:
            started = time.perf_counter()
            action()
            best = min(best, time.perf_counter() - started)
        finally:
            gc.enable()
    return best


def yaml_events(text: str) -> int:
    """Every libyaml event of ``text``, built as Python objects and dropped: the least any YAML reading costs."""
    parser, count = CParser(text), 0
    try:
        while parser.check_event():
            parser.get_event()
            count += 1
    finally:
        parser.dispose()
    return count


def print_view(engine: str, path: Path) -> Callable[[], str]:
    """Jinja printing the finished view of ``path``'s one proxy (the view is built once, outside the timing)."""
    loaded = load_file(path)
    model, assets = loaded.model, read_assets(loaded)
    proxy = model.proxies[0]
    if engine == "nginx":
        from ctlplane.render.nginx_view import nginx_view

        conf = nginx_view(model, proxy, assets)
        return lambda: render_template("nginx/nginx.conf.j2", conf=conf)
    from ctlplane.render.haproxy_view import build_view

    view = build_view(model, proxy)
    return lambda: render_template("haproxy/haproxy.cfg.j2", view=view)


def floor_row(engine: str, fmt: str, path: Path, runs: int, ours: float, theirs: float) -> list[str]:
    """One row of :data:`FLOOR_HEADERS`; ``ours`` and ``theirs`` are the scale table's times (seconds)."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if fmt == "json" else parse_yaml(text, str(path))[0]
    read = best_paused(runs, (lambda: json.loads(text)) if fmt == "json" else (lambda: yaml_events(text)))
    validate = best_paused(runs, lambda: Model.model_validate(data))
    jinja = best_paused(runs, print_view(engine, path))
    floor = read + validate + jinja
    own = ours - floor
    return [engine, fmt, *(f"{t * 1000:.0f}" for t in (read, validate, jinja, floor, theirs)), f"{floor / theirs:.2f}",
            f"{ours * 1000:.0f}", f"{own * 1000:.0f}", f"{max(0.0, theirs - floor) * 1000:.0f}"]


def floor_verdict(row: list[str]) -> str:
    engine, fmt, ratio, own, left = row[0], row[1], float(row[7]), row[9], row[10]
    if ratio >= 1.0:
        return (f"{engine} {fmt}: the libraries alone take {ratio:.2f}x the proxy's check: the 1.0x target cannot be "
                "met whatever ctlplane's own code does")
    return (f"{engine} {fmt}: the libraries take {ratio:.2f}x the proxy's check; the target leaves ctlplane's own "
            f"work {left} ms, it takes {own} ms")
