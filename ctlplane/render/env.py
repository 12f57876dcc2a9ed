"""The jinja2 environment shared by every engine: templates found in the
source tree or in the installed package, StrictUndefined, no autoescape
(configs are not HTML), trimmed blocks, and the escaping filters. Compiled
templates are kept in jinja's bytecode cache (a 0700 directory of the user's
in the system temp directory, keyed by each template's source digest and by
the environment's options), so a short command does not compile every
template again; without a usable cache directory templates are compiled.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import jinja2

from ctlplane.render.filters import FILTERS
from ctlplane.render.release import RELEASE_TOKEN


def template_dir() -> Path:
    """The copy inside the installed package, else templates/ at the top of the source tree."""
    installed = Path(__file__).resolve().parent.parent / "templates"
    if (installed / "nginx").is_dir():
        return installed
    source = Path(__file__).resolve().parent.parent.parent / "templates"
    if (source / "nginx").is_dir():
        return source
    raise RuntimeError(f"ctlplane templates not found in {source} or {installed}")


OPTIONS: dict[str, object] = {
    "trim_blocks": True,
    "lstrip_blocks": True,
    "keep_trailing_newline": True,
    "auto_reload": False,  # templates never change under a running ctlplane: no stat() per include
    "cache_size": -1,  # every template stays loaded, in a plain dict: an LRU's hit moves its key in a deque
}


class CompiledTemplateCache(jinja2.FileSystemBytecodeCache):
    """jinja's file cache, which never fails a render: an unreadable or unwritable cache is no cache."""

    def __init__(self, fingerprint: str) -> None:
        # jinja's default directory: <tmp>/_jinja2-cache-<uid>, refused unless owned by us and 0700
        super().__init__(pattern=f"ctlplane-{fingerprint}-%s.cache")

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError):
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _template_cache() -> CompiledTemplateCache | None:
    """Compiled code depends on jinja's version and the options and filters it was compiled with."""
    described = repr((jinja2.__version__, sorted(OPTIONS.items()), sorted(FILTERS), RELEASE_TOKEN))
    try:
        return CompiledTemplateCache(hashlib.sha256(described.encode()).hexdigest()[:16])
    except (OSError, RuntimeError):  # no safe temp directory
        return None


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - configs are not HTML: every value goes through an engine escaping filter
        bytecode_cache=_template_cache(),
        **OPTIONS,  # type: ignore[arg-type]
    )
    env.filters.update(FILTERS)
    env.globals["RELEASE_TOKEN"] = RELEASE_TOKEN
    return env


def render_template(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)
