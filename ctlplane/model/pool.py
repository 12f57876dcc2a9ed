"""Pools: the backend servers, how requests are balanced over them, how their
health is judged, and how a client is kept on one server (persistence).

Engine-neutral: what an engine cannot do is refused later by
``ctlplane.model.engines``, never silently dropped.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ctlplane.model.discover import Discover
from ctlplane.model.tls import PoolTls
from ctlplane.model.types import (
    CheckText,
    CookieName,
    Duration,
    Frozen,
    HeaderName,
    HostName,
    Name,
    PathPrefix,
    Port,
    ServerAddress,
    Weight,
    shared_default,
)


class Server(Frozen):
    """One backend server."""

    name: Name = Field(description="Unique name of the server inside its pool (shown in stats and logs).")
    address: ServerAddress
    port: Port = Field(description="The server's TCP port.")
    weight: Weight = 1
    backup: bool = Field(False, description="Serve only when every non-backup server is down.")
    max_connections: int | None = Field(
        None, ge=1, le=1_000_000, description="Most concurrent connections sent to this server (unlimited if unset)."
    )
    state: Literal["active", "drain", "disabled"] = Field(
        "active",
        description="active: in rotation. drain: no new clients, but clients kept on it by a persistence cookie "
        "still reach it (HAProxy only: NGINX open source has no graceful drain). disabled: no traffic at all.",
    )


class RoundRobin(Frozen):
    """Each server in turn, in proportion to its weight."""

    strategy: Literal["round_robin"] = Field("round_robin", description="round_robin")


class WeightedRoundRobin(Frozen):
    """Round robin where the servers' weights set the split (the same algorithm, stated explicitly)."""

    strategy: Literal["weighted_round_robin"] = Field(description="weighted_round_robin")


class LeastConnections(Frozen):
    """The server with the fewest active connections (weighted)."""

    strategy: Literal["least_connections"] = Field(description="least_connections")


class Random(Frozen):
    """Power of two random choices: pick two servers at random, use the less loaded one."""

    strategy: Literal["random"] = Field(description="random")


class SourceIpHash(Frozen):
    """Consistent hash of the client IP: a client keeps its server while the pool is unchanged."""

    strategy: Literal["source_ip_hash"] = Field(description="source_ip_hash")


class ConsistentHash(Frozen):
    """Consistent hash of a request attribute (HTTP services only)."""

    strategy: Literal["hash"] = Field(description="hash")
    key: Literal["header", "cookie", "uri"] = Field(description="What to hash: a request header, a cookie or the URI.")
    name: HeaderName | CookieName | None = Field(
        None, description="The header or cookie name (required for header and cookie)."
    )

    @model_validator(mode="after")
    def _name_matches_on(self) -> ConsistentHash:
        if self.key in ("header", "cookie") and self.name is None:
            raise ValueError(f"hash on {self.key} needs 'name'")
        if self.key == "header" and "_" in (self.name or ""):
            raise ValueError("a header name has no '_' (proxies drop such headers)")
        if self.key == "cookie" and "-" in (self.name or ""):
            raise ValueError("a cookie name for hashing has no '-' (NGINX cannot address it)")
        if self.key == "uri" and self.name is not None:
            raise ValueError("hash on uri takes no 'name'")
        return self


Balance = Annotated[
    RoundRobin | WeightedRoundRobin | LeastConnections | Random | SourceIpHash | ConsistentHash,
    Field(discriminator="strategy", description="How requests are spread over the servers."),
]


class HttpCheck(Frozen):
    """Active HTTP check: a request to each server; the expected status marks it up."""

    type: Literal["http"] = Field(description="http: an HTTP request per check")
    path: PathPrefix = Field("/", description="Path requested by the check (GET, HTTP/1.1).")
    host: HostName | None = Field(
        None, description="Host header of the check request (default: localhost).", examples=["app.internal"]
    )
    expect_status: int = Field(200, ge=100, le=599, description="The status that means healthy.")
    expect_body: CheckText | None = Field(
        None, description="Text the answer's body must also contain (a literal, not a pattern).",
        examples=["\"status\": \"ok\""],
    )
    interval: Duration = Field(2000, description="Time between two checks.")
    rise: int = Field(2, ge=1, le=100, description="Consecutive successes to mark a server up.")
    fall: int = Field(3, ge=1, le=100, description="Consecutive failures to mark a server down.")


