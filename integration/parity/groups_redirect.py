"""The group models of redirects, literal answers and path rewrites (issue 13 item 6), merged into
``groups.GROUPS`` through ``groups_day2``. Backend ``a`` reports the path and query it received (``uri``)."""

from __future__ import annotations

from integration.parity.groups import Book, Group, http, pool
from integration.parity.scenarios_redirect import HOSTILE_BODY

HOSTILE_PREFIX = "/v1.0~x_y-z/"  # every punctuation a path prefix may hold ('.': any character to a raw regex)


def redirects(b: Book) -> Group:
    """Host and path redirects with each status, prefix strip and replace before proxying, literal answers;
    and a service with an access list and a rate limit, whose redirects and answers come before both."""
    routes = [
        {"host": "example.com", "redirect": {"to_host": "www.example.com"}},
        {"host": "www.example.com", "path_prefix": "/old/", "redirect": {"to_path_prefix": "/new/", "status": 308}},
        {"path_prefix": "/r301/", "redirect": {"to_path_prefix": "/n/"}},
        {"path_prefix": "/r302/", "redirect": {"to_path": "/landing", "status": 302, "keep_query": False}},
        {"path_prefix": "/r307/", "redirect": {"to_host": "www.example.com", "to_path_prefix": "/x/", "status": 307}},
        {"path_prefix": "/r308/", "redirect": {"to_path": "/landing", "status": 308}},
        {"path_prefix": "/r.d~_-/", "redirect": {"to_path_prefix": "/n.d~_-/", "status": 302}},
        {"path_prefix": "/api/v1", "pool": "app", "rewrite": {"strip_prefix": True}},
        {"path_prefix": "/old-app/", "pool": "app", "rewrite": {"replace_prefix": "/app/"}},
        {"path_prefix": HOSTILE_PREFIX, "pool": "app", "rewrite": {"replace_prefix": "/w.0~_-/"}},
        {"path_prefix": "/to-root/", "redirect": {"to_path_prefix": "/"}},
        {"path_prefix": "/rw-root/", "pool": "app", "rewrite": {"replace_prefix": "/"}},
        {"path_prefix": "/healthz", "respond": {"status": 200, "body": "ok"}},
        {"path_prefix": "/maint/", "respond": {"status": 503, "body": HOSTILE_BODY, "content_type": "text/html"}},
    ]
    ordered = [{"path_prefix": "/healthz", "respond": {"status": 200, "body": "ok"}},
               {"path_prefix": "/go/", "redirect": {"to_path": "/x"}}]
    return {"pools": [pool(b, "app", ["a"])],
            "services": [http("redir", 240, default_pool="app", routes=routes),
                         http("redirordered", 241, default_pool="app", routes=ordered,
                              access={"deny": [f"{b['c1']}/32"]}, limits={"requests_per_second": 1, "burst": 0})]}


def redirect_header(b: Book) -> Group:
    """A header route that redirects, falling back to a route of the same prefix that proxies (NGINX refuses)."""
    return {"pools": [pool(b, "app", ["a"])],
            "services": [http("redirhdr", 242, routes=[
                {"path_prefix": "/beta/", "header": {"name": "X-Beta", "value": "1"},
                 "redirect": {"to_host": "beta.example.com"}},
                {"path_prefix": "/beta/", "pool": "app"}])]}
