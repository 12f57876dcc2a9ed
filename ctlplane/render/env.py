"""The jinja2 environment shared by every engine: templates found in the
source tree or in the installed package, StrictUndefined, no autoescape
(configs are not HTML), trimmed blocks, and the escaping filters.
"""

from __future__ import annotations

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


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - configs are not HTML: every value goes through an engine escaping filter
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates never change under a running ctlplane: no stat() per include
    )
    env.filters.update(FILTERS)
    env.globals["RELEASE_TOKEN"] = RELEASE_TOKEN
    return env


def render_template(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)
