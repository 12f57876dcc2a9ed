"""HTTP frontends that begin with the same rules name one ``defaults`` section holding them (haproxy_shared)."""

from __future__ import annotations

from ctlplane.render.haproxy_frontend import Frontend
from ctlplane.render.haproxy_shared import MIN_SHARED, NAME, share_rules

SAVED = (("txn.ctl_host", "req.hdr(host),host_only"),)
RID = (("req.fhdr(x-request-id,1)", ""),)
HIDDEN = ("Server", "X-Powered-By")


def frontend(name: str, mode: str = "http", hidden: tuple[str, ...] = HIDDEN) -> Frontend:
    http = mode == "http"
    return Frontend(name=name, mode=mode, binds=(), timeout_client="1m", timeout_request=None,
                    timeout_keep_alive=None, trust=None, deny_src=(), allow_src=(), limits=None, body_limits=(),
                    redirect_location=None, set_headers=(), cache=None, compression_types=(),
                    hide_headers=hidden if http else (), hsts=None, routes=(), default_backend="be",
                    log_format="fmt" if http else None, save_vars=SAVED if http else (),
                    request_id=RID if http else ())


def test_frontends_with_the_same_first_rules_name_one_section_that_holds_them() -> None:
    frontends, sections = share_rules(tuple(frontend(f"fe_{i}") for i in range(MIN_SHARED)))
    assert [(s.name, s.save_vars, s.request_id, s.hide_headers) for s in sections] == [(NAME, SAVED, RID, HIDDEN)]
    assert all(fe.shared == NAME and not (fe.save_vars or fe.request_id or fe.hide_headers) for fe in frontends)
    assert [fe.name for fe in frontends] == [f"fe_{i}" for i in range(MIN_SHARED)]


def test_too_few_alike_keep_their_rules_inline_and_tcp_frontends_have_none() -> None:
    few = tuple(frontend(f"fe_{i}") for i in range(MIN_SHARED - 1))
    tcp = tuple(frontend(f"fe_t{i}", mode="tcp") for i in range(MIN_SHARED))
    frontends, sections = share_rules(few + tcp)
    assert sections == () and frontends == few + tcp


def test_each_group_has_its_own_section_in_the_order_its_first_frontend_appears() -> None:
    other = HIDDEN + ("X-Runtime",)
    mixed = [frontend(f"fe_o{i}", hidden=other) for i in range(MIN_SHARED)] + \
            [frontend(f"fe_p{i}") for i in range(MIN_SHARED)] + [frontend("fe_alone", hidden=("Server",))]
    frontends, sections = share_rules(tuple(mixed))
    assert [(s.name, s.hide_headers) for s in sections] == [(NAME, other), (f"{NAME}_2", HIDDEN)]
    assert [fe.shared for fe in frontends] == [NAME] * MIN_SHARED + [f"{NAME}_2"] * MIN_SHARED + [None]
    assert frontends[-1].hide_headers == ("Server",)
