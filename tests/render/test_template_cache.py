"""The compiled-template cache: a second environment loads what the first compiled, and a broken
or missing cache never changes or fails a render."""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import pytest

from ctlplane.render import env as render_env


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    render_env.environment.cache_clear()
    yield tmp_path
    render_env.environment.cache_clear()


def _cache_files(tmp: Path) -> list[Path]:
    return sorted(tmp.glob(f"_jinja2-cache-{os.getuid()}/ctlplane-*.cache"))


def test_a_second_environment_loads_the_templates_the_first_compiled(
    private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = render_env.environment().get_template("haproxy/haproxy.cfg.j2")
    assert _cache_files(private_tmp), "compiling a template writes its code to the cache"
    render_env.environment.cache_clear()
    compiled: list[str] = []
    real_compile = jinja2.Environment.compile
    monkeypatch.setattr(
        jinja2.Environment, "compile", lambda self, *a, **k: compiled.append(a[1]) or real_compile(self, *a, **k)
    )
    second = render_env.environment().get_template("haproxy/haproxy.cfg.j2")
    assert compiled == [], "the second environment compiled nothing"
    assert second.root_render_func.__code__.co_code == first.root_render_func.__code__.co_code


def test_a_corrupt_cache_file_is_compiled_again(private_tmp: Path) -> None:
    expected = render_env.environment().get_template("nginx/nginx.conf.j2")
    for cached in _cache_files(private_tmp):
        cached.write_bytes(b"not a jinja cache")
    render_env.environment.cache_clear()
    again = render_env.environment().get_template("nginx/nginx.conf.j2")
    assert again.root_render_func.__code__.co_code == expected.root_render_func.__code__.co_code


def test_an_unsafe_cache_directory_means_no_cache_not_a_failure(private_tmp: Path) -> None:
    unsafe = private_tmp / f"_jinja2-cache-{os.getuid()}"
    unsafe.symlink_to(private_tmp)  # jinja refuses a cache directory that is not a 0700 directory of ours
    env = render_env.environment()
    assert env.bytecode_cache is None
    assert env.get_template("nginx/nginx.conf.j2") is not None


def test_the_cache_key_changes_with_the_environment_options(monkeypatch: pytest.MonkeyPatch) -> None:
    before = render_env._template_cache()
    monkeypatch.setitem(render_env.OPTIONS, "trim_blocks", False)
    after = render_env._template_cache()
    assert before is not None and after is not None
    assert before.pattern != after.pattern
