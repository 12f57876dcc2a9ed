"""Services: what a proxy listens on and where the traffic goes.

An ``http`` (layer 7) service routes by host, path prefix and an optional
request header to pools, with the reverse-proxy features around it (TLS,
compression, caching, static content, access lists, limits). A ``tcp``
(layer 4) service forwards connections to one pool.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ctlplane.model.actions import Redirect, Respond, Rewrite, check_route_action
from ctlplane.model.auth import Auth
from ctlplane.model.error_pages import ErrorPage, check_pages
from ctlplane.model.headers import Headers
from ctlplane.model.route_policies import RouteTimeouts, check_route_policies
from ctlplane.model.tls import CLIENT_SUBJECT_HEADER, Tls
from ctlplane.model.types import (
    Bytes,
    Cidr,
    Duration,
    FilePath,
    Frozen,
    HeaderName,
    HeaderValue,
    HostName,
    ListenAddress,
    MimeType,
    Name,
    PathPrefix,
    Port,
    shared_default,
)


class Listen(Frozen):
    """A listening socket."""

    address: ListenAddress = "0.0.0.0"
    port: Port
    accept_proxy_protocol: bool = Field(
        False,
        description="Every connection starts with a PROXY protocol header (v1 or v2), as sent by an L4 load "
        "balancer or CDN in front: the client address it names is the client for logs, limits, access lists and "
        "X-Forwarded-For. A connection without one is closed. Any peer may send it: only the balancer must be "
        "able to reach this listener.",
        examples=[True],
    )
    also: list[ListenAddress] = Field(
        default_factory=list, max_length=16,
        description="More addresses to listen on, with the same port and options: a second virtual IP, or an IPv6 "
        "address beside an IPv4 one. Specific addresses only: a wildcard (0.0.0.0, '::') already takes them all.",
        examples=[["192.0.2.11", "2001:db8::11"]],
    )

    @model_validator(mode="after")
    def _specific_addresses(self) -> Listen:
        if self.also and {self.address, *self.also} & {"0.0.0.0", "::"}:
            raise ValueError("listen.also needs specific addresses: a wildcard (0.0.0.0, '::') already listens on "
                             "every address; list specific ones, or drop also")
        if len({self.address, *self.also}) != 1 + len(self.also):
            raise ValueError("listen.also repeats an address")
        return self

    @property
    def addresses(self) -> tuple[str, ...]:
        return (self.address, *self.also)


class HeaderMatch(Frozen):
    """A request header that must equal a value exactly; sent more than once, its first line decides (both engines)."""

    name: HeaderName
    value: HeaderValue


class Access(Frozen):
    """IP access lists. deny wins over allow; when allow is set, everyone else is denied."""

    allow: list[Cidr] = Field(default_factory=list, description="Only these networks may connect (all if empty).")
    deny: list[Cidr] = Field(default_factory=list, description="These networks are refused.")


class Limits(Frozen):
    """Per-client limits, keyed by the client's IP address (the real client behind a trusted proxy)."""

    connections_per_client: int | None = Field(
        None, ge=1, le=100_000, description="Requests in progress at once (HTTP), open connections (TCP)."
    )
    requests_per_second: int | None = Field(
        None, ge=1, le=100_000, description="Sustained request rate (HTTP only); faster requests are refused."
    )
    burst: int | None = Field(
        None, ge=0, le=100_000,
        description="Requests a client may send at once above the rate (default: twice requests_per_second).",
        examples=[40],
    )
    status: int = Field(429, ge=400, le=599, description="HTTP status sent when a limit is hit.")

    @model_validator(mode="after")
    def _burst_needs_rate(self) -> Limits:
        if self.burst is not None and self.requests_per_second is None:
            raise ValueError("burst needs requests_per_second")
        return self

    @property
    def effective_burst(self) -> int:
        """The burst in force: the model's, else twice the rate (a page load fits), 0 without a rate."""
        if self.requests_per_second is None:
            return 0
        return self.burst if self.burst is not None else 2 * self.requests_per_second


