"""No raw-snippet field exists, and no code-loading directive can be produced.

* Every string a model holds is an allow-list type: each string-typed field
  (walked from the model's classes) carries an anchored pattern, a fixed set
  of values, or one of the parsers for IP addresses and networks.
* The templates contain no code-loading directive (NGINX ``include``,
  ``ssl_engine``, ``*_by_lua*``, ``perl*``, ``js_*``; HAProxy ``lua-load``,
  ``external-check``, ``insecure-fork-wanted``, ``program`` ...) except the
  single ``load_module {{ module }};`` line of ``nginx.conf.j2``.
* That line prints ``NginxConf.load_modules``, which the view only ever sets
  to ``(STREAM_MODULE,)`` or ``()``; STREAM_MODULE is a string constant. So no
  model value can reach it (the property and hostile tests also check every
  rendered file: load_module appears exactly when a tcp service exists, with
  that one path).
"""

from __future__ import annotations

import ast
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic.functional_validators import BeforeValidator

from ctlplane.model import types as model_types
from ctlplane.model.root import Model
from ctlplane.render import nginx_view
from tests.helpers import ROOT
from tests.security.structure import HAPROXY_CODE, HAPROXY_METRICS_LINE, NGINX_CODE

PARSERS = {model_types._check_ip, model_types._check_server_address, model_types._check_cidr,
           model_types._check_vip}
TEMPLATES = ROOT / "templates"


def _strict(metadata: list[Any]) -> bool:
    for item in metadata:
        if isinstance(item, FieldInfo) and _strict(item.metadata):
            return True
        if getattr(item, "pattern", None):
            pattern = item.pattern
            assert pattern.startswith("^") and pattern.endswith("$"), f"unanchored pattern {pattern!r}"
            return True
        if isinstance(item, BeforeValidator) and item.func in PARSERS:
            return True
    return False


def _string_leaves(annotation: Any, metadata: list[Any]) -> Iterator[tuple[Any, list[Any]]]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *more = typing.get_args(annotation)
        yield from _string_leaves(inner, metadata + list(more))
    elif origin in (typing.Union, types.UnionType, list, dict):  # dict: keys and values (label selectors)
        for arg in typing.get_args(annotation):
            yield from _string_leaves(arg, metadata)
    else:
        yield annotation, metadata


def test_every_string_field_is_an_allow_list_type() -> None:
    loose: list[str] = []
    seen: set[type] = set()

    def walk(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for name, info in cls.model_fields.items():
            for leaf, metadata in _string_leaves(info.annotation, list(info.metadata)):
                if isinstance(leaf, type) and issubclass(leaf, BaseModel):
                    walk(leaf)
                elif typing.get_origin(leaf) is Literal:
                    continue
                elif leaf is str and not _strict(metadata):
                    loose.append(f"{cls.__name__}.{name}")
                elif leaf is not str:
                    assert leaf in (int, float, bool, type(None)), f"{cls.__name__}.{name}: unexpected type {leaf!r}"

    walk(Model)
    assert len(seen) > 20
    assert not loose, f"free-text string fields (a raw snippet could pass): {loose}"


def _template_text_outside_expressions(path: Path) -> str:
    """The template's literal text, each tag, expression and comment blanked (keeping its line breaks, so that
    line numbers still match the file's)."""
    return re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", lambda m: " " + "\n" * m[0].count("\n"), path.read_text(),
                  flags=re.S)


def test_templates_hold_no_code_loading_directive_but_the_stream_module() -> None:
    templates = sorted(TEMPLATES.rglob("*.j2"))
    assert len(templates) > 20
    load_module_lines = []
    metrics_lines: list[str] = []
    for path in templates:
        engine = path.parent.name
        words = NGINX_CODE if engine == "nginx" else HAPROXY_CODE if engine == "haproxy" else {"script"}
        for number, line in enumerate(path.read_text().splitlines(), 1):
            first = line.split(None, 1)[0] if line.strip() else ""
            if first == "load_module":
                load_module_lines.append((path.relative_to(TEMPLATES).as_posix(), line.strip()))
                continue
            if engine == "haproxy" and line.strip() == HAPROXY_METRICS_LINE:  # the built-in exporter, fixed text
                metrics_lines.append(path.relative_to(TEMPLATES).as_posix())
                continue
            if engine == "keepalived" and first == "script":
                assert line.strip() == 'script "{{ v.script.command }}"', line  # checked against a regex
                continue
            plain = _template_text_outside_expressions(path).splitlines()[number - 1]
            tokens = set(re.findall(r"[A-Za-z0-9_.-]+", plain))
            assert not tokens & words, f"{path.relative_to(TEMPLATES)}:{number}: {line.strip()}"
            assert "lua" not in plain.lower(), f"{path.relative_to(TEMPLATES)}:{number}: {line.strip()}"
    assert load_module_lines == [("nginx/nginx.conf.j2", "load_module {{ module }};")]
    assert metrics_lines == ["haproxy/_metrics.j2"]
    assert "{% for module in conf.load_modules %}" in (TEMPLATES / "nginx" / "nginx.conf.j2").read_text()


def test_load_modules_is_only_ever_the_stream_module_constant() -> None:
    assert nginx_view.STREAM_MODULE == "/usr/lib/nginx/modules/ngx_stream_module.so"
    source = Path(nginx_view.__file__).read_text()
    tree = ast.parse(source)
    constant = [node for node in ast.walk(tree) if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "STREAM_MODULE" for t in node.targets)]
    assert len(constant) == 1 and isinstance(constant[0].value, ast.Constant)
    uses = [kw.value for node in ast.walk(tree) if isinstance(node, ast.Call) for kw in node.keywords
            if kw.arg == "load_modules"]
    assert len(uses) == 1
    names = {n.id for n in ast.walk(uses[0]) if isinstance(n, ast.Name)}
    constants = [n for n in ast.walk(uses[0]) if isinstance(n, ast.Constant)]
    assert names <= {"STREAM_MODULE", "stream"} and not constants, ast.unparse(uses[0])
    render_dir = Path(nginx_view.__file__).parent
    mentions = [p.name for p in render_dir.glob("*.py") if "load_modules" in p.read_text()]
    assert mentions == ["nginx_view.py"], mentions
