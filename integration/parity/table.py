"""The parity table: every scenario the suite runs on NGINX and HAProxy, as plain data.

A :class:`Scenario` is a situation in words (``says``), the group model it
runs against (``groups.GROUPS``), a request sequence (``probe`` + ``args``,
see ``probes``), the observable outcome expected on *both* engines
(``expect``), the model fields it proves and the issue-12 items it covers.
Where an engine cannot honour the group's model, ``refused`` names that engine
and a part of the model's located error; the scenario still runs on the other
engine. Where the engines truly differ and ctlplane documents it instead of
refusing, ``differs`` gives each engine's outcome and ``why`` the reason.
Nothing here imports the harness, so the docs generator and the unit tests
read the table without Docker.
"""

from __future__ import annotations

from integration.parity.scenario import AREAS, Scenario
from integration.parity.scenarios_auth import SCENARIOS_AUTH
from integration.parity.scenarios_day2 import SCENARIOS_DAY2
from integration.parity.scenarios_headers import SCENARIOS_HEADERS
from integration.parity.scenarios_errors import SCENARIOS_ERRORS
from integration.parity.scenarios_http import SCENARIOS_HTTP
from integration.parity.scenarios_ops import SCENARIOS_OPS
from integration.parity.scenarios_policies import SCENARIOS_POLICIES
from integration.parity.scenarios_proxy import SCENARIOS_PROXY
from integration.parity.scenarios_redirect import SCENARIOS_REDIRECT
from integration.parity.scenarios_tls import SCENARIOS_TLS

__all__ = ["AREAS", "DIFFERENCES_WITHOUT_SCENARIO", "NO_SCENARIO", "SCENARIOS", "Scenario", "by_id"]

SCENARIOS: tuple[Scenario, ...] = (SCENARIOS_HTTP + SCENARIOS_OPS + SCENARIOS_DAY2 + SCENARIOS_TLS + SCENARIOS_PROXY
                                   + SCENARIOS_REDIRECT + SCENARIOS_HEADERS)
SCENARIOS += SCENARIOS_AUTH
SCENARIOS += SCENARIOS_ERRORS
SCENARIOS += SCENARIOS_POLICIES

# Model fields with no behaviour of their own to compare, with the reason (each shown in the docs page).
NO_SCENARIO: dict[str, str] = {
    "Model.version": "the format version",
    "Model.pools": "containers of the things the scenarios use",
    "Model.services": "containers of the things the scenarios use",
    "Model.proxies": "containers of the things the scenarios use",
    "Model.pairs": "HA pairs: integration/test_ha.py runs failover and rolling applies on both engines",
    "Pool.discover": "Docker discovery: integration/test_discovery.py runs the same scenarios on both engines "
                     "(members from labels, health, multi-homed, drain on leave, an emptied pool's 503)",
    "Discover.docker": "Docker discovery: integration/test_discovery.py, both engines",
    "DockerDiscovery.labels": "Docker discovery: integration/test_discovery.py, both engines",
    "DockerDiscovery.network": "Docker discovery: integration/test_discovery.py (multi-homed members), both engines",
    "DockerDiscovery.port": "Docker discovery: integration/test_discovery.py, both engines",
    "Model.files": "where model files may be read from (checked before rendering, tests/security)",
    "Files.allowed_bases": "where model files may be read from (checked before rendering, tests/security)",
    "Server.name": "an identifier (stats, runtime API)",
    "HttpService.name": "an identifier",
    "HttpService.listen": "every scenario listens (Listen.address and Listen.port)",
    "TcpService.name": "an identifier",
    "Proxy.name": "an identifier",
    "Proxy.engine": "the engine the parity suite compares",
    "Proxy.runtime": "where the proxy runs (the suite runs both engines in Docker)",
    "Proxy.services": "which services a proxy runs",
    "Proxy.workers": "capacity: how many processes/threads, no behaviour of its own",
    "Proxy.max_connections": "capacity: connections a worker accepts",
    "Pool.keepalive": "idle connections to the backends: latency, not behaviour a client can see",
    "Certificate.hosts": "SNI selection: integration/test_tls.py checks it on both engines",
    "LocalRuntime.*": "where the proxy runs",
    "DockerRuntime.*": "where the proxy runs",
    "Pair.*": "integration/test_ha.py: VRRP failover and rolling applies on both engines",
    "PairNode.*": "integration/test_ha.py",
    "VirtualIp.*": "integration/test_ha.py",
    "TrackCheck.*": "integration/test_ha.py",
    "Retries.on_status": "retried statuses: integration/test_health.py runs them on both engines",
    "Model.fleet": "fleets on Docker Swarm: no fleet field reaches a proxy config (integration/fleet rolls releases "
                   "out on both engines)",
    "Fleet.*": "fleets: no fleet field reaches a proxy config (integration/fleet)",
    "Manager.*": "fleets: how the controller reaches the Swarm manager, never a proxy config",
    "ManagerTls.*": "fleets: the controller's client TLS to the Swarm manager, never a proxy config",
    "NodeSelector.*": "fleets: which Swarm nodes run the proxies, never a proxy config",
    "Rollout.*": "fleets: canary, waves and soak of a rollout (integration/fleet), never a proxy config",
    "Gate.*": "fleets: what a soaking node must show (integration/fleet), never a proxy config",
}

