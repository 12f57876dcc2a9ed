"""The group model of custom error pages (issue 13 item 8), merged into ``groups.GROUPS`` through
``groups_day2``. Its pages are written beside the model by ``write_pages`` (``groups.prepare``); each names
itself in its body, so a probe can tell them from each other and from a backend's answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integration.parity.groups import Book, Group, http, pool

PAGES = {"4xx": "errors/4xx.html", "5xx": "errors/5xx.html"}
ERROR_PAGES = [{"status": [500, 502, 503, 504], "file": PAGES["5xx"]},
               {"status": [403, 404, 413, 429], "file": PAGES["4xx"]}]


def page_text(name: str) -> str:
    return (f"<!doctype html>\n<html><head><title>Sorry</title></head>\n"
            f"<body><h1>ctlplane-page-{name}</h1><p>Please try again later.</p></body></html>\n")


def write_pages(directory: Path) -> None:
    for name, rel in PAGES.items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_text(page_text(name))


def errors(b: Book) -> Group:
    """Pages on the proxy's own errors and on a backend's (``pages``: no route 404, refused server 502, server
    timeout 504, body limit 413, a denied client 403, intercept_errors on), the same pages without interception
    (``passthru``), and a rate limit (``pagelimit``)."""
    pages: dict[str, Any] = {"error_pages": ERROR_PAGES}
    return {
        "pools": [pool(b, "eapp", ["a"]), pool(b, "edead", ["dead"]),
                  pool(b, "eslow", ["a"], health={"passive": None}),
                  pool(b, "epass", ["a"]), pool(b, "elim", ["a"])],
        "services": [
            http("pages", 230, routes=[{"path_prefix": "/app/", "pool": "eapp"},
                                       {"path_prefix": "/dead/", "pool": "edead"},
                                       {"path_prefix": "/slow/", "pool": "eslow"}],
                 timeouts={"server": "1s"}, max_body_size="1k", access={"deny": [f"{b['c2']}/32"]},
                 intercept_errors=True, **pages),
            http("passthru", 231, default_pool="epass", **pages),
            http("pagelimit", 232, default_pool="elim", limits={"requests_per_second": 1, "burst": 0}, **pages),
        ],
    }


_RESPONSE = {"set": [{"name": "X-Frame-Options", "value": "DENY"}],
             "add": [{"name": "X-Request-ID", "value_from": "request_id"}]}
_ROUTE = {"set": [{"name": "X-Route", "value": "own"}], "remove": ["X-Frame-Options"]}


def error_headers(b: Book) -> Group:
    """The service's response headers on its pages, answers and redirects (``ehdr``): a route to a refused
    server without and with response headers of its own, a literal answer, a redirect with headers of its
    own; no default pool (an unrouted request is the 404 page)."""
    return {
        "pools": [pool(b, "hdead", ["dead"])],
        "services": [http("ehdr", 230, headers={"response": _RESPONSE}, error_pages=ERROR_PAGES, routes=[
            {"path_prefix": "/dead/", "pool": "hdead"},
            {"path_prefix": "/rdead/", "pool": "hdead", "headers": {"response": _ROUTE}},
            {"path_prefix": "/ok", "respond": {"status": 200, "body": "ok"}},
            {"path_prefix": "/go/", "redirect": {"to_path": "/x"}, "headers": {"response": _ROUTE}}])],
    }
