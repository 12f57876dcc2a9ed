"""Proxies and HA pairs: which engine runs which services, where it runs, and
how two proxies back each other up with keepalived (VRRP).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ctlplane.model.auth import AdminAuth
from ctlplane.model.types import (Duration, FilePath, Frozen, IfName, ListenAddress, Name, Port, UnixName, VipCidr,
                                  shared_default)


class LocalRuntime(Frozen):
    """The proxy runs as a process on this host, under ctlplane's state directory."""

    kind: Literal["local"] = Field("local", description="local: a process on this host.")
    state_dir: FilePath | None = Field(
        None, description="Where config, pid files and sockets live (default: .ctlplane/<proxy> beside the model)."
    )


class DockerRuntime(Frozen):
    """The proxy runs in a Docker container; its config lives in a mounted directory."""

    kind: Literal["docker"] = Field(description="docker: a container.")
    container: Name = Field(description="Container name (found by name, or created from 'image').")
    image: str = Field(
        "ctlplane-base:latest",
        pattern=r"^[a-z0-9][a-z0-9._/-]{0,127}(:[A-Za-z0-9._-]{1,128})?$",
        description="Image used when the container does not exist yet.",
    )
    network: Name | None = Field(None, description="Docker network to attach a newly created container to.")
    config_dir: FilePath | None = Field(
        None, description="Host directory mounted as the config directory (default: .ctlplane/<proxy>)."
    )


Runtime = Annotated[LocalRuntime | DockerRuntime, Field(discriminator="kind")]




class Admin(Frozen):
    """An internal listener: health endpoint (/healthz) and stats (metrics: see Metrics). Without auth the
    model refuses any other than a loopback address (ctlplane status and keepalived reach it there); with auth
    the stats ask for credentials and it may listen anywhere (/healthz stays open: it answers only 'ok')."""

    address: ListenAddress = Field("127.0.0.1", description="A loopback address, or any with auth.")
    port: Port = Field(description="Port to listen on.")
    auth: AdminAuth | None = Field(
        None, description="Basic auth of the stats (HAProxy /stats, NGINX /status), except for loopback clients "
        "(ctlplane status reads them there).", examples=[{"htpasswd": "auth/ops.htpasswd", "realm": "Ops"}])


class Metrics(Frozen):
    """An internal listener serving /metrics: Prometheus text (HAProxy), stub_status counters (NGINX). Without
    auth the model refuses any other than a loopback address (scrape it from beside the proxy); with auth it
    may listen anywhere."""

    address: ListenAddress = Field("127.0.0.1", description="A loopback address, or any with auth.")
    port: Port = Field(description="Port to listen on.")
    auth: AdminAuth | None = Field(
        None, description="Basic auth of /metrics (scrapers send the credentials).",
        examples=[{"htpasswd": "auth/ops.htpasswd", "realm": "Metrics"}])




class Proxy(Frozen):
    """One load balancer: an NGINX or HAProxy instance and the services it runs."""

    name: Name = Field(description="Unique proxy name.")
    engine: Literal["nginx", "haproxy"] = Field(description="Which proxy software renders and runs the services.")
    runtime: Runtime = Field(default_factory=shared_default(LocalRuntime), description="Where the proxy runs.")
    services: list[Name] = Field(min_length=1, description="Names of the services this proxy runs.")
    workers: int | Literal["auto"] = Field(
        "auto", description="NGINX worker processes / HAProxy threads ('auto': one per core)."
    )
    max_connections: int = Field(
        4096, ge=64, le=1_000_000,
        description="Most concurrent connections: per worker (NGINX) or per process (HAProxy).",
    )
    admin: Admin | None = Field(None, description="Internal listener for /healthz and stats (needed in HA pairs).")
    metrics: Metrics | None = Field(
        None, description="Opt-in /metrics listener: Prometheus (HAProxy) or stub_status text (NGINX)."
    )
    access_log: Literal["default", "json"] = Field(
        "default",
        description="Access log format, one line per request on both engines: 'default' is the combined log format "
        "plus host, upstream and timings in milliseconds; 'json' one JSON object with the same fields (client, "
        "host, path, status, upstream, upstream_time_ms, total_time_ms).",
    )
    user: UnixName = Field(
        "nobody", description="User the worker processes run as when the proxy is started as root."
    )
    group: UnixName = Field(
        "nogroup", description="Group the worker processes run as when the proxy is started as root."
    )
    drain_timeout: Duration = Field(
        60_000,
        description="After a reload, how long the old workers may finish requests, downloads and tunnels still "
        "open; connections older than this are cut.",
        examples=["60s", "10m"],
    )

    @model_validator(mode="after")
    def _workers_range(self) -> Proxy:
        if isinstance(self.workers, int) and not 1 <= self.workers <= 64:
            raise ValueError("workers must be 'auto' or 1-64")
        return self



