"""Which changes HAProxy can take through its runtime API instead of a reload.

A pure comparison of the deployed and the new rendered files. When the only
differences are in ``server`` lines — a weight, maintenance on/off, maxconn,
a server added to an existing backend (with the backend's TLS options, printed
unquoted: the runtime CLI has no quoting), a server removed —
the change is a list of runtime commands; the written config carries the same
state, so a later reload keeps it. An added server is a dynamic server: it
ignores ``default-server``, so the backend's check settings are written on its
``add server`` line, and its health checks are enabled (HAProxy leaves them off
on dynamic servers); one with a cookie needs a reload. A removed server is
drained first, then deleted (the driver waits for its sessions to end and puts
it in maintenance, as ``del server`` requires). A refreshed OCSP response (``tls.ocsp_stapling``) is given to
the running workers with ``set ssl ocsp-response``, the new file beside the certificate keeping it for the
next reload. Anything else (a new option,
any other line or file) needs a reload and gives ``None``. NGINX open source has
no runtime API: always ``None``. Two configs of as many lines are compared line against line, reading only
the lines that differ (a weight change at 10,000 servers: about 10 ms instead of 70); servers added,
removed, moved or renamed are found by reading every server line of both.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from functools import cached_property

_BACKEND = re.compile(r"^backend '([A-Za-z0-9_-]+)'$")
_SERVER = re.compile(r"^    server '([A-Za-z0-9_-]+)' '([^' ]+)'((?: [^\n]*)?)$")
_DEFAULT_SERVER = re.compile(r"^    default-server( .*)$")
_RUNTIME_ADDABLE = {"weight", "maxconn", "backup", "disabled", "check", "proto", "check-proto"}
_CHECK_DEFAULTS = ("inter", "rise", "fall", "observe", "error-limit", "on-error")  # accepted by add server (2.6)
_TLS_DEFAULTS = ("send-proxy", "send-proxy-v2", "check-send-proxy", "ssl", "verify", "ca-file", "verifyhost", "sni",
                 "crt", "check-sni")  # ditto (PROXY protocol and TLS to the servers)
_RAMP_DEFAULTS = ("slowstart",)  # ditto (slow start)
_VALUED = ("slowstart", "weight", "maxconn", "cookie", "inter", "rise", "fall", "observe", "error-limit", "on-error",
           "proto", "check-proto", "verify", "ca-file", "verifyhost", "sni", "crt", "check-sni")
OCSP_SUFFIX = ".pem.ocsp"  # render.tls_files.ocsp_file on HAProxy
_PLAIN = re.compile(r"'?([A-Za-z0-9._/()-]+)'?")


@dataclass(frozen=True)
class ServerLine:
    backend: str
    name: str
    address: str
    rest: str = field(repr=False)  # the line after the address, split into options only when compared

    @cached_property
    def options(self) -> tuple[tuple[str, str], ...]:  # (keyword, value or "")
        return _options(self.rest)

    def option(self, key: str) -> str | None:
        return next((v for k, v in self.options if k == key), None)


def _options(text: str) -> tuple[tuple[str, str], ...]:
    tokens = text.split()
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        key = tokens[i]
        if key in _VALUED:
            out.append((key, tokens[i + 1] if i + 1 < len(tokens) else ""))
            i += 2
        else:
            out.append((key, ""))
            i += 1
    return tuple(out)


Servers = dict[tuple[str, str], tuple[str, str, str]]  # (backend, server) -> (server, address, rest of the line)


def parse_servers(cfg: str) -> tuple[list[str], dict[tuple[str, str], ServerLine]] | None:
    """The config without its server lines, and the server lines by (backend, server)."""
    skeleton, servers, _ = _parse(cfg.splitlines())
    return skeleton, {key: ServerLine(key[0], *line) for key, line in servers.items()}


def _parse(lines: list[str]) -> tuple[list[str], Servers, dict[str, tuple[tuple[str, str], ...]]]:
    """Skeleton, server lines, and each backend's default-server options. A large config is mostly server
    lines: a prefix test picks the few lines a pattern must read, and a server line stays the pattern's groups
    until it is compared."""
    skeleton: list[str] = []
    servers: Servers = {}
    defaults: dict[str, tuple[tuple[str, str], ...]] = {}
    backend: str | None = None
    for line in lines:
        if line.startswith("    "):
            if backend is not None:
                if line.startswith("    server "):
                    server = _SERVER.match(line)
                    if server:
                        name, address, rest = server.groups()
                        servers[(backend, name)] = (name, address, rest)
                        continue
                elif line.startswith("    default-server "):
                    default = _DEFAULT_SERVER.match(line)
                    if default:
                        defaults[backend] = _options(default.group(1))
        elif line and not line.startswith(" "):
            header = _BACKEND.match(line) if line.startswith("backend ") else None
            backend = header.group(1) if header else None
        skeleton.append(line)
    return skeleton, servers, defaults


def runtime_commands(engine: str, deployed: dict[str, bytes], new: dict[str, bytes]) -> list[str] | None:
    """The runtime-API commands equivalent to replacing ``deployed`` by ``new``, or None if a reload is needed."""
    if engine != "haproxy" or "haproxy.cfg" not in deployed or "haproxy.cfg" not in new:
        return None
    others = [{k: v for k, v in files.items() if k != "haproxy.cfg"} for files in (deployed, new)]
    if others[0] != others[1]:
        refreshed = ocsp_updates(others[0], others[1])
        if refreshed is None:
            return None
        commands = refreshed
    else:
        commands = []
    old_lines, new_lines = deployed["haproxy.cfg"].decode().splitlines(), new["haproxy.cfg"].decode().splitlines()
    if len(old_lines) == len(new_lines):  # the usual change (a weight, a state, another pool): read only the lines
        pairs = _differing(old_lines, new_lines)  # that differ, each against its twin
        if not any(_moved(old, now) for _, old, now in pairs):
            return _in_place(new_lines, pairs, commands)
    return _commands(old_lines, new_lines, commands)


def _commands(old_lines: list[str], new_lines: list[str], commands: list[str]) -> list[str] | None:
    """The comparison of the whole configs: every server line read, added and removed ones included."""
    old_skeleton, old, _ = _parse(old_lines)
    new_skeleton, now, defaults = _parse(new_lines)
    if old_skeleton != new_skeleton:
        return None
    for key, line in now.items():
        if old.get(key) == line:
            continue  # the same line
        server = ServerLine(key[0], *line)
        changed = _changed(ServerLine(key[0], *old[key]), server) if key in old else \
            _added(server, defaults.get(server.backend, ()), any(b == server.backend for b, _ in old))
        if changed is None:
            return None
        commands.extend(changed)
    for backend, name in sorted(set(old) - set(now)):  # last: new servers take traffic before others drain
        commands += [f"set server {backend}/{name} state drain", f"del server {backend}/{name}"]
    return commands or None


Pair = tuple[int, "re.Match[str] | None", "re.Match[str] | None"]  # a place, and each side's server line there


def _differing(old: list[str], new: list[str]) -> list[Pair]:
    """The places where two configs of as many lines differ, with the server line each side has there."""
    return [(i, _SERVER.match(a), _SERVER.match(b)) for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]


def _moved(old: re.Match[str] | None, new: re.Match[str] | None) -> bool:
    """A server line facing another line, or another server: servers moved, added, removed or renamed, which
    the whole comparison reads."""
    return (old is None) != (new is None) or (old is not None and new is not None and old.group(1) != new.group(1))


def _in_place(new_lines: list[str], pairs: list[Pair], commands: list[str]) -> list[str] | None:
    """The commands when every differing line faces its own server's line. The two configs then have server
    lines at the same places, so a differing line that is no server line is a differing skeleton: a reload,
    as the whole comparison would find."""
    for i, old, new in pairs:
        backend = _backend_of(new_lines, i)
        if old is None or new is None or backend is None:
            return None  # a line of the skeleton changed (a server line outside a backend is one)
        changed = _changed(ServerLine(backend, *old.groups()), ServerLine(backend, *new.groups()))
        if changed is None:
            return None
        commands.extend(changed)
    return commands or None


def _backend_of(lines: list[str], index: int) -> str | None:
    """The backend whose section holds line ``index`` (as :func:`_parse` reads sections), or None."""
    for j in range(index - 1, -1, -1):
        line = lines[j]
        if line and not line.startswith(" "):
            header = _BACKEND.match(line) if line.startswith("backend ") else None
            return header.group(1) if header else None
    return None


def ocsp_updates(deployed: dict[str, bytes], new: dict[str, bytes]) -> list[str] | None:
    """``set ssl ocsp-response`` for each stapled OCSP response (``<certificate>.pem.ocsp``) that changed, when
    nothing else did. HAProxy 2.6 takes a new response only for a certificate that had one at start (its OCSP
    entry exists from then): a response stapled for the first time, or dropped, needs a reload."""
    if deployed.keys() != new.keys():
        return None
    changed = sorted(k for k in new if deployed[k] != new[k])
    if not all(k.endswith(OCSP_SUFFIX) for k in changed):
        return None
    return [f"set ssl ocsp-response {base64.b64encode(new[k]).decode()}" for k in changed]


def _changed(old: ServerLine, new: ServerLine) -> list[str] | None:
    fixed = {"weight", "maxconn", "disabled"}
    if [o for o in old.options if o[0] not in fixed] != [o for o in new.options if o[0] not in fixed]:
        return None
    target = f"{new.backend}/{new.name}"
    commands = []
    if old.address != new.address:
        return None  # a new address: a reload (a discovered container that comes back elsewhere is re-added)
    if old.option("weight") != new.option("weight"):
        commands.append(f"set server {target} weight {new.option('weight') or '1'}")
    if old.option("maxconn") != new.option("maxconn"):
        if new.option("maxconn") is None:
            return None
        commands.append(f"set maxconn server {target} {new.option('maxconn')}")
    if (old.option("disabled") is None) != (new.option("disabled") is None):
        commands.append(f"set server {target} state {'maint' if new.option('disabled') is not None else 'ready'}")
    return commands


def _added(server: ServerLine, defaults: tuple[tuple[str, str], ...], loaded: bool) -> list[str] | None:
    """``loaded``: the backend had servers at the last reload, so a client certificate (``crt``) on its
    default-server is in HAProxy's certificate store (``add server`` cannot read a new one; a CA file named on
    default-server is loaded at start either way)."""
    if any(key not in _RUNTIME_ADDABLE for key, _ in server.options):
        return None  # dynamic servers refuse cookies: reload instead
    checked = server.option("check") is not None
    if any(key not in _CHECK_DEFAULTS + _TLS_DEFAULTS + _RAMP_DEFAULTS for key, _ in defaults):
        return None
    if any(key == "crt" for key, _ in defaults) and not loaded:
        return None
    target = f"{server.backend}/{server.name}"
    words = [f"add server {target} {server.address}"]
    words += [f"{k} {v}".strip() for k, v in server.options if k not in ("disabled", "check")]
    for key, value in defaults:  # dynamic servers ignore default-server: its settings go on the line itself
        if key in _TLS_DEFAULTS and (checked or not key.startswith("check-")):
            plain = _PLAIN.fullmatch(value) if value else None
            if value and plain is None:
                return None  # the runtime CLI has no quoting: only a plain quoted token passes
            words.append(f"{key} {plain.group(1)}" if plain else key)
    words += [f"{k} {v}" for k, v in defaults if k in _RAMP_DEFAULTS]
    if checked:
        words += [f"{k} {v}" for k, v in defaults if k in _CHECK_DEFAULTS] + ["check"]
    commands = [" ".join(words)]  # HAProxy creates it in maintenance, checks off
    if checked:
        commands.append(f"enable health {target}")
    if server.option("disabled") is None:
        commands.append(f"enable server {target}")
    if server.option("weight") == "0":
        commands.append(f"set server {target} weight 0")  # 2.6 creates a dynamic server with weight 0 as 1
    return commands
