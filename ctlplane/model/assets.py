"""The files a model refers to: certificates, keys, static roots, htpasswd files (``auth_assets``), error
pages (``page_assets``) and the proxies' state directories.

This is the one place that reads them, so that rendering stays a pure
function of (model, assets). Every path is confined: a relative path resolves
against the model file's directory, symlinks are resolved, and the real path
must lie inside an allowed base (the model file's directory plus the model's
``files.allowed_bases``); ``..`` and NUL never pass the model's ``FilePath``
type and are refused here again. A file is opened without following a final
symlink and without blocking (a FIFO is refused, not waited on). Each
certificate must parse and match its key, and a key readable by everyone is
refused (``certs``: imported only for TLS); only the certificates themselves are kept for the world-readable
copy (another PEM block in the certificate file, such as a key, is dropped).
SNI names default to the certificate's subjectAltName DNS names. A static
root may not contain the model file, a private key or a state directory
(NGINX would serve them), and no two proxies share or nest state directories.
It also records, per proxy, whether its master process runs as root (a docker
proxy always does; a local one when ctlplane does): only then do the configs
name the user the workers switch to, since HAProxy refuses to start as
another user otherwise.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from ctlplane.errors import Finding, ModelError
from ctlplane.model.load import Loaded, Loc, locate
from ctlplane.model.root import Model
from ctlplane.model.ocsp_subjects import OcspSubject, ocsp_subjects
from ctlplane.model.reach import Account, account, blocker, tree_blocker
from ctlplane.model.service import HttpService
from ctlplane.model.tls import Certificate
from ctlplane.model.page_assets import read_error_pages
from ctlplane.model.tls_assets import PoolTlsAsset, read_tls_files
from ctlplane.model.types import HostName

MAX_PEM_BYTES = 1024 * 1024
Report = Callable[[Loc, str], None]
_HOST = TypeAdapter(HostName)


@dataclass(frozen=True)
class CertAsset:
    """A checked certificate/key pair: PEM bytes and the names it serves."""

    cert_pem: bytes  # only CERTIFICATE blocks, leaf first
    key_pem: bytes
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class Assets:
    """Everything rendering needs from outside the model file."""

    certs: dict[tuple[str, int], CertAsset] = field(default_factory=dict)  # (service, index) -> pair
    static_roots: dict[tuple[str, int], str] = field(default_factory=dict)  # (service, index) -> absolute dir
    watched: tuple[str, ...] = ()  # absolute paths of every file read (for the watcher)
    state_dirs: dict[str, Path] = field(default_factory=dict)  # proxy -> its real state directory
    root_masters: frozenset[str] = frozenset()  # proxies whose master process runs as root
    pool_tls: dict[str, PoolTlsAsset] = field(default_factory=dict)  # pool -> its TLS files
    client_cas: dict[str, bytes] = field(default_factory=dict)  # service -> CA bundle its clients verify against
    htpasswd: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # model path -> (user, hash)
    error_pages: dict[tuple[str, int], bytes] = field(default_factory=dict)  # (service, entry) -> HTML page
    ocsp_subjects: dict[tuple[str, int], OcspSubject] = field(default_factory=dict)  # (service, index) to staple
    ocsp: dict[tuple[str, int], bytes] = field(default_factory=dict)  # (service, index) -> verified response (DER)
    keys: tuple[str, ...] = ()  # real paths of the private keys read (a fleet release sends them as secrets)

    def master_is_root(self, proxy: str) -> bool:
        return proxy in self.root_masters


def effective_uid() -> int:
    """The user id ctlplane runs as (the one place that asks; tests replace it)."""
    return os.geteuid()


def root_masters(model: Model) -> frozenset[str]:
    """Proxies started as root: every docker proxy (the engine is the container's PID 1, root), and the local
    ones when ctlplane itself runs as root."""
    local_root = effective_uid() == 0
    return frozenset(p.name for p in model.proxies if p.runtime.kind == "docker" or local_root)


def resolve_path(base: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else base / path


def allowed_bases(loaded: Loaded) -> tuple[Path, ...]:
    """The real directories the model's files may be in: the model's own, then ``files.allowed_bases``."""
    bases = [str(loaded.base_dir), *loaded.model.files.allowed_bases]
    return tuple(dict.fromkeys(Path(os.path.realpath(b)) for b in bases))


class _Problem(Exception):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


def confine(base: Path, value: str, bases: tuple[Path, ...], field_name: str = "", what: str = "path") -> Path:
    """The real path ``value`` (relative to ``base``) leads to, or a problem when it leaves ``bases``."""
    if "\0" in value or ".." in value.split("/"):
        raise _Problem(field_name, f"{what} {value!r} contains NUL or a '..' segment")
    real = Path(os.path.realpath(os.path.normpath(resolve_path(base, value))))
    if not any(real == b or real.is_relative_to(b) for b in bases):
        where = ", ".join(repr(str(b)) for b in bases)
        raise _Problem(field_name, f"{what} {value!r} leads to {str(real)!r}, outside the allowed directories "
                                   f"({where}): move it there or add its directory to files.allowed_bases")
    return real


def read_assets(loaded: Loaded) -> Assets:
    """Check and read every referenced file, or raise ModelError listing each problem with its location."""
    problems: list[Finding] = []
    bases = allowed_bases(loaded)
    certs: dict[tuple[str, int], CertAsset] = {}
    roots: dict[tuple[str, int], str] = {}
    keys: list[Path] = []
    watched: list[str] = []

    def problem(loc: Loc, message: str) -> None:  # a Report
        problems.append(locate(loc, message, loaded.positions, loaded.file))

    for k, svc in enumerate(loaded.model.services):
        if not isinstance(svc, HttpService):
            continue
        for i, cert in enumerate(svc.tls.certificates if svc.tls else []):
            try:
                certs[(svc.name, i)] = _cert_pair(loaded.base_dir, bases, cert, watched, keys)
            except _Problem as p:
                problem(("services", k, "tls", "certificates", i, p.field), p.message)
        for i, static in enumerate(svc.static):
            loc = ("services", k, "static", i, "root")
            try:
                root = confine(loaded.base_dir, static.root, bases)
            except _Problem as p:
                problem(loc, p.message)
                continue
            if not _is_dir(root):
                problem(loc, f"static root {str(root)!r} is not a directory")
            roots[(svc.name, i)] = str(root)
    pool_tls, client_cas = read_tls_files(loaded.model, loaded.base_dir, bases, watched, keys, problem)
    from ctlplane.model.auth_assets import read_htpasswd_files

    htpasswd, found = read_htpasswd_files(loaded, bases, watched)
    problems += found
    pages = read_error_pages(loaded.model, loaded.base_dir, bases, watched, problem)
    stapled = ocsp_subjects(loaded.model, {k: c.cert_pem for k, c in certs.items()}, problem)
    states = _state_dirs(loaded, bases, problem)
    _no_exposure(loaded, roots, keys, list(states.values()), problem)
    if problems:
        raise ModelError("referenced files are not usable", problems)
    return Assets(certs, roots, tuple(watched), states, root_masters(loaded.model), pool_tls, client_cas,
                  htpasswd=htpasswd, error_pages=pages, ocsp_subjects=stapled,
                  keys=tuple(dict.fromkeys(str(k) for k in keys)))


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):  # missing, unreadable, or a name too long for the file system
        return False


def _state_dirs(loaded: Loaded, bases: tuple[Path, ...], problem: Report) -> dict[str, Path]:
    """Each proxy's real state directory; two proxies may neither share one nor nest one in the other. A
    directory the model names must lie in an allowed base; the defaults (beside the model, or under
    /var/lib/ctlplane for root) are ctlplane's own."""
    from ctlplane.state.paths import proxy_dir

    seen: dict[str, Path] = {}
    for i, proxy in enumerate(loaded.model.proxies):
        configured = proxy.runtime.state_dir if proxy.runtime.kind == "local" else proxy.runtime.config_dir
        attr = "state_dir" if proxy.runtime.kind == "local" else "config_dir"
        loc: Loc = ("proxies", i, "runtime", attr) if configured else ("proxies", i, "name")
        path = proxy_dir(loaded, proxy.name)
        try:
            real = confine(loaded.base_dir, str(path), bases, what="state directory") if configured else \
                Path(os.path.realpath(path))
        except _Problem as p:
            problem(loc, p.message)
            continue
        for name, other in seen.items():
            if real == other or real.is_relative_to(other) or other.is_relative_to(real):
                problem(loc, f"state directory {str(real)!r} of proxy {proxy.name!r} overlaps that of proxy "
                             f"{name!r}: give each proxy its own directory")
        seen[proxy.name] = real
    return seen


def worker_reach(loaded: Loaded, assets: Assets, proxies: Iterable[str] | None = None) -> list[Finding]:
    """Deploy-time check on the machine the proxies run on: a local NGINX started by root runs its workers
    unprivileged, and they must read the static roots and reach the state directory (tmp/, cache/), or
    every request gets a 403 or a 500. One located finding per path they cannot reach."""
    found: list[Finding] = []
    selected = set(proxies) if proxies is not None else None
    for i, proxy in enumerate(loaded.model.proxies):
        if proxy.runtime.kind != "local" or proxy.engine != "nginx" or (selected and proxy.name not in selected):
            continue
        if not assets.master_is_root(proxy.name):
            continue  # the workers run as the user ctlplane runs as
        who = account(proxy.user)
        if who is None:
            continue  # NGINX refuses to start without the user, with its own clear message
        found += _unreachable(loaded, assets, i, proxy.name, who)
    return found


def _unreachable(loaded: Loaded, assets: Assets, i: int, name: str, who: Account) -> list[Finding]:
    proxy = loaded.model.proxies[i]
    index = {s.name: k for k, s in enumerate(loaded.model.services)}
    fix = f"make it readable for {who.name!r} (o+x on the directories, o+r on the files) or move it, e.g. under /srv"
    found = []
    for (svc_name, j), root in assets.static_roots.items():
        why = tree_blocker(Path(root), who) if svc_name in proxy.services else None
        if why:
            found.append(locate(("services", index[svc_name], "static", j, "root"),
                                f"the NGINX workers of proxy {name!r} run as {who.name!r} and cannot read static root "
                                f"{root!r}: {why}; {fix}", loaded.positions, loaded.file))
    state = assets.state_dirs.get(name)
    why = blocker(state, who, read=False) if state else None
    if why:
        loc: Loc = ("proxies", i, "runtime", "state_dir") if proxy.runtime.kind == "local" and \
            proxy.runtime.state_dir else ("proxies", i, "name")
        found.append(locate(loc, f"the NGINX workers of proxy {name!r} run as {who.name!r} and cannot reach its state "
                                 f"directory {str(state)!r} (tmp/, cache/): {why}; {fix}",
                            loaded.positions, loaded.file))
    return found


def _no_exposure(loaded: Loaded, roots: dict[tuple[str, int], str], keys: list[Path], states: list[Path],
                 problem: Report) -> None:
    """A static root must not contain the model file, a private key or a state directory."""
    secrets = [("the model file", Path(os.path.realpath(loaded.file)))]
    secrets += [("private key", k) for k in keys] + [("state directory", s) for s in states]
    index = {s.name: k for k, s in enumerate(loaded.model.services)}
    for (svc_name, i), root_text in roots.items():
        root = Path(root_text)
        for what, path in secrets:
            if path == root or path.is_relative_to(root):
                problem(("services", index[svc_name], "static", i, "root"),
                        f"static root {root_text!r} contains {what} {str(path)!r}, which NGINX would serve: "
                        "use a directory holding only public files")
                break


def _read(real: Path, field_name: str, *, secret: bool = False) -> bytes:
    """A regular file's bytes (at most 1 MiB), opened without following a final symlink or blocking."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(real, flags)
    except FileNotFoundError as exc:
        raise _Problem(field_name, f"file {str(real)!r} does not exist") from exc
    except PermissionError as exc:
        raise _Problem(field_name, f"file {str(real)!r} is not readable") from exc
    except OSError as exc:
        raise _Problem(field_name, f"file {str(real)!r} cannot be opened: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _Problem(field_name, f"{str(real)!r} is not a regular file")
        if info.st_size > MAX_PEM_BYTES:
            raise _Problem(field_name, f"{str(real)!r} is larger than 1 MiB")
        if secret and info.st_mode & stat.S_IROTH:
            raise _Problem(field_name, f"private key {str(real)!r} is readable by everyone: chmod 600 it")
        chunks: list[bytes] = []
        while chunk := os.read(fd, MAX_PEM_BYTES + 1 - sum(map(len, chunks))):
            chunks.append(chunk)
            if sum(map(len, chunks)) > MAX_PEM_BYTES:
                raise _Problem(field_name, f"{str(real)!r} is larger than 1 MiB")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _cert_pair(base: Path, bases: tuple[Path, ...], cert: Certificate, watched: list[str],
               keys: list[Path]) -> CertAsset:
    watched += [str(resolve_path(base, cert.cert)), str(resolve_path(base, cert.key))]
    key_path = confine(base, cert.key, bases, "key")
    keys.append(key_path)
    cert_pem = _read(confine(base, cert.cert, bases, "cert"), "cert")
    key_pem = _read(key_path, "key", secret=True)
    from ctlplane.model.certs import PemProblem, check_pair

    try:
        only_certs, names = check_pair(cert_pem, key_pem)
    except PemProblem as exc:
        raise _Problem(exc.field, exc.message) from exc
    hosts = tuple(cert.hosts) or names
    for host in hosts:
        try:
            _HOST.validate_python(host)
        except ValidationError as exc:
            raise _Problem("cert", f"the certificate names {host!r}, which is not a valid host name: "
                                   "list its names in 'hosts'") from exc
    return CertAsset(only_certs, key_pem, hosts)