class Route(Frozen):
    """Send matching requests to a pool, or answer them with a redirect or a literal response. The most specific
    route wins: longest path prefix, then exact host before wildcard host before any host, then a header match
    before none."""

    host: HostName | None = Field(None, description="Match this Host (exact, or '*.domain'); any host if unset.")
    path_prefix: PathPrefix = Field("/", description="Match paths starting with this prefix.")
    header: HeaderMatch | None = Field(None, description="Also require this request header value.")
    pool: Name | None = Field(
        None, description="The pool that serves matching requests (exactly one of pool, redirect and respond)."
    )
    rewrite: Rewrite | None = Field(
        None, description="With pool: strip or replace the path prefix before proxying.",
        examples=[{"strip_prefix": True}, {"replace_prefix": "/new/"}],
    )
    redirect: Redirect | None = Field(
        None, description="Answer with a redirect instead of proxying.",
        examples=[{"to_host": "www.example.com", "status": 301}],
    )
    respond: Respond | None = Field(
        None, description="Answer with a status and a short literal body instead of proxying.",
        examples=[{"status": 503, "body": "Down for maintenance"}],
    )
    max_body_size: Bytes | None = Field(
        None, description="Largest request body for this route (413 above it; 0: no limit); the service's if unset."
    )
    auth: Auth | None = Field(
        None, description="Authentication of the requests this route serves, instead of the service's.",
        examples=[{"htpasswd": "auth/admins.htpasswd", "realm": "Admin"}],
    )
    headers: Headers = Field(
        default_factory=shared_default(Headers),
        description="Request and response headers for the requests this route serves: an entry for a header name "
        "replaces the service's entries for that name.",
        examples=[{"response": {"set": [{"name": "Cache-Control", "value": "no-store"}]}}],
    )
    access: Access | None = Field(
        None, description="IP access lists of the requests this route serves, instead of the service's (an empty "
        "one opens the route to every client); the service's if unset.",
        examples=[{"allow": ["10.0.0.0/8"]}],
    )
    limits: Limits | None = Field(
        None, description="Per-client limits of the requests this route serves: a budget of their own, instead of "
        "the service's (those requests do not count against it; an empty one exempts the route); the service's if "
        "unset.",
        examples=[{"requests_per_second": 1, "burst": 0}],
    )
    timeouts: RouteTimeouts | None = Field(
        None, description="Server and tunnel timeouts of the requests this route serves; the service's where unset.",
        examples=[{"server": "5s"}],
    )
    cache: bool = Field(
        True, description="false: the service's cache neither serves nor stores the requests this route serves.",
        examples=[False],
    )

    @model_validator(mode="after")
    def _one_action(self) -> Route:
        check_route_action(self.path_prefix, self.host, self.pool, self.redirect, self.respond, self.rewrite)
        return self

    @model_validator(mode="after")
    def _policies_need_a_pool(self) -> Route:
        check_route_policies(self)
        return self


class Compression(Frozen):
    """gzip responses for clients that accept it."""

    types: list[MimeType] = Field(
        default_factory=lambda: ["text/plain", "text/css", "application/json", "application/javascript"],
        min_length=1,
        description="Response content types to compress (text/html is always compressed by NGINX).",
    )
    min_length: Bytes | None = Field(None, description="Smallest response to compress (NGINX only).")


class Cache(Frozen):
    """Cache backend responses in the proxy, the same rules on both engines. Stored: 200 answers to HTTP/1.1+ GET
    requests carrying neither Authorization nor Cookie, that set no cookie, are not private / no-store /
    no-cache, and state a lifetime (Cache-Control max-age or s-maxage, Expires) or a validator (ETag,
    Last-Modified). Such requests are also the only ones served from the cache; a request asking for a fresh
    answer (Cache-Control no-cache or max-age, Pragma no-cache) goes to the backend and refreshes the entry."""

    max_size: Bytes = Field(100 * 1024**2, ge=1024**2, description="Total cache size.")
    valid: Duration = Field(
        60_000, description="How long a stored response without a lifetime of its own (only a validator) is served."
    )
    key: Literal["host_uri", "uri"] = Field("host_uri", description="Cache key: host plus URI, or the URI alone.")


class Static(Frozen):
    """Serve files from a directory for a path prefix, without a backend."""

    path_prefix: PathPrefix
    root: FilePath = Field(description="Directory holding the files (absolute, or relative to the model file).")