# Differences documented without a traffic scenario, because no bounded test can observe them reliably.
DIFFERENCES_WITHOUT_SCENARIO: dict[str, str] = {
    "A server refusing connections, right after a start or reload": "HAProxy can only observe traffic on servers "
    "it also checks; the TCP connect check ctlplane adds for that (every `window`, to bring a server back) also "
    "takes a server that refuses connections out at its first failed check, usually before any request reaches "
    "it. NGINX takes it out after `max_fails` failed requests (which the service's retries send elsewhere). "
    "Either way no more than `max_fails` requests fail and the server is out (`passive-connections`); an "
    "application answering 500 stays in on both (`passive-ignores-500`).",
    "Per-client counters at a reload, and in a pair": "Request rates survive a reload on both engines "
    "(`reload-rate`): NGINX keeps its zones, HAProxy's old workers hand their tables to the new ones over a local "
    "peer, and ctlplane holds a reload until the serving worker can (HAProxy 2.6 needs up to 5 s after a cold "
    "start). Requests in progress (connections_per_client) differ at a reload: HAProxy never hands that counter "
    "over, so requests still held by the old workers do not count against the new ones, where NGINX's zone counts "
    "them until they end. Neither engine shares counters between the nodes of a pair (NGINX open source cannot "
    "share a zone): each node counts the clients it serves. Persistence does not depend on counters: source_ip "
    "persistence is a stateless hash on both engines.",
    "A client stalling in a large body": "HAProxy reads up to one buffer (16 KiB) of a request body before "
    "contacting the server, NGINX all of it: a client stalling later in a larger body is cut after timeouts.client "
    "by NGINX, answered 504 after timeouts.server by HAProxy.",
    "Passive checks beyond failed connections": "NGINX also counts a request that timed out waiting for its answer, "
    "a connection the server closed without answering, and a status in retries.on_status once retried; HAProxy "
    "counts failed connections only (observe layer4: its layer7 mode would count every 5xx).",
    "Stale answers": "NGINX serves an expired entry when the backend fails (proxy_cache_use_stale) and lets one "
    "request refill an entry while the others wait (proxy_cache_lock); HAProxy 2.6's small-object cache has "
    "neither, so ctlplane adds them where the engine has them. (No scenario: HAProxy keeps expiry in whole seconds "
    "of an internal clock that trails the wall clock on a CPU-starved machine, so a bounded test of an expired "
    "entry is not reliable there; tests/render/test_issue12.py checks the NGINX directives.)",
    "Cache lifetimes": "a stored answer is served for its own max-age on NGINX; HAProxy caps it at cache.valid. "
    "HAProxy keeps no object larger than 1/256 of max_size.",
    "Error pages": "the bodies of the proxies' own error answers differ (NGINX's names NGINX); the statuses are "
    "the same. A service with error_pages answers with its own page on both engines (the `errors-*` scenarios).",
    "Age header": "HAProxy adds Age to answers from its cache, NGINX open source does not.",
    "Waiting for the answer to an Upgrade request": "NGINX hands a request carrying Upgrade to a twin location whose "
    "read timeout is timeouts.tunnel, so it waits that long for the backend's answer (whatever it is), where "
    "HAProxy waits timeouts.server until the 101. NGINX has one read timeout per location, taking no variable.",
    "Rewrites and redirects of unusual paths": "NGINX matches locations and rewrites on the decoded, normalized "
    "path (%41 is A, // is /, dot segments resolved) and re-encodes it when it proxies; HAProxy matches and "
    "rewrites the path as sent, so for plain paths the backend sees the same bytes. A request NGINX matched only "
    "after decoding, whose raw path does not start with the prefix, is redirected to to_path_prefix itself. "
    "(No scenario: the lab's backend collapses a leading '//' itself.)",
    "Hashing on the URI of a rewritten route": "HAProxy's balance uri hashes the path after the rewrite, NGINX's "
    "hash the request's URI: each keeps one URI on one server, the spread differs.",
    "WebSocket over HTTP/2": "HAProxy 2.6 announces RFC 8441 (WebSocket over HTTP/2) on HTTP/2 connections; NGINX "
    "1.22 does not, so such clients open an HTTP/1.1 connection for the socket. The backend sees an HTTP/1.1 "
    "upgrade either way.",
}


def by_id() -> dict[str, Scenario]:
    return {s.id: s for s in SCENARIOS}
