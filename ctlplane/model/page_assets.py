"""The HTML files of the services' error pages, read like certificates (``assets``): a confined path, a
regular file opened without following a final symlink, at most ``MAX_PAGE_BYTES`` (HAProxy answers from one
buffer). Each path joins the watched files, so a change of a page is a new release.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ctlplane.model.error_pages import MAX_PAGE_BYTES
from ctlplane.model.load import Loc
from ctlplane.model.root import Model
from ctlplane.model.service import HttpService

Report = Callable[[Loc, str], None]


def read_error_pages(model: Model, base: Path, bases: tuple[Path, ...], watched: list[str],
                     problem: Report) -> dict[tuple[str, int], bytes]:
    """(service, entry index) -> the page's bytes, for every error page of every HTTP service."""
    from ctlplane.model.assets import _Problem, _read, confine, resolve_path

    pages: dict[tuple[str, int], bytes] = {}
    for k, svc in enumerate(model.services):
        if not isinstance(svc, HttpService):
            continue
        for i, page in enumerate(svc.error_pages):
            loc: Loc = ("services", k, "error_pages", i, "file")
            watched.append(str(resolve_path(base, page.file)))
            try:
                body = _read(confine(base, page.file, bases, "file", what="error page"), "file")
            except _Problem as p:
                problem(loc, p.message)
                continue
            if len(body) > MAX_PAGE_BYTES:
                problem(loc, f"error page {page.file!r} is {len(body)} bytes, more than {MAX_PAGE_BYTES} (12 KiB): "
                             "HAProxy answers its own errors from one 16 KiB buffer; make the page smaller (link "
                             "styles and images instead of inlining them)")
                continue
            pages[(svc.name, i)] = body
    return pages
