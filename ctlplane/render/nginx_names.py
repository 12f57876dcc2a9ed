"""Every identifier the NGINX renderer prints unquoted: upstream, zone and
variable names, and the request variables built from header and cookie names.

NGINX cannot quote a variable name, and names such as upstreams and zones are
printed bare for readability, so each one is built here from strict model
names and re-checked against an anchored pattern before it is returned; a
mismatch raises :class:`RenderError` (a bug or an injection attempt, never a
silent change). Variable names only allow ``[A-Za-z0-9_]``, so model names are
encoded injectively for them: ``_`` becomes ``__`` and ``-`` becomes ``_h``.
"""

from __future__ import annotations

import re

from ctlplane.errors import Finding, RenderError

BARE = re.compile(r"[a-z][a-z0-9_-]{0,80}")  # upstream and shared-memory zone names
_VAR = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,200}")  # variable names (without the '$')
_COOKIE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_HEADER = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")
_MODEL_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


def _refuse(what: str, value: str) -> RenderError:
    return RenderError("refusing to print an identifier into nginx config",
                       [Finding(f"{what} is not a safe identifier: {value!r}", source="nginx")])


def checked(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _refuse(what, str(value))
    return value


def encode(name: str) -> str:
    """A model name as a variable-name fragment: '_' -> '__', '-' -> '_h' (injective)."""
    checked(name, _MODEL_NAME, "model name")
    return name.replace("_", "__").replace("-", "_h")


def bare(prefix: str, name: str) -> str:
    """An upstream or zone name: ``<prefix>_<model name>``."""
    checked(name, _MODEL_NAME, "model name")
    return checked(f"{prefix}_{name}", BARE, "name")


def var(*parts: str | int) -> str:
    """A variable name (without '$') joined from fixed words, encoded model names and numbers."""
    return checked("_".join(str(p) for p in parts), _VAR, "variable name")


def upstream_name(pool: str) -> str:
    return bare("pool", pool)


def header_var(header: str) -> str:
    """``$http_x_tenant`` for X-Tenant (without the '$')."""
    checked(header, _HEADER, "header name")
    return var("http", header.lower().replace("-", "_"))


def cookie_name(cookie: str) -> str:
    """A cookie name, checked so it can stand inside ``$cookie_NAME`` and an unquoted cookie string."""
    return checked(cookie, _COOKIE, "cookie name")


def cookie_var(cookie: str) -> str:
    return var("cookie", cookie_name(cookie))


def sticky_var(pool: str) -> str:
    """The per-request persistence key of a pool with cookie persistence."""
    return var("ctl_sticky", encode(pool))


def setcookie_var(pool: str) -> str:
    """The Set-Cookie value a pool with cookie persistence sends when the client has no cookie yet."""
    return var("ctl_setcookie", encode(pool))


def route_var(service: str, n: int) -> str:
    return var("ctl_route", encode(service), n)


def route_cookie_var(service: str, n: int) -> str:
    return var("ctl_cookie", encode(service), n)
