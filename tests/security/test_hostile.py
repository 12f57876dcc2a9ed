"""Hostile strings into every string field of the model.

The string fields are found by walking the model's classes and JSON schema
(``fields.py``); two benign base models set every one of them (a test fails
when a field exists that they do not set, so a new field is covered the day
it is added). Each hostile value goes into each slot, and also in place of a
name everywhere it is used; ``hostile.Judge`` demands a located one-line
refusal or an unchanged structure (crossplane for NGINX, HAProxy's word
rules for HAProxy) with no code-loading directive. CI runs the attack shapes
the issue names (``CORE``) plus hypothesis-generated strings; ``make proof``
runs the whole ``CORPUS`` and many more generated strings.
"""

from __future__ import annotations

import functools
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctlplane.errors import RenderError
from tests.security.checks import EXAMPLES
from tests.security.fields import string_fields
from tests.security.hostile import (CORE, CORPUS, Base, Judge, cases, hostile_text, make_base, put,
                                    rename_cases, twin)
from tests.security.world import World

PROOF = bool(os.environ.get("CTLPLANE_PROOF_EXAMPLES"))
VALUES = CORPUS if PROOF else CORE
FIELDS = sorted(string_fields())


@functools.cache
def _judge(engine: str, base_dir: str) -> Judge:
    world = _WORLDS[base_dir]
    return Judge(make_base(engine, world), world)


_WORLDS: dict[str, World] = {}


def judge_for(engine: str, world: World) -> Judge:
    _WORLDS[str(world.base)] = world
    return _judge(engine, str(world.base))


def test_every_string_field_is_set_by_a_base_model(world: World) -> None:
    covered = {(cls, name) for engine in ("nginx", "haproxy") for _, cls, name in judge_for(engine, world).base.slots}
    missing = sorted(set(FIELDS) - covered)
    assert not missing, f"string fields no hostile test reaches (set them in base_models.py): {missing}"


def test_the_field_walk_finds_the_known_kinds_of_strings() -> None:
    fields = set(FIELDS)
    for expected in [("Pool", "name"), ("Route", "host"), ("HeaderMatch", "value"), ("Certificate", "key"),
                     ("Static", "root"), ("Timeouts", "connect"), ("Cache", "max_size"), ("Proxy", "workers"),
                     ("Files", "allowed_bases"), ("Pair", "auth_password"), ("DockerRuntime", "image")]:
        assert expected in fields


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f"{f[0]}.{f[1]}")
def test_known_attack_shapes_in_every_field(field: tuple[str, str], world: World) -> None:
    seen = 0
    for engine in ("nginx", "haproxy"):
        judge = judge_for(engine, world)
        base = judge.base
        one = Base(base.engine, base.data, base.positions, tuple(s for s in base.slots if s[1:] == field),
                   base.shapes)
        for label, data, benign in cases(one, VALUES):
            seen += 1
            try:
                judge(data, benign)
            except (AssertionError, RenderError) as exc:
                pytest.fail(f"{engine}: {label}: {exc}")
    assert seen, f"{field} was not reached"


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_known_attack_shapes_as_renamed_names(engine: str, world: World) -> None:
    judge = judge_for(engine, world)
    renames = list(rename_cases(judge.base, VALUES))
    assert renames
    for label, data, benign in renames:
        try:
            judge(data, benign)
        except (AssertionError, RenderError) as exc:
            pytest.fail(f"{engine}: {label}: {exc}")


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_generated_hostile_strings_in_random_fields(engine: str, world: World) -> None:
    judge = judge_for(engine, world)

    @settings(max_examples=EXAMPLES * 3, deadline=None, database=None, print_blob=True,
              derandomize=os.environ.get("CI", "").lower() == "true",
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(slot=st.sampled_from(judge.base.slots), value=hostile_text())
    def check(slot: tuple[tuple[str | int, ...], str, str], value: str) -> None:
        path = slot[0]
        judge(put(judge.base.data, path, value), put(judge.base.data, path, twin(value)))

    check()


@pytest.mark.parametrize("engine, old, new", [
    ("nginx", b'server_name "api.example.com";', b'server_name "api.example.com"; include /etc/passwd;'),
    ("nginx", b'server_name "api.example.com";', b'server_name "api.example.com";\n}\nserver {'),
    ("nginx", b'proxy_hide_header "X-Backend";', b'proxy_hide_header "X-Backend" "x";'),
    ("haproxy", b"use_backend 'be_sticky'", b"use_backend 'be_sticky'\n    lua-load /tmp/x.lua\n   "),
    ("haproxy", b"http-response del-header 'X-Debug'", b"http-response del-header 'X-Debug' x"),
    ("haproxy", b"cache 'c_shop'", b"cache 'c_shop'\nprogram x"),
])
def test_the_structure_readers_notice_an_injection(engine: str, old: bytes, new: bytes, world: World) -> None:
    """The judges' own eyes: a rendered file with one injected directive, word or block differs in structure
    (and a code-loading directive is named), so a hole cannot go unseen."""
    from ctlplane.model.assets import read_assets
    from ctlplane.render import RenderedFile, render_all
    from tests.security.checks import load
    from tests.security.structure import analyse

    loaded = load(judge_for(engine, world).base.data, world)
    files = dict(render_all(loaded.model, read_assets(loaded))[loaded.model.proxies[0].name])
    root = "nginx.conf" if engine == "nginx" else "haproxy.cfg"
    assert old in files[root].content
    before = analyse(engine, files)
    files[root] = RenderedFile(files[root].content.replace(old, new, 1), files[root].mode)
    after = analyse(engine, files)
    assert before[1] == []
    assert after[0] != before[0]
    if b"include" in new or b"lua-load" in new or b"program" in new:
        assert after[1], "the code-loading directive was not named"