class PairNode(Frozen):
    """One member of an HA pair."""

    proxy: Name = Field(description="The proxy on this node.")
    interface: IfName = Field("eth0", description="Interface carrying VRRP and the virtual IPs.")
    address: ListenAddress | None = Field(None, description="This node's own IP, used for unicast VRRP.")


class VirtualIp(Frozen):
    """A virtual IP owned by one node and backed up by the other."""

    address: VipCidr
    router_id: int = Field(ge=1, le=255, description="VRRP virtual router id (unique on the network).")
    owner: Name = Field(description="The proxy that holds this VIP while it is healthy.")


class TrackCheck(Frozen):
    """How keepalived checks that the local proxy really serves."""

    interval: Duration = Field(1000, ge=1000, description="Time between two checks (whole seconds).")
    timeout: Duration = Field(1000, ge=1000, description="A check slower than this fails (whole seconds).")
    fall: int = Field(2, ge=1, le=10, description="Failed checks before the node gives up its VIPs.")
    rise: int = Field(2, ge=1, le=10, description="Passed checks before the node may hold VIPs again.")


class Pair(Frozen):
    """Two proxies behind VRRP virtual IPs: active-passive (one VIP) or active-active (one VIP per node)."""

    name: Name = Field(description="Unique pair name.")
    mode: Literal["active_passive", "active_active"] = Field(
        description="One VIP (active_passive) or one per node (active_active).")
    nodes: list[PairNode] = Field(min_length=2, max_length=2, description="Exactly two nodes.")
    virtual_ips: list[VirtualIp] = Field(min_length=1, max_length=2, description="The virtual IPs and their owners.")
    advert_interval: Duration = Field(1000, ge=1000, le=255_000, description="VRRP advertisement interval.")
    preempt: bool = Field(True, description="A recovered owner takes its VIP back.")
    unicast: bool = Field(False, description="Send VRRP to the peer's address instead of multicast.")
    auth_password: str | None = Field(
        None, pattern=r"^[A-Za-z0-9]{1,8}$", description="VRRP PASS authentication (1-8 letters/digits)."
    )
    priority_owner: int = Field(150, ge=2, le=254, description="VRRP priority of a VIP's owner.")
    priority_peer: int = Field(100, ge=1, le=253, description="VRRP priority of the backing-up node.")
    check: TrackCheck = Field(default_factory=shared_default(TrackCheck),
                              description="keepalived's check of the local proxy.")

    @model_validator(mode="after")
    def _shape(self) -> Pair:
        names = [n.proxy for n in self.nodes]
        if names[0] == names[1]:
            raise ValueError("the two nodes must be different proxies")
        want = 1 if self.mode == "active_passive" else 2
        if len(self.virtual_ips) != want:
            raise ValueError(f"{self.mode} needs exactly {want} virtual IP(s)")
        for vip in self.virtual_ips:
            if vip.owner not in names:
                raise ValueError(f"virtual IP owner {vip.owner!r} is not a node of this pair")
        if want == 2 and self.virtual_ips[0].owner == self.virtual_ips[1].owner:
            raise ValueError("active_active: each node owns one virtual IP")
        if len({v.router_id for v in self.virtual_ips}) != len(self.virtual_ips):
            raise ValueError("each virtual IP needs its own router_id")
        if self.priority_peer >= self.priority_owner:
            raise ValueError("priority_peer must be lower than priority_owner")
        if self.unicast and any(n.address is None for n in self.nodes):
            raise ValueError("unicast needs an address on both nodes")
        return self
