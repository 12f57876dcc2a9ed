"""A lab: one test network with echo backends and client containers, shared by a test module.

``start_lab(session, "balancing")`` creates the network, backends ``a``,
``b``, ``c`` (fixed addresses .10, .11, .12) and clients ``c1``, ``c2``
(.50, .51). ``lab.reset()`` puts every backend back to normal behaviour with
zeroed hit counters (the ``lab`` fixture does it before each test);
``lab.control(name, "slow?ms=300")`` drives one backend's ``/_ctl/`` API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from integration.harness.containers import Client, Echo, start_client, start_echo
from integration.harness.network import LabNetwork, create_network
from integration.harness.session import DockerSession
from integration.harness.traffic import Request

BACKENDS = ("a", "b", "c")
CLIENTS = ("c1", "c2")


@dataclass
class Lab:
    net: LabNetwork
    backends: dict[str, Echo] = field(default_factory=dict)
    clients: list[Client] = field(default_factory=list)

    @property
    def session(self) -> DockerSession:
        return self.net.session

    @property
    def client(self) -> Client:
        return self.clients[0]

    def servers(self, names: Sequence[str] = BACKENDS, *, port: int | None = None,
                fields: Mapping[str, Mapping[str, object]] | None = None) -> list[dict[str, object]]:
        """Model pool servers for these backends; ``fields={"b": {"weight": 2}}`` adds fields to one of them."""
        return [self.backends[n].server(port, **(fields or {}).get(n, {})) for n in names]

    def control(self, name: str, action: str) -> None:
        """Call ``/_ctl/<action>`` on one backend (e.g. ``slow?ms=300``, ``fail?status=503``, ``reset``)."""
        traffic = self.client.load(Request(self.backends[name].http, f"/_ctl/{action}"), deadline=10)
        assert traffic.statuses() == {200: 1}, traffic.summary()

    def reset(self) -> None:
        """Every backend back to normal, hit counters zeroed (one exec)."""
        shapes = [Request(echo.http, path) for echo in self.backends.values()
                  for path in ("/_ctl/reset", "/_ctl/hits?reset=1")]
        traffic = self.client.load(shapes, concurrency=1, deadline=10)
        assert traffic.statuses() == {200: len(shapes)}, traffic.summary()

    def remove(self) -> None:
        self.net.remove()


def start_lab(session: DockerSession, suffix: str, backends: tuple[str, ...] = BACKENDS,
              clients: tuple[str, ...] = CLIENTS) -> Lab:
    net = create_network(session, suffix)
    lab = Lab(net)
    try:
        for n, name in enumerate(backends):
            lab.backends[name] = start_echo(net, name, 10 + n)
        for n, name in enumerate(clients):
            lab.clients.append(start_client(net, name, 50 + n))
    except BaseException:
        lab.remove()
        raise
    return lab
