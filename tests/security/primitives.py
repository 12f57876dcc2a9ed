"""Hypothesis strategies for single model values: names, host names, IP
addresses the validating host can bind, ports, durations and sizes as a model
author writes them, networks; and the small helpers the model strategies in
``strategies.py`` share (distinct ports, optional keys)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from hypothesis import strategies as st

NAME = r"[a-z][a-z0-9_-]{0,39}"
LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOST = rf"(?:\*\.)?(?:{LABEL}\.){{0,3}}{LABEL}"
PATH = r"/[A-Za-z0-9._~/-]{0,40}"
HEADER = r"[A-Za-z][A-Za-z0-9-]{0,63}"
HEADER_VALUE = r"[A-Za-z0-9][A-Za-z0-9._:/@+=,-]{0,127}"
COOKIE = r"[A-Za-z][A-Za-z0-9_]{0,63}"
MIME = r"[a-z]{1,12}/[a-z0-9][a-z0-9.+-]{0,24}"
IFNAME = r"[a-zA-Z][a-zA-Z0-9_.-]{0,14}"
NGINX_NO_BACKUP = {"hash", "source_ip_hash", "random"}
STRATEGIES = ("round_robin", "weighted_round_robin", "least_connections", "random", "source_ip_hash", "hash")

D = dict[str, Any]
MAX_DIGITS = 999_999_999
# engine limit (refused by ctlplane/model/engine_limits.py; see test_engine_limits.py): HAProxy timers (timeouts, check intervals, stick-table expiry) hold at most
# 2147483647 ms (~24.8 days); the model allows 3650 days.
HAPROXY_TIMER_MAX = 2_147_483_647


def timer(engine: str, step: int = 1) -> st.SearchStrategy[Any]:
    """A duration that the engine keeps in a timer."""
    return durations(max_ms=HAPROXY_TIMER_MAX if engine == "haproxy" else 3650 * 86_400_000, step=step)


def names() -> st.SearchStrategy[str]:
    return st.from_regex(NAME, fullmatch=True)


def hosts() -> st.SearchStrategy[str]:
    return st.from_regex(HOST, fullmatch=True).filter(lambda h: len(h) <= 253)


def ips() -> st.SearchStrategy[str]:
    return st.ip_addresses().map(str)


def _ipv6_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def listen_addresses() -> st.SearchStrategy[str]:
    """Addresses this host can bind: ``nginx -t`` binds every listener (only 'address in use' is tolerated)."""
    loopback = st.ip_addresses(network="127.0.0.0/8").map(str)
    v6 = ["::", "::1"] if _ipv6_works() else []
    return st.one_of(st.sampled_from(["0.0.0.0", "127.0.0.1", *v6]), loopback)


def loopback_addresses() -> st.SearchStrategy[str]:
    """Loopback addresses this host can bind (the admin and metrics listeners may use no others)."""
    loopback = st.ip_addresses(network="127.0.0.0/8").map(str)
    return st.one_of(st.sampled_from(["127.0.0.1", *(["::1"] if _ipv6_works() else [])]), loopback)


def ports() -> st.SearchStrategy[int]:
    return st.integers(1, 65535)


def durations(min_ms: int = 1, max_ms: int = 3650 * 86_400_000, step: int = 1) -> st.SearchStrategy[Any]:
    """A duration as a model author writes it: '250ms', '5s', '2m', '1h', '7d' or a bare number of seconds."""
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

    def text(n: int, unit: str) -> str:
        return f"{n}{unit}"

    common = st.sampled_from(["500ms", "1s", "2s", "5s", "30s", "60s", "2m", "10m", "1h", "1d"])
    any_unit = st.sampled_from(sorted(units)).flatmap(  # the text form has at most 9 digits
        lambda u: st.integers(max(1, -(-min_ms // units[u])), max(1, min(MAX_DIGITS, max_ms // units[u])))
        .map(lambda n: text(n, u)))
    seconds = st.integers(max(1, -(-min_ms // 1000)), max(1, max_ms // 1000))
    return st.one_of(common, any_unit, seconds).filter(lambda v: min_ms <= _ms(v) <= max_ms and _ms(v) % step == 0)


def _ms(value: Any) -> int:
    from ctlplane.model.types import _parse_duration

    return _parse_duration(value)


def sizes(min_bytes: int = 0, max_bytes: int = 64 * 1024**3) -> st.SearchStrategy[Any]:
    mult = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    text = st.sampled_from(sorted(mult)).flatmap(
        lambda u: st.integers(0, min(MAX_DIGITS, max_bytes // mult[u])).map(lambda n: f"{n}{u}"))
    return st.one_of(text, st.integers(min_bytes, max_bytes)).filter(
        lambda v: min_bytes <= _bytes(v) <= max_bytes)


def _bytes(value: Any) -> int:
    from ctlplane.model.types import _parse_size

    return _parse_size(value)


def cidrs() -> st.SearchStrategy[str]:
    return st.ip_addresses().flatmap(
        lambda ip: st.integers(0, ip.max_prefixlen).map(lambda n: str(ipaddress.ip_network(f"{ip}/{n}", strict=False))))


class Ports:
    """Distinct ports for every listener of a model (so no two sockets ever collide)."""

    def __init__(self, values: list[int]) -> None:
        self.values = list(values)

    def take(self) -> int:
        return self.values.pop()


def maybe(draw: Any, target: D, key: str, strategy: st.SearchStrategy[Any]) -> None:
    """Set ``key`` from ``strategy`` or leave it out (the model's default applies)."""
    if draw(st.booleans()):
        target[key] = draw(strategy)
