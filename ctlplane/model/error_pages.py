"""Custom error pages of an HTTP service: which HTML file answers which status.

An entry names the statuses it answers and an HTML file (read like a certificate by ``assets``: a confined
path, a regular file, at most ``MAX_PAGE_BYTES``; the release holds a copy, so the running proxies never read
the model's path). The page replaces the body of the proxy's own answers with those statuses — no route
(404), no server or a failed one (502, an empty discovered pool's 503), a timeout (504), a body over the limit
(413), a limit (``limits.status``), an access list (403), a bad request (400) — and, with
``intercept_errors``, the body of a backend's answer with one of them (a stack trace never reaches the
client). The status stays the same; the page is sent as ``text/html`` with ``Cache-Control: no-store``.
Only statuses both engines can answer with a page of their own are accepted (HAProxy 2.6's error
statuses, without 200, 401 (NGINX keeps a backend's WWW-Authenticate challenge on a page it intercepts,
HAProxy cannot: and a challenge is the backend's to answer), 407 (no proxy authentication), 408 (a request
that timed out is closed without an answer on both engines) and 425 (no TLS early data)).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ctlplane.model.types import FilePath, Frozen

PageStatus = Literal[400, 403, 404, 405, 410, 413, 429, 500, 501, 502, 503, 504]
PAGE_STATUSES: tuple[int, ...] = (400, 403, 404, 405, 410, 413, 429, 500, 501, 502, 503, 504)
MAX_PAGE_BYTES = 12 * 1024  # HAProxy answers its own errors from one 16 KiB buffer: room is left for headers


class ErrorPage(Frozen):
    """An HTML page answering the listed statuses, in place of the proxy's own body (and, with
    ``intercept_errors``, the backend's)."""

    status: list[PageStatus] = Field(
        min_length=1,
        description="The statuses this page answers (each at most once per service): 400, 403, 404, 405, 410, "
        "413, 429, 500, 501, 502, 503, 504.",
        examples=[[502, 503, 504], [404]],
    )
    file: FilePath = Field(
        description="The HTML file (absolute, or relative to the model file; at most 12 KiB). It is copied into "
        "each release: a change of the file is a new release.",
        examples=["errors/5xx.html"],
    )


def check_pages(pages: list[ErrorPage], intercept: bool) -> None:
    """A status answered by two entries, or interception without a page, is refused (ValueError)."""
    seen: set[int] = set()
    for page in pages:
        for status in page.status:
            if status in seen:
                raise ValueError(f"error_pages: status {status} has two pages; list it in one entry only")
            seen.add(status)
    if intercept and not pages:
        raise ValueError("intercept_errors needs error_pages (the pages that replace the backend's answers)")


def page_index(pages: list[ErrorPage], status: int) -> int | None:
    """The entry answering ``status``, or None."""
    return next((i for i, page in enumerate(pages) if status in page.status), None)

