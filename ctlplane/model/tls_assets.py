"""The TLS files of pools and client-certificate verification: CA bundles and the proxy's client certificates.

Read like a service's certificates (``assets``): confined paths, no final symlink, at most 1 MiB, a key
readable by everyone refused, the key matching its certificate; a CA file must hold at least one certificate,
and only its certificate blocks are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ctlplane.model.load import Loc
from ctlplane.model.root import Model
from ctlplane.model.service import HttpService


@dataclass(frozen=True)
class PoolTlsAsset:
    """A pool's TLS files: the CA bundle (None with verify none) and the client certificate and key."""

    ca_pem: bytes | None = None
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None


Report = Callable[[Loc, str], None]


def read_tls_files(model: Model, base: Path, bases: tuple[Path, ...], watched: list[str], keys: list[Path],
                   problem: Report) -> tuple[dict[str, PoolTlsAsset], dict[str, bytes]]:
    """Each pool's TLS files by pool name, and each service's client CA bundle by service name."""
    from ctlplane.model.assets import _Problem

    pools: dict[str, PoolTlsAsset] = {}
    for i, pool in enumerate(model.pools):
        if pool.tls is None:
            continue
        ca = cert = key = None
        try:
            if pool.tls.verify != "none":
                ca = _ca(base, bases, pool.tls.verify, "verify", watched)
        except _Problem as p:
            problem(("pools", i, "tls", "verify"), p.message)
        if pool.tls.client_cert is not None:
            from ctlplane.model.assets import _cert_pair
            from ctlplane.model.tls import Certificate

            pair = Certificate(cert=pool.tls.client_cert.cert, key=pool.tls.client_cert.key, hosts=["client"])
            try:
                asset = _cert_pair(base, bases, pair, watched, keys)
                cert, key = asset.cert_pem, asset.key_pem
            except _Problem as p:
                problem(("pools", i, "tls", "client_cert", p.field), p.message)
        pools[pool.name] = PoolTlsAsset(ca, cert, key)
    cas: dict[str, bytes] = {}
    for k, svc in enumerate(model.services):
        if not isinstance(svc, HttpService) or svc.tls is None or svc.tls.client_ca is None:
            continue
        try:
            cas[svc.name] = _ca(base, bases, svc.tls.client_ca, "client_ca", watched)
        except _Problem as p:
            problem(("services", k, "tls", "client_ca"), p.message)
    return pools, cas


def _ca(base: Path, bases: tuple[Path, ...], value: str, field_name: str, watched: list[str]) -> bytes:
    from ctlplane.model.assets import _Problem, _read, confine, resolve_path
    from ctlplane.model.certs import PemProblem, ca_bundle

    watched.append(str(resolve_path(base, value)))
    pem = _read(confine(base, value, bases, field_name), field_name)
    try:
        return ca_bundle(pem)
    except PemProblem as exc:
        raise _Problem(field_name, exc.message) from exc
