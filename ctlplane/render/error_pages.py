"""Custom error pages (``HttpService.error_pages``, ``intercept_errors``) on both engines: the release's copies
of the pages and what each engine is told. The same page, status, ``Content-Type: text/html`` and
``Cache-Control: no-store`` on both.

NGINX: one internal exact location per page (``/__ctlplane_error/<service>-<n>``: ``internal``, ``allow
all`` so that a refused client still gets the page, ``text/html``, no ETag, the service's HSTS, its response
headers (an internal location inherits no ``add_header``) and ``Cache-Control: no-store`` unless they set or
remove it, ``alias`` to the release's copy through the ``config`` link of the state directory) and
``error_page <statuses> <uri>`` on the server (the status stays; 494/495/496, NGINX's own kinds of 400, are
answered as 400 with the 400 page). A route with response headers of its own has copies of the pages
(``…-<n>-r<route index>``) carrying its effective set, as HAProxy's marked rules do, and its location points its
own ``error_page`` lines at them. A location with ``error_page`` lines of its own (those, the upgrade
hand-over, a discovered pool's 502 → 503) does not inherit the server's, so it repeats them (without 502 in a
discovered pool's location, whose 502 becomes the 503 page when there is one) and an upgrade location turns
``recursive_error_pages`` on, so its twin's errors get pages too. ``intercept_errors``:
``proxy_intercept_errors`` and ``grpc_intercept_errors`` on.

HAProxy: the page as a full HTTP response per status (``errors/pages/<service>-<status>.http``, read by the
master at start). The frontend names it with ``errorfile`` (HAProxy's own "no server" 503 is the 502 page, as
the 502 answer it stands for); a backend's errors fall back to the frontend's pages only when the backend has
none, so a static pool's backend used by a service with a 502 page resets the inherited 503 one
(``http-error status 503 default-errorfiles``) and a discovered pool's backend answers its empty state with
the services' 503 page (they must agree: ``engine_error_pages``). A limit's refusal names the page of
``limits.status``; access lists and the body limit use the frontend's pages. ``intercept_errors``:
``http-response return … errorfile`` for each status with a page.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from ctlplane.errors import Finding, RenderError
from ctlplane.model.assets import Assets
from ctlplane.model.error_pages import page_index
from ctlplane.model.headers import HeaderOps, effective
from ctlplane.model.service import HttpService, TcpService
from ctlplane.render import RenderedFile
from ctlplane.render.nginx_headers import Header, response_headers

if TYPE_CHECKING:
    from ctlplane.render.nginx_locations import Location

L = TypeVar("L", bound="Location")

NGINX_400_KINDS = "494 495 496"  # request header too large, certificate error, no certificate: a 400 to clients
NO_STORE = "no-store"


class ErrorPageLine(NamedTuple):
    """``error_page <codes> [=<overwrite>] <uri>;``: digits, and a URI made of a service name (through ``nq``)."""

    codes: str
    uri: str
    overwrite: int | None = None


class PageLocation(NamedTuple):
    """The internal location serving one page: its URI, the release file it is an alias of and the headers it
    adds (the service's HSTS, the service's or a route's response headers, Cache-Control)."""

    uri: str
    file: str
    headers: tuple[Header, ...]


class NginxPages(NamedTuple):
    lines: tuple[ErrorPageLine, ...]  # the server's
    empty_lines: tuple[ErrorPageLine, ...]  # a discovered pool's location (502 is its own)
    empty_target: str | None  # the 503 page's URI, for a discovered pool's 502 → 503
    locations: tuple[PageLocation, ...]  # the service's, then each route variant's
    intercept: bool
    variants: tuple[int, ...] = ()  # the indexes of the routes with response headers of their own

    def for_route(self, lines: tuple[ErrorPageLine, ...], route: int) -> tuple[ErrorPageLine, ...]:
        """``lines`` pointing at the copies of the pages carrying route ``route``'s response headers."""
        return tuple(e._replace(uri=f"{e.uri}-r{route}") for e in lines)


def nginx_file(service: str, index: int) -> str:
    return f"errors/pages/{service}-{index}.html"


def haproxy_file(service: str, status: int) -> str:
    return f"errors/pages/{service}-{status}.http"


def _uri(service: str, index: int) -> str:
    return f"/__ctlplane_error/{service}-{index}"


def _page_headers(base: tuple[Header, ...], service: HeaderOps, route: HeaderOps | None) -> tuple[Header, ...]:
    """HSTS, the effective response headers, then ``Cache-Control: no-store`` unless they set or remove it."""
    ops = effective(service, route)
    own = any(op.name.lower() == "cache-control" and op.op != "add" for op in ops)
    return (*base, *response_headers(ops)[0], *(() if own else (Header("Cache-Control", text=NO_STORE),)))


def nginx_pages(svc: HttpService, config_dir: str, base: tuple[Header, ...]) -> NginxPages | None:
    """The error_page lines and internal locations of ``svc`` (None without pages); files via ``config_dir``,
    ``base`` (the service's HSTS) added to each page with the response headers and Cache-Control."""
    if not svc.error_pages:
        return None
    lines, empty = [], []
    for i, page in enumerate(svc.error_pages):
        codes = sorted(set(page.status))
        lines.append(ErrorPageLine(" ".join(map(str, codes)), _uri(svc.name, i)))
        if [c for c in codes if c != 502]:
            empty.append(ErrorPageLine(" ".join(str(c) for c in codes if c != 502), _uri(svc.name, i)))
        if 400 in codes:
            lines.append(ErrorPageLine(NGINX_400_KINDS, _uri(svc.name, i), 400))
            empty.append(lines[-1])
    n = page_index(svc.error_pages, 503)
    count = range(len(svc.error_pages))
    variants = tuple(j for j, r in enumerate(svc.routes) if r.headers is not None and r.headers.response.names())
    own = [(f"-r{j}", _page_headers(base, svc.headers.response, svc.routes[j].headers.response))
           for j in variants]
    return NginxPages(
        lines=tuple(lines),
        empty_lines=tuple(empty),
        empty_target=_uri(svc.name, n) if n is not None else None,
        locations=tuple(PageLocation(_uri(svc.name, i) + suffix, f"{config_dir}/{nginx_file(svc.name, i)}", headers)
                        for suffix, headers in [("", _page_headers(base, svc.headers.response, None)), *own]
                        for i in count),
        intercept=svc.intercept_errors,
        variants=variants,
    )


def with_pages(locs: tuple[L, ...], pages: NginxPages | None) -> tuple[L, ...]:
    """``locs`` with the page lines repeated where a location has ``error_page`` lines of its own (an upgrade
    hand-over, a discovered pool, a route with response headers of its own: its copies of the pages), which
    replace the server's."""
    if pages is None:
        return locs
    out = []
    for loc in locs:
        variant = loc.page_variant if loc.page_variant in pages.variants else None
        if variant is None and (loc.kind != "proxy" or not (loc.upgrade or loc.empty_pool)):
            out.append(loc)
            continue
        lines = pages.empty_lines if loc.empty_pool else pages.lines
        target = pages.empty_target
        if variant is not None:
            lines = pages.for_route(lines, variant)
            target = f"{target}-r{variant}" if target is not None else None
        out.append(loc._replace(error_pages=lines, empty_target=target or loc.empty_target,
                                page_recursive=bool(loc.upgrade) and not loc.empty_pool))
    return tuple(out)


def http_response(status: int, body: bytes) -> bytes:
    """A complete HTTP/1.1 answer carrying ``body`` as HTML (HAProxy's errorfile format)."""
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: text/html\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: {NO_STORE}\r\n\r\n")
    return head.encode("ascii") + body


def _page(assets: Assets, svc: HttpService, index: int) -> bytes:
    try:
        return assets.error_pages[(svc.name, index)]
    except KeyError as exc:
        raise RenderError("error page not read", [Finding(
            f"service {svc.name!r} error page {index} was not read (read_assets first)", source="render")]) from exc


def nginx_files(services: list[HttpService | TcpService], assets: Assets) -> dict[str, RenderedFile]:
    """Release path -> the page, for NGINX (served as it is)."""
    return {nginx_file(s.name, i): RenderedFile(_page(assets, s, i), 0o644)
            for s in services if isinstance(s, HttpService) for i in range(len(s.error_pages))}


def haproxy_files(services: list[HttpService | TcpService], assets: Assets) -> dict[str, RenderedFile]:
    """Release path -> a full HTTP answer per status with a page, for HAProxy."""
    return {haproxy_file(s.name, status): RenderedFile(http_response(status, _page(assets, s, i)), 0o644)
            for s in services if isinstance(s, HttpService) for i, page in enumerate(s.error_pages)
            for status in sorted(set(page.status))}


def haproxy_errorfiles(svc: HttpService, prefix: str) -> tuple[tuple[int, str], ...]:
    """The frontend's ``errorfile`` lines: each status with a page but 503, and the 502 page as HAProxy's own
    503 (its "no server available", answered 502 like NGINX's "no live upstreams")."""
    found: list[tuple[int, str]] = [(status, prefix + haproxy_file(svc.name, status)) for page in svc.error_pages
                                    for status in page.status if status != 503]
    if page_index(svc.error_pages, 502) is not None:
        found.append((503, prefix + haproxy_file(svc.name, 502)))
    return tuple(sorted(found))


def haproxy_intercepts(svc: HttpService, prefix: str) -> tuple[tuple[int, str], ...]:
    """``http-response return status S errorfile F if { status S }`` for each status with a page."""
    if not svc.intercept_errors:
        return ()
    return tuple(sorted((status, prefix + haproxy_file(svc.name, status)) for page in svc.error_pages
                        for status in page.status))


def haproxy_page_of(svc: HttpService, status: int, prefix: str) -> str | None:
    """The answer file of ``status`` (a limit's refusal), or None without a page."""
    return prefix + haproxy_file(svc.name, status) if page_index(svc.error_pages, status) is not None else None


def haproxy_backend_pages(users: list[HttpService | TcpService], discovered: bool,
                          prefix: str) -> tuple[bool, str | None]:
    """A backend's (reset its inherited 503 page, its empty-pool answer file or None for the default): users
    with a 502 page need the reset (static pools); a discovered pool answers with its users' 503 page."""
    http = [u for u in users if isinstance(u, HttpService)]
    if discovered:
        with_503 = [u for u in http if page_index(u.error_pages, 503) is not None]
        return False, haproxy_page_of(with_503[0], 503, prefix) if with_503 else None
    return any(page_index(u.error_pages, 502) is not None for u in http), None
