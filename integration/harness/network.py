"""Test networks: a Docker bridge per module on an explicit, free /24 subnet.

Subnets come from ``10.213.0.0/16``; one that overlaps an existing Docker
network or a route of this host is never used, and a race with a concurrent
run (the engine refuses an overlapping pool) moves on to the next candidate.
Inside a subnet the harness gives fixed addresses ``.10``-``.99`` to the
containers it starts (backends, clients), while containers started without
an address (the proxies ctlplane's driver creates) get one from ``.128/25``.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from integration.harness.session import DockerSession

POOL = ipaddress.IPv4Network("10.213.0.0/16")
FIXED_FIRST, FIXED_LAST = 10, 99
DYNAMIC_RANGE_PREFIX = 25  # the upper half of the /24


def host_routes(path: str = "/proc/net/route") -> list[ipaddress.IPv4Network]:
    """The IPv4 destinations this host routes (default route excluded)."""
    nets: list[ipaddress.IPv4Network] = []
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()[1:]
    except OSError:
        return nets
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        dest = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
        mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
        net = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
        if net.prefixlen:
            nets.append(net)
    return nets


def docker_subnets(client: Any) -> list[ipaddress.IPv4Network]:
    found: list[ipaddress.IPv4Network] = []
    for network in client.networks.list():
        for pool in (network.attrs.get("IPAM") or {}).get("Config") or []:
            subnet = pool.get("Subnet")
            if subnet and ":" not in subnet:
                found.append(ipaddress.IPv4Network(subnet, strict=False))
    return found


def free_subnets(used: Iterable[ipaddress.IPv4Network], seed: int | None = None,
                 pool: ipaddress.IPv4Network = POOL) -> Iterator[ipaddress.IPv4Network]:
    """Candidate /24s of ``pool`` that overlap nothing in ``used``, starting at a random one."""
    taken = list(used)
    candidates = list(pool.subnets(new_prefix=24))
    start = random.Random(seed).randrange(len(candidates))
    for subnet in candidates[start:] + candidates[:start]:
        if not any(subnet.overlaps(other) for other in taken):
            yield subnet


@dataclass
class LabNetwork:
    """A bridge network this run created; ``ip(n)`` is the fixed address ``.n`` in it."""

    session: DockerSession
    network: Any
    subnet: ipaddress.IPv4Network
    suffix: str

    @property
    def name(self) -> str:
        return str(self.network.name)

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    def ip(self, n: int) -> str:
        if not FIXED_FIRST <= n <= FIXED_LAST:
            raise ValueError(f"fixed addresses are .{FIXED_FIRST}-.{FIXED_LAST}")
        return str(self.subnet.network_address + n)

    def endpoint(self, ip: str) -> dict[str, Any]:
        """``networking_config`` for a container with a fixed address on this network."""
        return {self.name: self.session.client.api.create_endpoint_config(ipv4_address=ip)}

    def address_of(self, container: Any) -> str:
        container.reload()
        return str(container.attrs["NetworkSettings"]["Networks"][self.name]["IPAddress"])

    def remove(self) -> None:
        self.session.remove_network(self.network)


def create_network(session: DockerSession, suffix: str, attempts: int = 20) -> LabNetwork:
    """A new bridge network on a free /24 (explicit subnet, gateway and dynamic range)."""
    import docker

    used = docker_subnets(session.client) + host_routes()
    last: Exception | None = None
    for n, subnet in enumerate(free_subnets(used)):
        if n >= attempts:
            break
        dynamic = list(subnet.subnets(new_prefix=DYNAMIC_RANGE_PREFIX))[1]
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
            subnet=str(subnet), iprange=str(dynamic), gateway=str(subnet.network_address + 1))])
        try:
            network = session.client.networks.create(session.name(suffix), driver="bridge", ipam=ipam,
                                                     labels=session.labels, check_duplicate=True)
        except docker.errors.APIError as exc:  # overlap with a network created meanwhile: next candidate
            last = exc
            continue
        return LabNetwork(session, network, subnet, suffix)
    raise RuntimeError(f"no free /24 in {POOL} for a test network: {last}")
