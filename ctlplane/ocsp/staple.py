"""The stapling step of the pipeline, between reading the assets and rendering (so rendering stays pure).

For each certificate of a service with ``tls.ocsp_stapling`` that a proxy serves: the responses its proxies'
active releases staple (``config/`` in their state directories) are verified again, and the freshest valid
one is kept while it is not due for a refresh (``check.Verified.due``). Otherwise, with a ``Responder``, a new
response is asked for and verified; if that fails (the responder is down, or answers something that must
not be stapled) the warning is located at the certificate's ``cert`` field and the previous response is kept
while it is valid, an expired one dropped: an apply never fails for a responder. Without a responder (the
offline verbs: validate, render, status) the previous valid response is kept, and nothing is fetched.
"""

from __future__ import annotations

import datetime
from dataclasses import replace

from ctlplane.errors import Finding
from ctlplane.model.assets import Assets
from ctlplane.model.load import Loaded, locate
from ctlplane.model.ocsp_subjects import OcspSubject
from ctlplane.ocsp import FetchFailed, Responder
from ctlplane.ocsp.check import Unusable, Verified, request_for, verify
from ctlplane.render.tls_files import ocsp_file
from ctlplane.state.layout import CONFIG_DIR

MAX_RESPONSE = 64 * 1024

Key = tuple[str, int]


def staple(loaded: Loaded, assets: Assets, responder: Responder | None,
           now: datetime.datetime | None = None) -> tuple[Assets, list[Finding]]:
    """``assets`` with the responses to staple (``Assets.ocsp``), and the located warnings."""
    model = loaded.model
    served = {name for proxy in model.proxies for name in proxy.services}
    wanted = {key: s for key, s in assets.ocsp_subjects.items() if key[0] in served}
    if not wanted:
        return assets, []
    now = now or datetime.datetime.now(datetime.UTC)
    previous = previous_responses(loaded, assets, set(wanted))
    index = {s.name: k for k, s in enumerate(model.services)}
    staples: dict[Key, bytes] = {}
    notes: list[Finding] = []
    for key, subject in sorted(wanted.items()):
        kept = _freshest([_valid(der, subject, now) for der in previous.get(key, [])])
        if kept is not None and (responder is None or not kept.due(now)):
            staples[key] = kept.der
            continue
        if responder is None:
            continue
        try:
            fresh: Verified | None = verify(responder.ask(subject.url, request_for(subject)), subject, now)
        except (FetchFailed, Unusable) as exc:
            fresh = None
            then = f"keeps stapling the response of {kept.describe()}" if kept else "no OCSP response is stapled"
            loc = ("services", index[key[0]], "tls", "certificates", key[1], "cert")
            notes.append(replace(locate(loc, f"OCSP responder {subject.url}: {exc}; {then}", loaded.positions,
                                        loaded.file), source="ocsp", severity="warning"))
        best = _freshest([kept, fresh])
        if best is not None:
            staples[key] = best.der
    return replace(assets, ocsp=staples), notes


def _valid(der: bytes, subject: OcspSubject, now: datetime.datetime) -> Verified | None:
    try:
        return verify(der, subject, now)
    except Unusable:
        return None  # another certificate's, or expired: not stapled again


def _freshest(found: list[Verified | None]) -> Verified | None:
    usable = [v for v in found if v is not None]
    return max(usable, key=lambda v: v.this_update) if usable else None


def previous_responses(loaded: Loaded, assets: Assets, keys: set[Key]) -> dict[Key, list[bytes]]:
    """The responses the proxies' active releases staple for ``keys`` (unreadable ones are skipped)."""
    found: dict[Key, list[bytes]] = {}
    for proxy in loaded.model.proxies:
        state = assets.state_dirs.get(proxy.name)
        if state is None:
            continue
        for key in sorted(k for k in keys if k[0] in proxy.services):
            path = state / CONFIG_DIR / ocsp_file(proxy.engine, *key)
            try:
                if path.is_file() and path.stat().st_size <= MAX_RESPONSE:
                    found.setdefault(key, []).append(path.read_bytes())
            except OSError:
                continue
    return found
