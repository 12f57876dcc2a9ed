"""The floor under ctlplane's time at scale: what the libraries the design fixes take on their own.

For one model (YAML or JSON) and one engine, best of N with the garbage collector paused (as ctlplane's
own load and render run): reading the text with nothing built (libyaml's events through PyYAML's C parser,
or ``json.loads``), pydantic validating the parsed data into the Model's classes with the Model's types and
constraints but without ctlplane's own validators (:func:`library_validator`: the field checks and the
cross-reference checks are ctlplane's Python, run by pydantic), and Jinja printing the finished view with
ctlplane's templates. Their sum is a floor: however fast ctlplane's own Python (the event
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

from pydantic_core import SchemaValidator
from yaml.cyaml import CParser

from ctlplane.model.assets import read_assets
from ctlplane.model.load import load_file, parse_yaml
from ctlplane.model.root import Model
from ctlplane.render.env import render_template

FLOOR_HEADERS = ["engine", "format", "read text ms", "pydantic ms", "Jinja print ms", "floor ms", "proxy check ms",
                 "floor / proxy", "ctlplane ms", "ctlplane's own ms", "own ms the target leaves",
                 "floor growth (x size)"]


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


_FUNCTIONS = ("function-after", "function-before", "function-wrap")


def _without_functions(schema: Any) -> Any:
    """``schema`` (a pydantic-core schema) with every Python validator function taken out: a wrapped schema by
    the one it wraps, a plain function by ``any`` (keeping the reference other schemas name it by)."""
    if isinstance(schema, (list, tuple)):  # a union's choices may be (schema, label) pairs
        return type(schema)(_without_functions(item) for item in schema)
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if kind in _FUNCTIONS or kind == "function-plain":
        inner = _without_functions(schema["schema"]) if kind in _FUNCTIONS else {"type": "any"}
        if "ref" in schema:
            if "ref" in inner:
                raise ValueError(f"two references on one schema: {schema['ref']}, {inner['ref']}")
            inner = {**inner, "ref": schema["ref"]}
        return inner
    return {key: _without_functions(value) for key, value in schema.items()}


def _model_classes(schema: Any, found: set[type]) -> set[type]:
    if isinstance(schema, (list, tuple)):
        for item in schema:
            _model_classes(item, found)
    elif isinstance(schema, dict):
        if schema.get("type") == "model":
            found.add(schema["cls"])
        for value in schema.values():
            _model_classes(value, found)
    return found


def library_validator() -> SchemaValidator:
    """pydantic-core validating data into the Model's classes, with its types, patterns and bounds, without
    ctlplane's Python validators: the library's own share of ``Model.model_validate``.

    pydantic-core reuses the validator a model class already built (one built by a default, or by a test)
    instead of building one from the schema it is given, functions and all; the classes are marked
    incomplete while this one is built, so that every part of it comes from the stripped schema."""
    Model.model_rebuild(force=True)  # the Model defers building its schema (start-up time)
    schema = Model.__pydantic_core_schema__
    classes = _model_classes(schema, set())
    complete = {cls: cls.__dict__.get("__pydantic_complete__") for cls in classes}
    try:
        for cls in classes:
            cls.__pydantic_complete__ = False
        return SchemaValidator(_without_functions(schema))
    finally:
        for cls, was in complete.items():
            if was is None:
                delattr(cls, "__pydantic_complete__")
            else:
                cls.__pydantic_complete__ = was


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


def library_times(engine: str, fmt: str, path: Path, runs: int, library: SchemaValidator) -> tuple[float, float, float]:
    """Reading the text, pydantic's own validation and Jinja's printing of ``path``, seconds, best of ``runs``."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if fmt == "json" else parse_yaml(text, str(path))[0]
    read = best_paused(runs, (lambda: json.loads(text)) if fmt == "json" else (lambda: yaml_events(text)))
    validate = best_paused(runs, lambda: library.validate_python(data))
    return read, validate, best_paused(runs, print_view(engine, path))


def floor_row(engine: str, fmt: str, path: Path, runs: int, ours: float, theirs: float,
              smaller: tuple[Path, int] | None = None) -> list[str]:
    """One row of :data:`FLOOR_HEADERS`; ``ours`` and ``theirs`` are the scale table's times (seconds). With
    ``smaller`` (the same model at a smaller size, and how many times smaller it is) the floor's own growth too:
    what the libraries alone take for that many times the size, set beside the growth target."""
    library = library_validator()
    read, validate, jinja = library_times(engine, fmt, path, runs, library)
    floor = read + validate + jinja
    own = ours - floor
    growth = "-"
    if smaller is not None:
        growth = f"{floor / sum(library_times(engine, fmt, smaller[0], runs, library)):.1f}x ({smaller[1]}x)"
    return [engine, fmt, *(f"{t * 1000:.0f}" for t in (read, validate, jinja, floor, theirs)), f"{floor / theirs:.2f}",
            f"{ours * 1000:.0f}", f"{own * 1000:.0f}", f"{max(0.0, theirs - floor) * 1000:.0f}", growth]


def floor_verdict(row: list[str]) -> str:
    engine, fmt, ratio, own, left, growth = row[0], row[1], float(row[7]), row[9], row[10], row[11]
    grows = ""
    if growth != "-":
        times, size = growth.rstrip(")").split(" (")
        grows = f"; for {size} the size the libraries alone take {times} the time"
    if ratio >= 1.0:
        return (f"{engine} {fmt}: the libraries alone take {ratio:.2f}x the proxy's check: the 1.0x target cannot be "
                f"met whatever ctlplane's own code does{grows}")
    return (f"{engine} {fmt}: the libraries take {ratio:.2f}x the proxy's check; the target leaves ctlplane's own "
            f"work {left} ms, it takes {own} ms{grows}")
