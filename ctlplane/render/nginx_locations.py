"""The ``location`` blocks of one NGINX virtual host, and the ``map`` blocks
that carry header-based routing.

NGINX picks the location with the longest matching prefix, which is the
model's first precedence rule; note that a prefix ``/api`` also matches
``/apix`` (plain prefix semantics, the same on both engines). Inside a
location the virtual host's remaining candidates (routes whose prefix is a
prefix of this one, already in precedence order) form a chain: routes with a
header match become ``map`` blocks (case-sensitive, anchored regexes on the
header value) whose default is the next link, ending at the first route
without a header, else the default pool, else an empty value that the
location answers with 404. A location takes the request body limit of its
terminal route (the model refuses header routes that disagree with it). Static prefixes are served with ``alias`` and
always end with '/' on both sides (a missing slash would let ``/static../x``
escape the directory); ``/static`` itself redirects to ``/static/``. Every
``add_header`` a location needs (HSTS, persistence cookie) is
repeated in the location, because a location's ``add_header`` replaces the
server's. A location that can reach a discovered pool (``Pool.answers_503``)
turns NGINX's own 502 ("no live upstreams", a failed upstream) into 503
through the server's ``@ctlplane_empty`` location, as HAProxy answers.

Upgraded connections (WebSocket) get the service's tunnel timeout. NGINX has
one read timeout per location, used both while waiting for an answer and,
after a 101, as the idle timeout of the tunnel; so a request carrying
``Upgrade`` is handed (``error_page 418`` + ``return 418`` in the rewrite
phase, before limits and access lists run) to a named twin of its location
(``@ctlplane_upgrade_<n>``) that proxies to the same target with
``proxy_read_timeout``, ``proxy_send_timeout`` and ``send_timeout`` set to
the tunnel timeout. Identical twins of one server are shared. No twin is made
when the tunnel timeout equals both the client and the server timeouts.

A location whose pools speak TLS (``Pool.tls``) proxies to ``https://`` with the
``proxy_ssl_*`` settings of ``render/tls_files.py``.

A location whose routes redirect or respond (``model/actions.py``) answers in
the rewrite phase, before limits and access lists, with the route's response
headers as a proxy location; one whose routes rewrite
the path proxies with a ``rewrite … break`` (``render/nginx_actions.py``; a
header route does what its location's fallback does, ``model/engine_actions.py``).
Authentication (``auth_basic``, ``auth_request``, the Authorization header): ``nginx_auth``. A route's own
access lists, limits, timeouts and cache switch: ``nginx_policies`` (also in its upgrade twin, whose timeout is
then the route's tunnel).

A location whose pools speak gRPC uses ``grpc_pass`` (HTTP/2 to the servers)
with the same forwarded headers, timeouts, retries and hidden headers as
``proxy_pass`` (the ``grpc_*`` twins of the server's ``proxy_*`` directives).

The model's request and response headers (``nginx_headers``): the service's
are the server's; a location whose terminal route changes them gets its own
lists (``set_headers``, ``hide``); response headers are ``add_header`` lines
of every location.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from ctlplane.errors import Finding, RenderError
from ctlplane.model.engine_actions import action
from ctlplane.model.headers import effective
from ctlplane.model.pool import Pool
from ctlplane.model.service import HeaderMatch, HttpService, Route
from ctlplane.model.types import format_size
from ctlplane.render import nginx_actions as actions
from ctlplane.render import nginx_names as names
from ctlplane.render.nginx_headers import Header, hidden, request_headers, response_headers
from ctlplane.render.error_pages import ErrorPageLine
from ctlplane.render.nginx_upstream import EMPTY, MapBlock, has_cookie_persistence
from ctlplane.model.routing import VirtualHost, body_limit, effective_auth, location_chain, location_prefixes
from ctlplane.render.nginx_policies import LocationPolicy, location_policy
from ctlplane.render.nginx_auth import NO_AUTH, AuthPlan, LocationAuth
from ctlplane.render.tls_files import NginxUpstreamTls, nginx_upstream_tls


class Location(NamedTuple):
    modifier: str  # "" (prefix) or "=" (exact)
    path: str  # printed through nq
    kind: str  # proxy | static | redirect | not_found | redirect_to | respond
    headers: tuple[Header, ...]
    target: str = ""  # proxy: an upstream name or "$variable"
    empty_is_404: bool = False  # proxy through a chain that may match nothing
    alias: str = ""  # static: directory ending in '/', through nq
    redirect: str = ""  # redirect: the path to send the client to, through nq
    empty_pool: bool = False  # proxy: can reach a discovered pool (a proxy-made 502 becomes 503)
    max_body: str | None = None  # client_max_body_size of this location when it differs from the server's
    upgrade: str | None = None  # proxy: the named twin that takes requests carrying Upgrade
    grpc: bool = False  # proxy to a gRPC pool (grpc_pass; its pools are all grpc, model/engine_protocols.py)
    tunnel_timeout: str | None = None  # a named twin: its read/send timeouts (the tunnel's)
    sets_pool: bool = True  # proxy: sets $ctl_pool for the access log (a twin keeps its location's)
    tls: NginxUpstreamTls | None = None  # proxy: TLS to the servers (its pools agree, model/engine_protocols.py)
    redirect_to: actions.NginxRedirect | None = None  # redirect_to: the route's redirect
    respond: actions.NginxRespond | None = None  # respond: the route's literal answer
    rewrite: actions.NginxRewrite | None = None  # proxy: the path rewrite of its routes
    set_headers: tuple[Header, ...] | None = None  # proxy: this location's own request headers (None: the server's)
    hide: tuple[str, ...] | None = None  # proxy: this location's own proxy_hide_header list (None: the server's)
    auth: LocationAuth | None = None  # authentication (nginx_auth)
    authorization: str | None = None  # proxy: what $ctl_authorization is set to (nginx_auth), None: unused
    error_pages: tuple[ErrorPageLine, ...] = ()  # the service's page lines, when this location has its own
    empty_target: str = "@ctlplane_empty"  # a discovered pool's 502 =503 goes here (or to the 503 page)
    page_recursive: bool = False  # an upgrade hand-over: the twin's errors get pages too
    policy: LocationPolicy | None = None  # the route's own access lists, limits, timeouts, cache (nginx_policies)
    page_variant: int | None = None  # the index of its route, when it has response headers of its own (error_pages)


@dataclass
class Chains:
    """The route maps of one service, shared by its virtual hosts (an identical chain reuses its variable)."""

    service: str
    pools: dict[str, Pool]
    maps: list[MapBlock] = field(default_factory=list)
    auth: AuthPlan = NO_AUTH
    _first: dict[tuple[object, ...], int] = field(default_factory=dict)
    _next: int = 1

    def target(self, chain: tuple[Route, ...], terminal: str | None) -> tuple[str, str | None]:
        """The proxy target of a chain of header routes ending at ``terminal``, and its Set-Cookie variable."""
        reached = [_pool(r) for r in chain] + ([terminal] if terminal else [])
        sticky = [p for p in dict.fromkeys(reached) if has_cookie_persistence(self.pools[p])]
        if not chain:
            assert terminal is not None
            return names.upstream_name(terminal), names.setcookie_var(terminal) if sticky else None
        key = (tuple((_header(r).name.lower(), _header(r).value, _pool(r)) for r in chain), terminal)
        if key not in self._first:
            self._first[key] = self._build(chain, terminal, sticky)
        n = self._first[key]
        return f"${names.route_var(self.service, n)}", names.route_cookie_var(self.service, n) if sticky else None

    def _build(self, chain: tuple[Route, ...], terminal: str | None, sticky: list[str]) -> int:
        groups: list[list[Route]] = []
        for route in chain:  # consecutive routes on the same header share one map
            if groups and _header(groups[-1][0]).name.lower() == _header(route).name.lower():
                groups[-1].append(route)
            else:
                groups.append([route])
        numbers = [self._next + i for i in range(len(groups))]
        self._next += len(groups)
        final = names.upstream_name(terminal) if terminal else EMPTY
        for i, group in enumerate(groups):
            default = f"${names.route_var(self.service, numbers[i + 1])}" if i + 1 < len(groups) else final
            entries = tuple((_exact(_header(r).value), names.upstream_name(_pool(r))) for r in group)
            source = names.header_var(_header(group[0]).name)
            self.maps.append(MapBlock(source, names.route_var(self.service, numbers[i]), entries, default))
        if sticky:
            self.maps.append(MapBlock(
                names.route_var(self.service, numbers[0]), names.route_cookie_var(self.service, numbers[0]),
                tuple((names.upstream_name(p), f"${names.setcookie_var(p)}") for p in sticky), EMPTY))
        return numbers[0]


def _pool(route: Route) -> str:
    assert route.pool is not None  # a proxy location's routes all have a pool (model/engine_actions.py)
    return route.pool


def _header(route: Route) -> HeaderMatch:
    assert route.header is not None
    return route.header


def _exact(value: str) -> str:
    """A case-sensitive regex matching exactly ``value`` (every non-alphanumeric escaped; no '$' needed)."""
    return "~^" + "".join(c if c.isascii() and c.isalnum() else "\\" + c for c in value) + "\\z"


def static_path(prefix: str) -> str:
    return prefix if prefix.endswith("/") else prefix + "/"


def locations(svc: HttpService, vhost: VirtualHost, chains: Chains, static_roots: tuple[str, ...],
              base: tuple[Header, ...], inherited: Inherited) -> tuple[Location, ...]:
    """Every location of one virtual host, sorted by path; ``base`` headers and the service's response headers
    go into each one; a location repeats the request headers and hidden headers only where they differ from
    what its server block sets (``inherited``)."""
    plain = base + response_headers(effective(svc.headers.response, None))[0]
    out: list[Location] = []
    served = set()
    for static, root in zip(svc.static, static_roots, strict=True):
        path = static_path(static.path_prefix)
        served.add(path)
        out.append(Location("", path, "static", plain, alias=root.rstrip("/") + "/",
                            auth=chains.auth.location(svc.auth)))
        if path != static.path_prefix:
            out.append(Location("=", static.path_prefix, "redirect", plain, redirect=path))
    for prefix in location_prefixes(vhost):
        if prefix in served:
            continue
        out.append(_proxy_location(svc, vhost, chains, prefix, base, inherited))
    return tuple(sorted(out, key=lambda loc: (loc.path, loc.modifier)))


def with_upgrade_twins(locs: tuple[Location, ...], tunnel: str | None) -> tuple[tuple[Location, ...],
                                                                              tuple[Location, ...]]:
    """The server's locations, each proxy one pointing at its named twin for upgrades, and the twins (none when
    ``tunnel`` is None: the server's own timeouts are the tunnel's)."""
    twins: dict[tuple[object, ...], Location] = {}
    out = []
    for loc in locs:
        timeout = loc.policy.tunnel if loc.policy is not None and loc.policy.own_tunnel else tunnel
        if loc.kind != "proxy" or loc.grpc or timeout is None:  # gRPC is HTTP/2: no Upgrade
            out.append(loc)
            continue
        key = (loc.target, loc.headers, loc.max_body, loc.empty_pool, loc.tls, loc.rewrite, loc.set_headers, loc.hide,
               loc.auth, loc.policy, loc.page_variant, timeout)
        if key not in twins:
            twins[key] = Location("", f"@ctlplane_upgrade_{len(twins) + 1}", "proxy", loc.headers, target=loc.target,
                                  empty_pool=loc.empty_pool, max_body=loc.max_body, tunnel_timeout=timeout,
                                  sets_pool=False, tls=loc.tls, rewrite=loc.rewrite, set_headers=loc.set_headers,
                                  hide=loc.hide, auth=loc.auth, policy=loc.policy,
                                  page_variant=loc.page_variant)
        out.append(loc._replace(upgrade=twins[key].path))
    return tuple(out), tuple(twins.values())


def _proxy_location(svc: HttpService, vhost: VirtualHost, chains: Chains, prefix: str,
                    base: tuple[Header, ...], inherited: Inherited) -> Location:
    chain, last = location_chain(vhost, prefix)
    terminal = last.pool if last is not None else svc.default_pool
    limit = body_limit(svc, last)
    if any(body_limit(svc, r) != limit for r in chain):  # refused in model/engines.py
        raise RenderError("routes of one location disagree on max_body_size",
                          [Finding(f"service {svc.name!r}: location {prefix!r}", source="nginx")])
    policy = location_policy(svc, last) if last is not None and last.pool is not None else None
    # header routes share their location's policies: model/engine_route_policies.py refuses the others
    if any(action(r) != action(last) for r in chain):  # refused in model/engine_actions.py
        raise RenderError("routes of one location disagree on redirect, respond or rewrite",
                          [Finding(f"service {svc.name!r}: location {prefix!r}", source="nginx")])
    max_body = format_size(limit) if limit != svc.max_body_size else None
    own = last.headers if last is not None else None
    added, hides = response_headers(effective(svc.headers.response, own.response if own else None))
    variant = svc.routes.index(last) if last is not None and own is not None and own.response.names() else None
    if last is not None and last.redirect is not None:
        return Location("", prefix, "redirect_to", (*base, *added), max_body=max_body,
                        redirect_to=actions.redirect(last.path_prefix, last.redirect), page_variant=variant)
    if last is not None and last.respond is not None:
        return Location("", prefix, "respond", (*base, *added), max_body=max_body,
                        respond=actions.respond(last.respond), page_variant=variant)
    rewrite = actions.rewrite(last.path_prefix, last.rewrite) if last is not None and last.rewrite else None
    if not chain and terminal is None:
        return Location("", prefix, "not_found", (*base, *response_headers(effective(svc.headers.response, None))[0]),
                        max_body=max_body)
    target, cookie = chains.target(tuple(chain), terminal)
    headers = [*base, *added]
    if cookie:
        headers.append(Header("Set-Cookie", var=cookie))
    reached = [_pool(r) for r in chain] + ([terminal] if terminal else [])
    tls = {nginx_upstream_tls(chains.pools[p]) for p in reached}
    if len(tls) > 1:  # refused in model/engine_protocols.py
        raise RenderError("pools of one location disagree on tls",
                          [Finding(f"service {svc.name!r}: location {prefix!r}", source="nginx")])
    grpc = any(chains.pools[p].protocol == "grpc" for p in reached)
    if grpc:  # a gRPC request is a stream without a length: as on HAProxy (whose limit reads Content-Length),
        max_body = "0"  # max_body_size does not bound it (NGINX would cut a long client stream at the size)
    request = request_headers(effective(svc.headers.request, own.request if own else None))
    hide = hidden([*svc.hide_response_headers, *hides])
    auth = chains.auth.location(effective_auth(svc, last) if terminal is not None else effective_auth(svc, chain[0]))
    if auth is not None and auth.cache_off and policy is not None and policy.cache_off:
        auth = auth._replace(cache_off=False)  # the route's own switch already says it (one directive)
    return Location("", prefix, "proxy", tuple(headers), target=target, empty_is_404=terminal is None,
                    empty_pool=any(chains.pools[p].answers_503 for p in reached), max_body=max_body,
                    grpc=grpc, tls=tls.pop(), rewrite=rewrite,
                    set_headers=request if grpc or request != inherited.request else None,
                    hide=hide if grpc or hide != inherited.hide else None,
                    auth=auth, authorization=chains.auth.authorization(auth), policy=policy, page_variant=variant)


class Inherited(NamedTuple):
    """What a service's server blocks set for every location that does not set its own: the model's request
    headers (``proxy_set_header``), and the backend headers hidden (always-hidden, the model's, and those the
    service's response headers set or remove)."""

    request: tuple[Header, ...]
    hide: tuple[str, ...]


def inherited(svc: HttpService) -> Inherited:
    """Computed once per service: the server block prints it, each location compares its own with it."""
    return Inherited(request_headers(effective(svc.headers.request, None)),
                     hidden([*svc.hide_response_headers, *response_headers(effective(svc.headers.response, None))[1]]))