class TcpCheck(Frozen):
    """Active TCP check: a server is up when it accepts a connection."""

    type: Literal["tcp"] = Field(description="tcp: a TCP connect per check")
    interval: Duration = Field(2000, description="Time between two checks.")
    rise: int = Field(2, ge=1, le=100, description="Consecutive successes to mark a server up.")
    fall: int = Field(3, ge=1, le=100, description="Consecutive failures to mark a server down.")


class PassiveCheck(Frozen):
    """Passive check on real traffic: a server whose connections fail (refused, reset before the request was
    sent, connect timeout) ``max_fails`` times is taken out for ``window``. HTTP answers never count, whatever
    their status: an application's 500 does not take a server out. (NGINX also counts a request that timed out
    waiting for its answer, a connection the server closed without one, and a status listed in the service's
    ``retries.on_status`` once it retried it; HAProxy brings a server back with a TCP connect check every
    ``window``, which it needs for passive checks.)"""

    max_fails: int = Field(3, ge=1, le=1000, description="Failed connections within 'window' that take a server out.")
    window: Duration = Field(10_000, description="Counting window, and how long a failed server stays out.")


class Health(Frozen):
    """How server health is judged. Passive checks are on by default (set ``passive: null`` to turn them off)."""

    active: Annotated[HttpCheck | TcpCheck, Field(discriminator="type")] | None = Field(
        None, description="Active checks (HAProxy only: NGINX open source has none)."
    )
    passive: PassiveCheck | None = Field(
        default_factory=shared_default(PassiveCheck),
        description="Passive checks on real traffic (both engines; default max_fails 3 in 10s; null: none).",
        examples=[{"max_fails": 3, "window": "10s"}, None],
    )


