"""Which changes HAProxy can take through its runtime API instead of a reload.

A pure comparison of the deployed and the new rendered files. When the only
differences are in ``server`` lines — a weight, maintenance on/off, maxconn,
or a server added to an existing backend with plain options — the change is
a list of runtime commands; the written config carries the same state, so a
later reload keeps it. Anything else (a removed server, a new option, any
other line or file) needs a reload and gives ``None``. NGINX open source has
no runtime API: always ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BACKEND = re.compile(r"^backend '([A-Za-z0-9_-]+)'$")
_SERVER = re.compile(r"^    server '([A-Za-z0-9_-]+)' '([^' ]+)'((?: [^\n]*)?)$")
_RUNTIME_ADDABLE = {"weight", "maxconn", "backup", "disabled"}


@dataclass(frozen=True)
class ServerLine:
    backend: str
    name: str
    address: str
    options: tuple[tuple[str, str], ...]  # (keyword, value or "")

    def option(self, key: str) -> str | None:
        return next((v for k, v in self.options if k == key), None)


def _options(text: str) -> tuple[tuple[str, str], ...]:
    tokens = text.split()
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        key = tokens[i]
        if key in ("weight", "maxconn", "cookie", "inter", "rise", "fall", "observe", "error-limit", "on-error"):
            out.append((key, tokens[i + 1] if i + 1 < len(tokens) else ""))
            i += 2
        else:
            out.append((key, ""))
            i += 1
    return tuple(out)


def parse_servers(cfg: str) -> tuple[list[str], dict[tuple[str, str], ServerLine]] | None:
    """The config without its server lines, and the server lines by (backend, server)."""
    skeleton: list[str] = []
    servers: dict[tuple[str, str], ServerLine] = {}
    backend: str | None = None
    for line in cfg.splitlines():
        header = _BACKEND.match(line)
        if header:
            backend = header.group(1)
        elif line and not line.startswith(" "):
            backend = None
        server = _SERVER.match(line)
        if server and backend is not None:
            name, address, rest = server.groups()
            servers[(backend, name)] = ServerLine(backend, name, address, _options(rest))
        else:
            skeleton.append(line)
    return skeleton, servers


def runtime_commands(engine: str, deployed: dict[str, bytes], new: dict[str, bytes]) -> list[str] | None:
    """The runtime-API commands equivalent to replacing ``deployed`` by ``new``, or None if a reload is needed."""
    if engine != "haproxy" or "haproxy.cfg" not in deployed or "haproxy.cfg" not in new:
        return None
    others = [{k: v for k, v in files.items() if k != "haproxy.cfg"} for files in (deployed, new)]
    if others[0] != others[1]:
        return None
    old_parsed = parse_servers(deployed["haproxy.cfg"].decode())
    new_parsed = parse_servers(new["haproxy.cfg"].decode())
    if old_parsed is None or new_parsed is None or old_parsed[0] != new_parsed[0]:
        return None
    old, now = old_parsed[1], new_parsed[1]
    if set(old) - set(now):
        return None  # removing a server: a reload lets its sessions finish
    commands: list[str] = []
    for key, server in now.items():
        changed = _changed(old[key], server) if key in old else _added(server)
        if changed is None:
            return None
        commands.extend(changed)
    return commands or None


def _changed(old: ServerLine, new: ServerLine) -> list[str] | None:
    if old.address != new.address:
        return None
    fixed = {"weight", "maxconn", "disabled"}
    if [o for o in old.options if o[0] not in fixed] != [o for o in new.options if o[0] not in fixed]:
        return None
    target = f"{new.backend}/{new.name}"
    commands = []
    if old.option("weight") != new.option("weight"):
        commands.append(f"set server {target} weight {new.option('weight') or '1'}")
    if old.option("maxconn") != new.option("maxconn"):
        if new.option("maxconn") is None:
            return None
        commands.append(f"set maxconn server {target} {new.option('maxconn')}")
    if (old.option("disabled") is None) != (new.option("disabled") is None):
        commands.append(f"set server {target} state {'maint' if new.option('disabled') is not None else 'ready'}")
    return commands


def _added(server: ServerLine) -> list[str] | None:
    if any(key not in _RUNTIME_ADDABLE for key, _ in server.options):
        return None  # dynamic servers ignore default-server and refuse cookies: reload instead
    target = f"{server.backend}/{server.name}"
    words = [f"add server {target} {server.address}"]
    words += [f"{k} {v}".strip() for k, v in server.options if k != "disabled"]
    commands = [" ".join(words)]  # HAProxy creates it in maintenance
    if server.option("disabled") is None:
        commands.append(f"enable server {target}")
    return commands