class Timeouts(Frozen):
    """Timeouts towards clients and servers, the same meaning on both engines."""

    connect: Duration = Field(5_000, description="Connecting to a server (each attempt).")
    client: Duration = Field(60_000, description="Client inactivity while a request or response is under way.")
    server: Duration = Field(
        60_000, description="Server inactivity; a request that times out waiting for its response is not retried."
    )
    queue: Duration | None = Field(
        None,
        description="How long a request may wait for a server below max_connections (HAProxy only; unset: no "
        "queue, refused at once when every server is full).",
        examples=["2s"],
    )


class HttpTimeouts(Timeouts):
    """Timeouts of an HTTP service: the TCP ones plus the request header, keep-alive and tunnel (WebSocket)
    timeouts."""

    request_header: Duration = Field(
        10_000, description="Time a client has to send a complete request header (slow clients are cut, no answer)."
    )
    keep_alive: Duration = Field(60_000, description="How long an idle client connection is kept between requests.")
    tunnel: Duration = Field(
        3_600_000,
        description="Idle timeout of an upgraded connection (WebSocket and other HTTP Upgrade tunnels): once the "
        "backend has answered 101, the tunnel is closed after this long without traffic in either direction; it "
        "replaces the client and server timeouts there. NGINX also waits up to this long for the backend's answer "
        "to a request carrying Upgrade.",
        examples=["1h", "10m"],
    )


class Retries(Frozen):
    """Retry a failed request on another server: refused or reset connections, connect timeouts, empty answers,
    and the listed statuses; never a request that timed out waiting for its response."""

    attempts: int = Field(2, ge=0, le=10, description="Retries after the first try (0 = none).")
    on_status: list[Literal[502, 503, 504]] = Field(
        default_factory=list, description="Also retry on these statuses (HTTP, idempotent requests only)."
    )


class _ServiceBase(Frozen):
    name: Name = Field(description="Unique service name.")
    listen: Listen = Field(description="Where the service listens.")
    access: Access = Field(default_factory=shared_default(Access), description="IP allow and deny lists.")
    limits: Limits = Field(default_factory=shared_default(Limits),
                           description="Per-client connection and request-rate limits.")
    timeouts: Timeouts = Field(default_factory=shared_default(Timeouts),
                               description="Connect, client and server timeouts.")
    retries: Retries = Field(default_factory=shared_default(Retries),
                             description="Retrying failed requests on another server.")