class CookiePersistence(Frozen):
    """Keep a client on one server with a cookie the proxy sets."""

    type: Literal["cookie"] = Field(description="cookie")
    cookie: CookieName = Field("SRV", description="Name of the persistence cookie.")
    max_age: Duration | None = Field(
        None, description="How long the browser keeps the cookie (Max-Age, whole seconds, rounded up); unset: a "
        "session cookie, gone when the browser closes.", examples=["8h"],
    )
    domain: HostName | None = Field(
        None, description="Domain attribute: the cookie is also sent to every subdomain of this domain (unset: only "
        "to the host that set it). No wildcard.", examples=["example.com"],
    )
    same_site: Literal["lax", "strict", "none"] = Field(
        "lax", description="SameSite attribute. none (cross-site requests carry the cookie) needs Secure, so every "
        "service using the pool must terminate TLS.",
    )

    @model_validator(mode="after")
    def _plain_domain(self) -> CookiePersistence:
        if self.domain is not None and self.domain.startswith("*."):
            raise ValueError("domain is a plain domain (its subdomains are included): drop the '*.'")
        return self

    def attributes(self, secure: bool) -> tuple[tuple[str, str | None], ...]:
        """The cookie's attributes as (name, value), the same on both engines: Path=/, HttpOnly always, Secure
        when every service using the pool terminates TLS (a plain-HTTP client would never send it back)."""
        found: list[tuple[str, str | None]] = [("Path", "/")]
        if self.domain is not None:
            found.append(("Domain", self.domain))
        if self.max_age is not None:
            found.append(("Max-Age", str(-(-self.max_age // 1000))))
        found.append(("HttpOnly", None))
        if secure:
            found.append(("Secure", None))
        found.append(("SameSite", self.same_site.capitalize()))
        return tuple(found)


class SourceIpPersistence(Frozen):
    """Keep a client on one server by its source IP address: a consistent hash of the address on both engines,
    so the choice survives reloads and is the same on both nodes of an HA pair while the pool is unchanged."""

    type: Literal["source_ip"] = Field(description="source_ip")


Persistence = Annotated[CookiePersistence | SourceIpPersistence, Field(discriminator="type")]


class Pool(Frozen):
    """A named group of backend servers."""

    name: Name = Field(description="Unique pool name; services refer to it.")
    servers: list[Server] = Field(
        default_factory=list, max_length=100_000,
        description="The servers of the pool (at least one unless the pool discovers members).",
    )
    balance: Balance = Field(default_factory=shared_default(RoundRobin))
    health: Health = Field(default_factory=shared_default(Health), description="Active and passive health checks.")
    persistence: Persistence | None = Field(None, description="Session persistence (sticky sessions).")
    keepalive: int = Field(
        32, ge=0, le=10_000, description="Idle keep-alive connections kept open to the pool per worker (HTTP only)."
    )
    protocol: Literal["http", "h2c", "grpc"] = Field(
        "http",
        description="How the proxy speaks to the servers (HTTP services only): http — HTTP/1.1 with keep-alive; "
        "h2c — HTTP/2 over plain TCP, prior knowledge (HAProxy only: NGINX 1.22 speaks HTTP/2 to servers only "
        "for gRPC); grpc — gRPC over h2c (its clients must reach the service over HTTP/2: on NGINX a TLS "
        "listener offering it).",
        examples=["grpc"],
    )
    send_proxy_protocol: Literal["v1", "v2"] | None = Field(
        None,
        description="Start every connection to the servers with a PROXY protocol header naming the client (v1 "
        "text, v2 binary), for servers behind the proxy that need the client address without HTTP headers; "
        "health checks send it too. NGINX 1.22 sends it only from tcp services, and only v1.",
        examples=["v1", "v2"],
    )
    tls: PoolTls | None = Field(
        None, description="Speak TLS to the servers: verify their certificates against a CA (or not), send SNI, "
        "present a client certificate. Health checks use the same TLS.",
        examples=[{"verify": "certs/backend-ca.pem", "sni": "billing.internal"}],
    )
    slow_start: Duration | None = Field(
        None, description="A server that comes back (its checks pass again, or it leaves maintenance) ramps up "
        "from a small share to its full weight over this time, instead of taking its full share at once (HAProxy "
        "only: slow start is not in NGINX open source).",
        examples=["30s"],
    )
    discover: Discover | None = Field(
        None, description="Members discovered from Docker container labels, beside the static servers. While it has "
        "none, or none that can serve (all gone or failing), the pool answers 503 (TCP: the connection is closed) "
        "and the proxy log names it.",
    )

    @property
    def answers_503(self) -> bool:
        """Whether a request the pool cannot serve gets 503: a discovered pool (no member yet, all gone or
        failing), on both engines; a static pool answers the 502 of a failed upstream. Decided by the model,
        never by the current members, so that members joining or leaving change only server lines (HAProxy
        takes those through its runtime API, without a reload)."""
        return self.discover is not None or not self.servers

    @model_validator(mode="after")
    def _has_servers(self) -> Pool:
        if not self.servers and self.discover is None:
            raise ValueError("a pool needs at least one server, or discover to find its members")
        return self

    @model_validator(mode="after")
    def _tls_speaks_http_or_tcp(self) -> Pool:
        if self.tls is not None and self.protocol != "http":
            raise ValueError(f"tls to the servers of a {self.protocol} pool is not supported: use protocol http, or "
                             "remove tls (TLS to gRPC servers is not modelled yet)")
        return self

    @model_validator(mode="after")
    def _source_persistence_replaces_balance(self) -> Pool:
        if (self.persistence is not None and self.persistence.type == "source_ip"
                and self.balance.strategy not in ("round_robin", "weighted_round_robin", "source_ip_hash")):
            raise ValueError(f"source_ip persistence is a consistent hash of the client address, which replaces "
                             f"balance {self.balance.strategy!r}: use round_robin, or cookie persistence")
        return self
