"""Putting a hostile value into a benign model and judging the outcome.

The judgement: either stage 1 (the model, its engine refusals and its files)
refuses the value with located one-line errors, or the rendered files have no
code-loading directive and exactly the structure (``structure.py``) they have
with the value's benign twin, the same text with every character that could
mean something to a config parser replaced by 'x' (when the twin itself is
refused, the benign base model is the reference). A value made only of
letters, digits and ``/ . * : -`` is its own twin: it cannot change syntax,
so only its rendering and the absence of code-loading directives are
checked. Anything else — a structure change, a refusal by the renderer's
filters instead of the model, an error without a location, or an error
message carrying control or line-break characters — is a hole.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import strategies as st

from ctlplane.errors import ModelError
from ctlplane.model.assets import read_assets
from ctlplane.model.load import Loaded, parse_yaml, validate_data
from ctlplane.render import render_all
from tests.security.base_models import BASES
from tests.security.checks import load
from tests.security.fields import Slot, slots, string_fields
from tests.security.structure import analyse, quick_code_loading, structure
from tests.security.world import World

# Known attack shapes: config syntax of both engines, variable expansion, line breaks of every kind, path
# traversal and absolute paths, code-loading directives, very long values.
CORPUS = (
    "a\nb", "a\r\nb", "a\rb", "a\tb", "a b", " a", "a ", "a\x0bb", "a\x0cb", "a\x1bb", "a\x00b", "\x00",
    "a\u2028b", "a\u2029b", "a\x85b", "\ufeffa", "\u00e9t\u00e9", "\U0001f600", "a\u200bb",
    "a;b", "a{b", "a}b", "a#b", 'a"b', "a'b", "a\\b", "a`b`", "a|b", "a&b", "a,b", "a=b", "a:b", "a@b", "a+b",
    "$var", "a$host", "${HOME}", "$(id)", "%[src]", "%[req.hdr(host)]", "%{+Q}o", "%%", "*", "~", "~*.*", "^a$",
    "ssl_engine", "load_module", "include", "lua-load", "external-check", "insecure-fork-wanted", "program",
    "include /etc/passwd", "load_module /tmp/x.so", "ssl_engine pkcs11", "lua-load /tmp/x.lua",
    "x; load_module /tmp/x.so", "x;\nload_module /tmp/x.so;", "x' lua-load '/tmp/a.lua", 'x" ssl_engine "y',
    "}\ninclude /etc/passwd;\n{", "x\n    lua-load /tmp/a.lua", "x if TRUE", "x }",
    "../", "..", ".", "./x", "x/..", "../../etc/passwd", "certs/../../etc/passwd", "/etc/passwd", "/etc",
    "/", "//etc/passwd", "/proc/self/environ", "/dev/zero", "/root/.ssh/id_rsa",
    "", "-", "--", "-n", "0", "00", "a" * 41, "a" * 64, "a" * 300, "x" * 5000, "A" * 64,
    "fe80::1%eth0", "::1%a b", "10.0.0.1/8;", "127.0.0.1 backup", "1.2.3.4:80", "0x7f.1", "010.0.0.1",
    "1.2.3.4/33", "256.1.1.1", "::ffff:1.2.3.4", "1e3s", "-1s", "5 s", "5S", "99999999999ms", "1k;", "10mb",
)
# The shapes the issue names, run on every slot in CI; CORPUS runs in `make proof`.
CORE = (
    "a\nb", "a;b", "a{b", "a}b", "a#b", 'a"b', "a'b", "a\\b", "$var", "%[src]", "${HOME}", "a\x00b", "a\rb",
    "a\u2028b", "a\x85b", "x" * 5000, "ssl_engine", "load_module", "include /etc/passwd", "lua-load",
    "x;\nload_module /tmp/x.so;", "x' lua-load '/tmp/a.lua", "../", "/etc/passwd", "a b",
)


@dataclass(frozen=True)
class Base:
    """A benign model as plain data, where its values sit in the YAML, and its rendered structure."""

    engine: str
    data: dict[str, Any]
    positions: dict[Any, tuple[int, int]]
    slots: tuple[Slot, ...]
    shapes: tuple[dict[str, Any], ...]  # per proxy, in model order


def make_base(engine: str, world: World) -> Base:
    model = load(BASES[engine](world), world).model
    data = model.model_dump(mode="json")
    _, positions = parse_yaml(yaml.safe_dump(data, sort_keys=False), world.model_file, positions=True)
    loaded = Loaded(validate_data(data, positions, world.model_file), world.model_file, positions)
    outputs = render_all(loaded.model, read_assets(loaded))
    shapes = tuple(structure(engine, outputs[p.name]) for p in loaded.model.proxies)
    return Base(engine, data, positions, tuple(slots(loaded.model, string_fields())), shapes)


def put(data: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """A copy of ``data`` with ``value`` at ``path`` (only the containers on the path are copied)."""
    if not path:
        return value
    out = copy.copy(data)
    out[path[0]] = put(data[path[0]], path[1:], value)
    return out


def rename_all(data: Any, old: str, new: str) -> Any:
    """Every string equal to ``old`` replaced by ``new`` (a name and all references to it)."""
    if isinstance(data, dict):
        return {k: rename_all(v, old, new) for k, v in data.items()}
    if isinstance(data, list):
        return [rename_all(v, old, new) for v in data]
    return new if data == old else data


SYNTAX_FREE = re.compile(r"[A-Za-z0-9/.*:-]*")  # characters with no syntactic meaning in any config language
# engine limit (refused by ctlplane/model/engine_limits.py; see test_engine_limits.py): pydantic echoes a bad discriminator tag verbatim in its message.
KNOWN_ECHO = re.compile(r"Input tag '.*' found using '\w+' does not match any of the expected tags", re.S)


def twin(value: str) -> str:
    """The benign twin of a value: every character with a possible syntactic meaning replaced by 'x'."""
    return "".join(c if SYNTAX_FREE.fullmatch(c) else "x" for c in value)


class Judge:
    """Judges hostile models against one base; the rendering of benign twins is cached."""

    def __init__(self, base: Base, world: World) -> None:
        self.base = base
        self.world = world
        self._benign: dict[str, tuple[str, Any]] = {}

    def outcome(self, data: dict[str, Any], shapes: bool) -> tuple[str, Any]:
        """('refused', ModelError) or ('rendered', {proxy index: structure or None}); RenderError propagates."""
        try:
            model = validate_data(data, self.base.positions, self.world.model_file)
            loaded = Loaded(model, self.world.model_file, self.base.positions)
            assets = read_assets(loaded)
        except ModelError as exc:
            return "refused", exc
        outputs = render_all(model, assets)  # a RenderError here means the model let a bad value through
        result = {}
        for i, proxy in enumerate(model.proxies):
            files = outputs[proxy.name]
            shape, found = analyse(self.base.engine, files) if shapes else (None, quick_code_loading(
                self.base.engine, files))
            assert not found, f"code-loading directive rendered: {found}"
            result[i] = shape
        return "rendered", result

    def __call__(self, data: dict[str, Any], benign: dict[str, Any] | None) -> str:
        """'refused' (with a clear error), 'same' (the structure of ``benign``, else of the base model) or
        'plain' (a value without any syntax character: rendered without code loading; nothing to compare)."""
        kind, result = self.outcome(data, shapes=benign is not None)
        if kind == "refused":
            assert_clear(result)
            return "refused"
        if benign is None:
            return "plain"
        key = repr(benign)
        if key not in self._benign:
            self._benign[key] = self.outcome(benign, shapes=True)
        other_kind, other = self._benign[key]
        expected = other if other_kind == "rendered" else dict(enumerate(self.base.shapes))
        for i, shape in result.items():
            assert shape == expected.get(i), f"proxy {i}: the rendered structure differs from the benign twin's"
        return "same"


def assert_clear(exc: ModelError) -> None:
    assert exc.findings, f"an error without findings: {exc.message!r}"
    for finding in exc.findings:
        line = finding.one_line()
        assert finding.message.strip(), "an empty message"
        assert finding.path and finding.line, f"an error without its location: {line!r}"
        if KNOWN_ECHO.search(finding.message):
            continue
        bad = [c for c in line if unicodedata.category(c) in ("Cc", "Zl", "Zp")]
        assert not bad, f"an error with control or line-break characters {bad!r}: {line!r}"


def cases(base: Base, values: Iterable[str]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """(label, hostile data, benign twin data or None) for every slot of ``base`` and every value."""
    values = list(values)
    for path, cls, field in base.slots:
        for value in values:
            benign = None if twin(value) == value else put(base.data, path, twin(value))
            yield f"{cls}.{field} at {path} = {_short(value)}", put(base.data, path, value), benign


def rename_cases(base: Base, values: Iterable[str]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """The same, with each value in place of a name everywhere it is used (so a renamed pool is still found)."""
    values = list(values)
    strings = list(_strings(base.data))
    for old in sorted({v for v in strings if strings.count(v) > 1 and NAME.fullmatch(v)}):
        for value in values:
            benign = None if twin(value) == value else rename_all(base.data, old, twin(value))
            yield f"every {old!r} = {_short(value)}", rename_all(base.data, old, value), benign


NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


def _short(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for v in data.values():
            yield from _strings(v)
    elif isinstance(data, list):
        for v in data:
            yield from _strings(v)
    elif isinstance(data, str):
        yield data


SPECIAL = "\n\r\t\x00\x0b\x0c\x1b\x7f\x85\u2028\u2029\ufeff \"'\\;{}#$%[](),=:@+*~`|&<>!?^/.-_"


def hostile_text() -> st.SearchStrategy[str]:
    """Arbitrary text with at least one character that could mean something to a config parser."""
    safe = st.text(st.characters(codec="utf-8"), max_size=20)
    return st.one_of(
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=80),
        st.builds(lambda a, s, b: a + s + b, safe, st.text(st.sampled_from(SPECIAL), min_size=1, max_size=4), safe),
        st.builds(lambda a, s, b: a + s + b, st.sampled_from(["ssl_engine", "include", "lua-load", "x", "/etc"]),
                  st.sampled_from(SPECIAL), st.sampled_from(["load_module /tmp/x.so", "y", "", "/passwd"])),
    ).filter(lambda v: twin(v) != v)