class HttpService(_ServiceBase):
    """A layer-7 HTTP(S) service."""

    mode: Literal["http"] = Field(description="http: layer 7.")
    timeouts: HttpTimeouts = Field(
        default_factory=shared_default(HttpTimeouts),
        description="Connect, client, server, request header, keep-alive and tunnel (WebSocket) timeouts.",
    )
    max_body_size: Bytes = Field(
        1024**2, description="Largest request body (413 above it; 0: no limit). Routes may set their own.",
        examples=["1m", "100m"],
    )
    trusted_proxies: list[Cidr] = Field(
        default_factory=list,
        description="Peers allowed to name the client in X-Forwarded-For. From them the client address is the "
        "last untrusted one in that header (access lists and limits use it); from anyone else X-Forwarded-For is "
        "replaced by the peer's address.",
        examples=[["10.0.0.0/8"]],
    )
    routes: list[Route] = Field(default_factory=list, description="Routing rules; the most specific match wins.")
    default_pool: Name | None = Field(None, description="Pool for requests no route matches (404 if unset).")
    tls: Tls | None = Field(None, description="TLS termination (HTTPS).")
    compression: Compression | None = Field(None, description="gzip compression of responses.")
    cache: Cache | None = Field(None, description="Response caching in the proxy.")
    static: list[Static] = Field(default_factory=list, description="Path prefixes served from directories.")
    hide_response_headers: list[HeaderName] = Field(
        default_factory=list,
        description="Backend response headers removed before the response reaches the client, in addition to "
        "Server and X-Powered-By, which are always removed.",
        examples=[["X-Backend", "X-Runtime"]],
    )
    auth: Auth | None = Field(
        None,
        description="Authentication of every request (routes, default pool, static content); a route's own "
        "auth replaces it for the requests that route serves.",
        examples=[{"htpasswd": "auth/users.htpasswd", "realm": "Restricted"}],
    )
    headers: Headers = Field(
        default_factory=shared_default(Headers),
        description="Request headers set, added and removed before the request goes to a server, and response "
        "headers before the answer goes to the client (also the proxy's own answers); routes may override them "
        "per header name. Every request also carries X-Request-ID (the client's, else a generated one).",
        examples=[{"request": {"set": [{"name": "X-Client-IP", "value_from": "client_ip"}]},
                   "response": {"add": [{"name": "X-Request-ID", "value_from": "request_id"}],
                                "remove": ["X-Debug"]}}],
    )

    @model_validator(mode="after")
    def _headers_not_read_elsewhere(self) -> HttpService:
        routed = {r.header.name.lower() for r in self.routes if r.header is not None}
        subject = (self.tls.client_subject_header or CLIENT_SUBJECT_HEADER) if self.tls and self.tls.client_ca else None
        hsts = bool(self.tls and self.tls.hsts)
        for where, headers in [("headers", self.headers)] + [(f"routes[{j}].headers", r.headers)
                                                             for j, r in enumerate(self.routes)]:
            for name in sorted(headers.request.names()):
                if name in routed:
                    raise ValueError(f"{where}: request header {name!r} is what a route matches on; routing reads "
                                     "it as the client sent it: choose another header")
                if subject and name == subject.lower():
                    raise ValueError(f"{where}: request header {name!r} carries the client certificate's subject")
            if hsts and "strict-transport-security" in headers.response.names():
                raise ValueError(f"{where}: Strict-Transport-Security is set by tls.hsts: remove one of them")
        return self

    error_pages: list[ErrorPage] = Field(
        default_factory=list,
        description="HTML pages replacing the body of the proxy's own error answers with the listed statuses (no "
        "route 404, no server 502, timeout 504, body limit 413, limits, access lists 403); the status stays.",
        examples=[[{"status": [502, 503, 504], "file": "errors/5xx.html"},
                   {"status": [404], "file": "errors/404.html"}]],
    )
    intercept_errors: bool = Field(
        False,
        description="Also replace a backend's answer whose status has a page in error_pages (its body, say a stack "
        "trace, and its headers never reach the client); other statuses pass through. Needs error_pages.",
        examples=[True],
    )

    @model_validator(mode="after")
    def _route_cache_switch(self) -> HttpService:
        for j, route in enumerate(self.routes):
            if not route.cache and self.cache is None:
                raise ValueError(f"routes[{j}].cache: false turns the service's cache off, but the service has no "
                                 "cache: remove it")
        return self

    @model_validator(mode="after")
    def _pages(self) -> HttpService:
        check_pages(self.error_pages, self.intercept_errors)
        return self

    @model_validator(mode="after")
    def _one_source_of_the_client_address(self) -> HttpService:
        if self.listen.accept_proxy_protocol and self.trusted_proxies:
            raise ValueError("trusted_proxies with listen.accept_proxy_protocol: the PROXY header already names the "
                             "client; remove trusted_proxies")
        return self

    @model_validator(mode="after")
    def _has_destination(self) -> HttpService:
        if not self.routes and self.default_pool is None and not self.static:
            raise ValueError("an http service needs routes, a default_pool or static content")
        return self


class TcpService(_ServiceBase):
    """A layer-4 TCP service forwarding connections to one pool."""

    mode: Literal["tcp"] = Field(description="tcp: layer 4.")
    pool: Name = Field(description="The pool that receives the connections.")

    @model_validator(mode="after")
    def _no_request_rate(self) -> TcpService:
        if self.limits.requests_per_second is not None:
            raise ValueError("limits.requests_per_second needs mode http (tcp has no requests)")
        if self.limits.status != 429:
            raise ValueError("limits.status needs mode http (a tcp connection over the limit is closed)")
        if self.retries.on_status:
            raise ValueError("retries.on_status needs mode http")
        return self


Service = Annotated[HttpService | TcpService, Field(discriminator="mode")]
