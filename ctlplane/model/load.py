"""Reading a model file: YAML text to a validated :class:`Model`, with every
error pointing at ``file:line:col`` and the field path.

The YAML is read from libyaml's events straight into data
(:mod:`ctlplane.model.yaml_events`), or, when positions are wanted, composed
into a node tree and converted by hand; both read and refuse the same.
Anchors referenced by aliases are refused (no "billion laughs"), as are
duplicate keys, non-scalar keys, files that are empty, not text, or larger
than :data:`MAX_BYTES`. Positions are only needed to report a problem, so they
are found lazily: :class:`LazyPositions` composes the text again, recording
where each value sits, the first time a location is asked for. A model that is
plain JSON (a subset of YAML, what generators write) takes a fast path through
the C JSON parser; anything JSON and YAML 1.1 might read differently (floats,
duplicate keys, non-finite numbers) falls back to the YAML path, so both paths
always give the same data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ctlplane.errors import Finding, ModelError
from ctlplane.gc_pause import paused_gc
from ctlplane.model.engines import engine_problems
from ctlplane.model.root import Model
from ctlplane.model.yaml_events import EMPTY, scalar_value
from ctlplane.model.yaml_events import build as build_from_events

MAX_BYTES = 8 * 1024 * 1024
Loc = tuple[str | int, ...]
Positions = dict[Loc, tuple[int, int]]  # field path -> (line, column)

if TYPE_CHECKING:
    _BaseLoader = yaml.SafeLoader
else:  # libyaml's C parser when PyYAML was built with it
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVED: dict[str, str] = {}


class _Loader(_BaseLoader):
    """The safe loader with implicit scalar tags memoized: a large model repeats the same scalars (ports,
    weights, keywords) thousands of times, and resolving each one runs a list of regular expressions."""

    def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit == (True, False):
            tag = _RESOLVED.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
                if len(_RESOLVED) < 200_000:
                    _RESOLVED[value] = tag
            return tag
        return str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]  # as above


class LazyPositions(Mapping[Loc, tuple[int, int]]):
    """Field path -> (line, column) of a model text, found the first time one is asked for."""

    def __init__(self, text: str, name: str) -> None:
        self._text, self._name = text, name
        self._found: Positions | None = None

    def _positions(self) -> Positions:
        if self._found is None:
            self._found = parse_yaml(self._text, self._name, positions=True)[1]
        return self._found

    def __getitem__(self, key: Loc) -> tuple[int, int]:
        return self._positions()[key]

    def __iter__(self) -> Iterator[Loc]:
        return iter(self._positions())

    def __len__(self) -> int:
        return len(self._positions())


@dataclass(frozen=True)
class Loaded:
    """A validated model and where each of its values came from."""

    model: Model
    file: str
    positions: Mapping[Loc, tuple[int, int]] = field(repr=False)

    @property
    def base_dir(self) -> Path:
        """The model's directory as the user named it (symlinks kept: a Kubernetes ``..data`` swap works)."""
        return Path(os.path.abspath(self.file)).parent


def load_file(path: str | Path) -> Loaded:
    """Read, parse and validate a model file (stage 1 of validation, without file checks)."""
    name = str(path)
    try:
        raw = Path(path).read_bytes() if Path(path).stat().st_size <= MAX_BYTES else None
    except OSError as exc:
        raise ModelError("cannot read model", [Finding(f"cannot read: {exc.strerror or exc}", file=name)]) from exc
    if raw is None:
        raise ModelError("model too large", [Finding(f"file is larger than {MAX_BYTES // 1024**2} MiB", file=name)])
    return load_bytes(raw, name)


