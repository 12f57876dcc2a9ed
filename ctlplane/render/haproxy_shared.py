"""HTTP frontends that begin with the same rules share them through a named ``defaults`` section.

Every HTTP frontend saves what its access log prints (host, referer, user agent), takes the client's
X-Request-ID or makes one, refuses an HTTP/1.1 request without Host, drops the client's X-Forwarded-Host
when it sent no Host and any h2c upgrade, and deletes the response headers it hides (``Server``, ``X-Powered-By``, the
engine-control headers and the service's own). HAProxy (2.5 and later) runs the ``http-request`` and
``http-response`` rules of a named ``defaults`` section before a frontend's own when the frontend names it
(``frontend 'fe_a' from ctl_http_fe``), and parses them once instead of once per frontend: at 1,000
frontends that was about 30 ms of every config test and of every reload's parse (``haproxy -c`` CPU time,
median of 12). The saved variables and the request id come first in a frontend anyway. The deleted
response headers then run before the frontend's error-page intercepts instead of after them, which changes
nothing a client sees: an intercept replaces the whole answer with its page. A named section inherits
nothing from the plain ``defaults`` section after it, so it repeats that section's settings (one partial
prints both); a group therefore needs ``MIN_SHARED`` frontends, from which on the config is shorter with the
section than without it. Frontends in smaller groups keep their rules inline, so a config of one or two
services reads as before.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from ctlplane.render.haproxy_frontend import Frontend

MIN_SHARED = 3  # each frontend saves 16 rule lines; the section costs 32 lines and 3 of comments
NAME = "ctl_http_fe"  # the first group's; the next ones are ctl_http_fe_2, _3, ... (frontends are fe_*)


class SharedRules(NamedTuple):
    """A named ``defaults`` section's rules: the fields of the frontends that name it, printed there instead."""

    name: str
    save_vars: tuple[tuple[str, str], ...]
    request_id: tuple[tuple[str, str], ...]
    hide_headers: tuple[str, ...]
    hygiene: bool  # the Host, X-Forwarded-Host and h2c rules (templates/haproxy/_request_hygiene.j2)


def _key(fe: Frontend) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], tuple[str, ...], bool]:
    return fe.save_vars, fe.request_id, fe.hide_headers, fe.hygiene


def share_rules(frontends: tuple[Frontend, ...]) -> tuple[tuple[Frontend, ...], tuple[SharedRules, ...]]:
    """The frontends, those in a group naming its section and without the rules it holds, and the sections
    (in the order their first frontend appears)."""
    members = Counter(_key(fe) for fe in frontends if fe.mode == "http" and any(_key(fe)))
    sections: dict[tuple[object, ...], SharedRules] = {}
    shared = []
    for fe in frontends:
        key = _key(fe)
        if members[key] < MIN_SHARED:  # a TCP frontend, one without such rules, or too few alike
            shared.append(fe)
            continue
        if key not in sections:
            name = NAME if not sections else f"{NAME}_{len(sections) + 1}"
            sections[key] = SharedRules(name, *key)
        shared.append(fe._replace(shared=sections[key].name, save_vars=(), request_id=(), hide_headers=(),
                                  hygiene=False))
    return tuple(shared), tuple(sections.values())
