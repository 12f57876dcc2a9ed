"""Reusable strict value types of the model.

Every user string that can reach a rendered config is one of these ``Annotated``
types: an anchored allow-list pattern (Rust regex semantics, where ``$`` only
matches at the very end, so a trailing newline is refused) or a parsed value
(IP address, duration in milliseconds, size in bytes). Nothing here is
engine-specific; the engines' escaping filters live in ``ctlplane.render.filters``.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

__all__ = [
    "Bytes",
    "Cidr",
    "CookieName",
    "Duration",
    "FilePath",
    "Frozen",
    "HeaderName",
    "HeaderValue",
    "HostName",
    "IfName",
    "ListenAddress",
    "MimeType",
    "Name",
    "PathPrefix",
    "Port",
    "ResponseText",
    "ServerAddress",
    "UnixName",
    "VipCidr",
    "Weight",
    "format_duration",
    "format_size",
    "shared_default",
]


class Frozen(BaseModel):
    """Base of every model object: immutable, unknown fields refused, whitespace kept as typed. Validators are
    built when first needed (``defer_build``): validating a model builds the root's once, for the whole tree,
    instead of every class building its own subtree again at import (about 10 ms of a short command's start,
    measured in process: import, then the first load)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False, defer_build=True)


F = TypeVar("F", bound=Frozen)


def shared_default(cls: Callable[[], F]) -> Callable[[], F]:
    """A default factory for a field whose default is an immutable model: it builds the default once and
    hands the same object to every instance (a model of 1,000 services and pools built about 10,000 equal
    defaults, each a validation of its own)."""
    made: list[F] = []

    def default() -> F:
        if not made:
            made.append(cls())
        return made[0]

    return default


Name = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_-]{0,39}$",
        description="A lowercase identifier: a letter, then letters, digits, '_' or '-' (at most 40).",
        examples=["web", "api-v2"],
    ),
]

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HostName = Annotated[
    str,
    Field(
        pattern=rf"^(?:\*\.)?(?:{_LABEL}\.)*{_LABEL}$",
        max_length=253,
        description="A DNS host name in lowercase; a leading '*.' matches any one or more labels.",
        examples=["www.example.com", "*.example.com"],
    ),
]

PathPrefix = Annotated[
    str,
    Field(
        pattern=r"^/[A-Za-z0-9._~/-]{0,200}$",
        description="A URL path prefix: '/' followed by letters, digits and . _ ~ / - only.",
        examples=["/", "/video/", "/billing"],
    ),
]

ResponseText = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9 !\"#%&()*+,./:;<=>?@\[\]^_`{|}~-]{1,512}$",
        description="A short literal text (1-512 characters): letters, digits, space and ASCII punctuation except "
        "'$', \"'\" and backslash; no line breaks.",
        examples=["ok", "Down for maintenance, back soon."],
    ),
]

HeaderName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z][A-Za-z0-9-]{0,63}$",
        description="An HTTP header name: a letter, then letters, digits and '-'.",
        examples=["X-Tenant", "X-Powered-By"],
    ),
]

HeaderValue = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+=,-]{0,127}$",
        description="An exact header value to match: letters, digits and . _ : / @ + = , - (starts alphanumeric).",
        examples=["gold", "tenant-42"],
    ),
]

CheckText = Annotated[
    str,
    Field(
        pattern=r"^[\x20-\x26\x28-\x7e]{1,128}$",
        description="Literal text: 1 to 128 printable ASCII characters, no single quote.",
        examples=["\"status\": \"ok\""],
    ),
]

CookieName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$",
        description="A cookie name: a letter, then letters, digits and '_'.",
        examples=["SRV", "session_id"],
    ),
]

MimeType = Annotated[
    str,
    Field(
        pattern=r"^[a-z]{1,20}/[a-z0-9][a-z0-9.+-]{0,24}$",
        description="A MIME type such as text/html (at most 46 characters: NGINX hashes gzip_types in 64-byte "
        "buckets).",
        examples=["text/html", "application/json"],
    ),
]

UnixName = Annotated[
    str,
    Field(
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="A Unix user or group name: a lowercase letter or '_', then letters, digits, '_' or '-'.",
        examples=["nobody", "www-data"],
    ),
]

IfName = Annotated[
    str,
    Field(pattern=r"^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$", description="A network interface name.", examples=["eth0"]),
]

def _no_parent(value: str) -> str:
    if ".." in value.split("/"):
        raise ValueError("must not contain '..' segments")
    return value


FilePath = Annotated[
    str,
    Field(  # before the validator, so that the JSON schema keeps the pattern
        pattern=r"^[A-Za-z0-9._/-][A-Za-z0-9._/+-]{0,1023}$",
        description=(
            "A file or directory path, absolute or relative to the model file: letters, digits and . _ / + - only."
        ),
        examples=["certs/www.pem", "/etc/ssl/private/www.key"],
    ),
    AfterValidator(_no_parent),
]

Port = Annotated[int, Field(ge=1, le=65535, description="A TCP port (1-65535).", examples=[443])]

Weight = Annotated[
    int,
    Field(
        ge=0,
        le=256,
        description="Relative weight (0-256; HAProxy's range). 0 takes the server out of rotation on HAProxy; "
        "NGINX requires at least 1.",
        examples=[1, 3],
    ),
]


