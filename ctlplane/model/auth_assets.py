"""The htpasswd files a model names (service, route, admin and metrics auth), read like a certificate.

Each path is confined to the allowed bases and read without following a final symlink, at most 1 MiB
(``assets``), recorded for the watcher, and parsed (``htpasswd``). A problem inside the file is located by
the file and line and the model field that names it; the entries are kept by the path as the model writes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ctlplane.errors import Finding
from ctlplane.model.auth import AdminAuth, Auth
from ctlplane.model.htpasswd import parse_htpasswd
from ctlplane.model.load import Loaded, Loc, field_path, locate
from ctlplane.model.root import Model
from ctlplane.model.service import HttpService

Users = tuple[tuple[str, str], ...]


def htpasswd_refs(model: Model) -> Iterator[tuple[Loc, str]]:
    """Every htpasswd path of the model with the field naming it, in model order."""
    for k, svc in enumerate(model.services):
        if not isinstance(svc, HttpService):
            continue
        auths: list[tuple[Loc, Auth | None]] = [(("services", k, "auth"), svc.auth)]
        auths += [(("services", k, "routes", j, "auth"), r.auth) for j, r in enumerate(svc.routes)]
        for loc, auth in auths:
            if auth is not None and auth.htpasswd is not None:
                yield (*loc, "htpasswd"), auth.htpasswd
    for i, proxy in enumerate(model.proxies):
        for what, listener in (("admin", proxy.admin), ("metrics", proxy.metrics)):
            admin: AdminAuth | None = listener.auth if listener else None
            if admin is not None:
                yield ("proxies", i, what, "auth", "htpasswd"), admin.htpasswd


def read_htpasswd_files(loaded: Loaded, bases: tuple[Path, ...], watched: list[str]) -> tuple[
        dict[str, Users], list[Finding]]:
    """The users of each htpasswd file by its model path, and every problem, located."""
    from ctlplane.model.assets import _Problem, _read, confine, resolve_path

    files: dict[str, Users] = {}
    findings: list[Finding] = []
    done: set[str] = set()
    for loc, value in htpasswd_refs(loaded.model):
        if value in done:
            continue
        done.add(value)
        watched.append(str(resolve_path(loaded.base_dir, value)))
        try:
            real = confine(loaded.base_dir, value, bases, what="htpasswd file")
            text = _read(real, "htpasswd")
        except _Problem as p:
            findings.append(locate(loc, p.message, loaded.positions, loaded.file))
            continue
        users, problems = parse_htpasswd(text)
        for found in problems:
            findings.append(Finding(f"{found.message} (htpasswd named by {loaded.file})", file=str(real),
                                    line=found.line, path=field_path(loc)))
        if not problems:
            files[value] = users
    return files, findings


def proxy_htpasswd(model: Model, proxy: str) -> tuple[str, ...]:
    """The htpasswd paths one proxy uses (its services', its admin and metrics listeners'), each once."""
    runs = set(model.proxy(proxy).services)
    index = {s.name: k for k, s in enumerate(model.services)}
    mine = {("services", index[n]) for n in runs if n in index} | {("proxies", i) for i, p in
                                                                   enumerate(model.proxies) if p.name == proxy}
    return tuple(dict.fromkeys(value for loc, value in htpasswd_refs(model) if loc[:2] in mine))