@paused_gc
def load_bytes(raw: bytes, name: str = "<model>") -> Loaded:
    """Parse and validate model bytes; ``name`` is used in error locations."""
    if len(raw) > MAX_BYTES:
        raise ModelError("model too large", [Finding(f"larger than {MAX_BYTES // 1024**2} MiB", file=name)])
    if b"\0" in raw:
        raise ModelError("not a text file", [Finding("not a YAML text file (contains NUL bytes)", file=name)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError("not UTF-8", [Finding(f"not UTF-8 text (byte {exc.start})", file=name)]) from exc
    positions = LazyPositions(text, name)
    data = _json(text)
    if data is None:
        data = parse_yaml(text, name)[0]
    return Loaded(validate_data(data, positions, name), name, positions)


class _NotPlainJson(ValueError):
    """Something the JSON fast path leaves to the YAML parser."""


def _refuse(value: str) -> Any:
    raise _NotPlainJson(value)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _NotPlainJson("duplicate key")  # the YAML path reports it with its line
    return out


def _json(text: str) -> dict[str, Any] | None:
    """A plain-JSON model's data (the C parser: ~100x the YAML path), else None. Floats and non-finite numbers
    go to the YAML path, which reads them as YAML 1.1 does ('1e3' is a string there)."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_float=_refuse, parse_constant=_refuse)
    except (ValueError, RecursionError):  # not plain JSON (comments, YAML syntax, ...), or left to YAML
        return None
    return data if isinstance(data, dict) else None


def parse_yaml(text: str, name: str, *, positions: bool = False) -> tuple[Any, Positions]:
    """YAML text to plain data, and (with ``positions``) a map from field path to (line, column), 1-based."""
    loader = _Loader(text)
    found: Positions = {}
    try:
        if positions:
            node = loader.get_single_node()
            data = EMPTY if node is None else _convert(loader, node, (), found, set(), name)
        else:
            data = build_from_events(loader, name)  # the same data, without a node tree
        if data is EMPTY:
            raise ModelError("empty model", [Finding("the model file is empty", file=name, line=1)])
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        msg = f"YAML syntax error: {exc.problem or exc.context}"
        raise ModelError("YAML syntax error", [Finding(msg, file=name, line=line, column=col)]) from exc
    except yaml.YAMLError as exc:
        raise ModelError("YAML error", [Finding(f"YAML error: {exc}", file=name)]) from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ModelError("not a mapping", [Finding("the model must be a YAML mapping", file=name, line=1, column=1)])
    return data, found


def _convert(loader: Any, node: yaml.Node, loc: Loc, positions: Positions | None, seen: set[int], name: str) -> Any:
    if id(node) in seen:
        raise ModelError("alias", [_at(node, "YAML anchors and aliases are not allowed in a model", name)])
    seen.add(id(node))
    if positions is not None:
        positions[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ModelError("merge key", [_at(key_node, "YAML merge keys ('<<') are not allowed", name)])
            if not isinstance(key_node, yaml.ScalarNode):
                raise ModelError("bad key", [_at(key_node, "mapping keys must be plain scalars", name)])
            key = str(key_node.value)
            if key in out:
                raise ModelError("duplicate key", [_at(key_node, f"duplicate key {key!r}", name)])
            out[key] = _convert(loader, value_node, (*loc, key), positions, seen, name)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, (*loc, i), positions, seen, name) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)  # the composer makes mappings, sequences and scalars only
    return _scalar(loader, node)


def _scalar(loader: Any, node: yaml.ScalarNode) -> Any:
    return scalar_value(loader, node.tag, node.value, node.start_mark, node.end_mark, node.style)


def _at(node: yaml.Node, message: str, name: str) -> Finding:
    return Finding(message, file=name, line=node.start_mark.line + 1, column=node.start_mark.column + 1)


def validate_data(data: dict[str, Any], positions: Mapping[Loc, tuple[int, int]], name: str) -> Model:
    """Plain data to a Model, or a ModelError listing every problem with its location."""
    try:
        model = Model.model_validate(data)
    except ValidationError as exc:
        raise ModelError("invalid model", [f for e in exc.errors() for f in _findings(e, positions, name)]) from exc
    problems = [locate(p.loc, p.message, positions, name) for p in engine_problems(model)]
    if problems:
        raise ModelError("the model asks for something an engine cannot do", problems)
    return model


def _findings(error: ErrorDetails, positions: Mapping[Loc, tuple[int, int]], name: str) -> list[Finding]:
    ctx = error.get("ctx") or {}
    if error["type"] == "cross_reference":
        return [locate(tuple(loc), msg, positions, name) for loc, msg in ctx["all"]]
    loc = tuple(error["loc"])
    return [locate(loc, _message(error), positions, name)]


def _message(error: ErrorDetails) -> str:
    kind, loc = error["type"], error["loc"]
    last = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        return f"unknown field {last!r}"
    if kind == "missing":
        return f"missing required field {last!r}"
    message = str(error["msg"])
    return message[len("Value error, "):] if message.startswith("Value error, ") else message


def locate(loc: Loc, message: str, positions: Mapping[Loc, tuple[int, int]], name: str) -> Finding:
    """A Finding for a pydantic location: the deepest YAML node on that path, and a readable field path."""
    kept: list[str | int] = []
    for part in loc:
        if (*kept, part) in positions:
            kept.append(part)
        elif isinstance(part, str) and part in _TAGS:
            continue  # a discriminated-union tag, not a key in the file
        else:
            kept.append(part)
    anchor = tuple(kept)
    while anchor and anchor not in positions:
        anchor = anchor[:-1]
    line, col = positions.get(anchor, (None, None))
    return Finding(printable(message), file=name, line=line, column=col, path=field_path(tuple(kept)) or None)


def printable(text: str) -> str:
    """Control and line-break characters escaped: an error echoing user input stays one harmless line."""
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


_TAGS = {"http", "tcp", "local", "docker", "round_robin", "weighted_round_robin", "least_connections", "random",
         "source_ip_hash", "hash", "cookie", "source_ip", "function-after", "function-before", "function-wrap",
         "function-plain"}


def field_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