def _no_scope(value: str) -> str:
    """IPv6 scope ids ('fe80::1%eth0') are refused: ``ipaddress`` accepts any text after '%'."""
    if "%" in value:
        raise ValueError("IPv6 scope ids ('%...') are not supported")
    return value


_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)")


def _canonical_ip(value: str) -> str:
    """The canonical text of an IP address: a plain dotted quad is already (the common case, checked by one
    compiled pattern); anything else goes through ``ipaddress`` (which raises ValueError)."""
    if _IPV4.fullmatch(value):
        return value
    return str(ipaddress.ip_address(_no_scope(value)))


def _check_ip(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string IP address")
    return _canonical_ip(value)


ListenAddress = Annotated[
    str,
    BeforeValidator(_check_ip),
    Field(
        description="The local IP address to listen on: 0.0.0.0 means every IPv4 address, :: every IPv4 and IPv6 "
        "address (dual stack on both engines).",
        examples=["0.0.0.0", "127.0.0.1"],
    ),
]


def _check_server_address(value: Any) -> str:
    if type(value) is str and _IPV4.fullmatch(value):  # the common case, in one call: a canonical dotted quad
        return value
    if not isinstance(value, str):
        raise ValueError("must be a string: an IP address or a host name")
    _no_scope(value)
    try:
        return _canonical_ip(value)
    except ValueError:
        pass
    if re.fullmatch(rf"(?:{_LABEL}\.)*{_LABEL}", value) and len(value) <= 253:
        if value.rsplit(".", 1)[-1].isdigit():
            raise ValueError("is neither a valid IP address nor a host name (a host name's last label is not numeric)")
        return value
    raise ValueError("must be an IP address or a lowercase DNS host name")


ServerAddress = Annotated[
    str,
    BeforeValidator(_check_server_address),
    Field(description="A backend server's IP address or DNS host name.", examples=["10.0.0.11", "app1.internal"]),
]


def _check_cidr(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string CIDR such as 10.0.0.0/8")
    return str(ipaddress.ip_network(_no_scope(value), strict=True))


Cidr = Annotated[
    str,
    BeforeValidator(_check_cidr),
    Field(description="An IP network in CIDR notation (host bits zero).", examples=["10.0.0.0/8", "203.0.113.7/32"]),
]


def _check_vip(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string such as 192.0.2.10/24")
    iface = ipaddress.ip_interface(_no_scope(value))
    if iface.version != 4:
        raise ValueError("VRRP virtual IPs must be IPv4 here")
    return str(iface)


VipCidr = Annotated[
    str,
    BeforeValidator(_check_vip),
    Field(description="A virtual IPv4 address with its prefix length.", examples=["192.0.2.10/24"]),
]

_DURATION = re.compile(r"([0-9]{1,9})(ms|s|m|h|d)")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def _parse_duration(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 500ms, 5s, 2m, 1h or 7d")
    if isinstance(value, int):
        return value * 1000  # a bare number means seconds
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match:
            return int(match.group(1)) * _DURATION_MS[match.group(2)]
    raise ValueError("must be a duration such as 500ms, 5s, 2m, 1h or 7d")


@lru_cache(maxsize=4096)  # a model repeats a few durations on every server and service
def format_duration(ms: int) -> str:
    """The shortest exact form, understood by both NGINX and HAProxy (both accept ms, s, m, h, d)."""
    for unit in ("d", "h", "m", "s"):
        if ms % _DURATION_MS[unit] == 0 and ms:
            return f"{ms // _DURATION_MS[unit]}{unit}"
    return f"{ms}ms"


Duration = Annotated[
    int,
    BeforeValidator(_parse_duration),
    Field(ge=1, le=3650 * 86_400_000),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": r"^[0-9]{1,9}(ms|s|m|h|d)$"}, {"type": "integer", "minimum": 1}],
            "description": "A duration: 500ms, 5s, 2m, 1h, 7d (a bare number means seconds).",
            "examples": ["5s", "500ms"],
        }
    ),
]

_SIZE = re.compile(r"([0-9]{1,9})([kmg]?)")
_SIZE_BYTES = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _parse_size(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a size such as 512, 64k, 10m or 1g")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.lower())
        if match:
            return int(match.group(1)) * _SIZE_BYTES[match.group(2)]
    raise ValueError("must be a size such as 512, 64k, 10m or 1g")


def format_size(n: int) -> str:
    """The shortest exact NGINX size form (bytes, k, m or g)."""
    for unit in ("g", "m", "k"):
        if n and n % _SIZE_BYTES[unit] == 0:
            return f"{n // _SIZE_BYTES[unit]}{unit}"
    return str(n)


Bytes = Annotated[
    int,
    BeforeValidator(_parse_size),
    Field(ge=0, le=64 * 1024**3),
    PlainSerializer(format_size, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": r"^[0-9]{1,9}[kmgKMG]?$"}, {"type": "integer", "minimum": 0}],
            "description": "A size in bytes; suffixes k, m, g allowed (10m).",
            "examples": ["10m", "1024"],
        }
    ),
]

