"""Which HAProxy changes go through the runtime API, and which need a reload."""

from __future__ import annotations

import pytest

from ctlplane.runtime_plan import runtime_commands

HEAD = "global\n    maxconn 100\n\nbackend 'be_web'\n    balance roundrobin\n"


def cfg(*servers: str, head: str = HEAD) -> dict[str, bytes]:
    return {"haproxy.cfg": (head + "".join(f"    server {s}\n" for s in servers)).encode()}


def test_weight_state_and_maxconn_changes_are_runtime() -> None:
    old = cfg("'a' '10.0.0.1:80' weight 1", "'b' '10.0.0.2:80' weight 1 maxconn 10", "'c' '10.0.0.3:80' weight 1")
    new = cfg("'a' '10.0.0.1:80' weight 4", "'b' '10.0.0.2:80' weight 1 maxconn 20",
              "'c' '10.0.0.3:80' weight 1 disabled")
    assert runtime_commands("haproxy", old, new) == [
        "set server be_web/a weight 4", "set maxconn server be_web/b 20", "set server be_web/c state maint"]
    assert runtime_commands("haproxy", new, old) == [
        "set server be_web/a weight 1", "set maxconn server be_web/b 10", "set server be_web/c state ready"]


def test_added_plain_server_is_runtime() -> None:
    old = cfg("'a' '10.0.0.1:80' weight 1")
    new = cfg("'a' '10.0.0.1:80' weight 1", "'b' '10.0.0.2:80' weight 2 maxconn 5")
    assert runtime_commands("haproxy", old, new) == [
        "add server be_web/b 10.0.0.2:80 weight 2 maxconn 5", "enable server be_web/b"]


def test_what_needs_a_reload() -> None:
    base = cfg("'a' '10.0.0.1:80' weight 1", "'b' '10.0.0.2:80' weight 1")
    assert runtime_commands("haproxy", base, cfg("'a' '10.0.0.1:80' weight 1 backup",
                                                 "'b' '10.0.0.2:80' weight 1")) is None
    with_cookie = cfg("'a' '10.0.0.1:80' weight 1", "'b' '10.0.0.2:80' weight 1", "'c' '10.0.0.3:80' cookie 'c'")
    assert runtime_commands("haproxy", base, with_cookie) is None  # dynamic servers refuse cookies
    assert runtime_commands("haproxy", base, cfg("'a' '10.0.0.9:80' weight 1", "'b' '10.0.0.2:80' weight 1")) is None
    other_line = cfg("'a' '10.0.0.1:80' weight 1", "'b' '10.0.0.2:80' weight 1", head=HEAD.replace("100", "200"))
    assert runtime_commands("haproxy", base, other_line) is None
    assert runtime_commands("haproxy", {**base, "certs/x.pem": b"1"}, {**base, "certs/x.pem": b"2"}) is None
    assert runtime_commands("nginx", base, cfg("'a' '10.0.0.1:80' weight 3", "'b' '10.0.0.2:80' weight 1")) is None
    assert runtime_commands("haproxy", base, base) is None  # nothing to do is not a runtime change


CHECKED = HEAD + "    default-server inter 2s rise 2 fall 3 observe layer7 error-limit 3 on-error mark-down\n"


def test_an_added_checked_server_carries_the_backend_check_settings_and_enables_its_checks() -> None:
    """Dynamic servers ignore default-server and start with checks off (HAProxy 2.6)."""
    old = cfg("'a' '10.0.0.1:80' weight 1 check", head=CHECKED)
    new = cfg("'a' '10.0.0.1:80' weight 1 check", "'web-2' '10.0.0.2:8080' weight 1 check", head=CHECKED)
    assert runtime_commands("haproxy", old, new) == [
        "add server be_web/web-2 10.0.0.2:8080 weight 1 inter 2s rise 2 fall 3 observe layer7 error-limit 3 "
        "on-error mark-down check",
        "enable health be_web/web-2", "enable server be_web/web-2"]


def test_an_added_drained_server_gets_weight_zero_after_it_is_enabled() -> None:
    old = cfg("'a' '10.0.0.1:80' weight 1")
    new = cfg("'a' '10.0.0.1:80' weight 1", "'b' '10.0.0.2:80' weight 0 backup")
    assert runtime_commands("haproxy", old, new) == [
        "add server be_web/b 10.0.0.2:80 weight 0 backup", "enable server be_web/b", "set server be_web/b weight 0"]


def test_a_removed_server_is_drained_then_deleted_after_the_other_changes() -> None:
    old = cfg("'a' '10.0.0.1:80' weight 1", "'b' '10.0.0.2:80' weight 1")
    new = cfg("'a' '10.0.0.1:80' weight 1", "'c' '10.0.0.3:80' weight 1")
    assert runtime_commands("haproxy", old, new) == [
        "add server be_web/c 10.0.0.3:80 weight 1", "enable server be_web/c",
        "set server be_web/b state drain", "del server be_web/b"]
    assert runtime_commands("haproxy", new, cfg(head=HEAD)) == [
        "set server be_web/a state drain", "del server be_web/a", "set server be_web/c state drain",
        "del server be_web/c"]  # the last one too: an empty backend answers 503


def test_an_added_server_of_an_http2_pool_keeps_its_protocol() -> None:
    """A member joining an h2c/gRPC pool speaks HTTP/2 like the others (``add server`` takes proto and
    check-proto in 2.6); a change of protocol of a running server is a reload."""
    old = cfg("'a' '10.0.0.1:80' weight 1 check proto h2", head=CHECKED)
    new = cfg("'a' '10.0.0.1:80' weight 1 check proto h2", "'b' '10.0.0.2:80' weight 1 check proto h2 check-proto h2",
              head=CHECKED)
    assert runtime_commands("haproxy", old, new) == [
        "add server be_web/b 10.0.0.2:80 weight 1 proto h2 check-proto h2 inter 2s rise 2 fall 3 observe layer7 "
        "error-limit 3 on-error mark-down check",
        "enable health be_web/b", "enable server be_web/b"]
    assert runtime_commands("haproxy", cfg("'a' '10.0.0.1:80' weight 1"), cfg("'a' '10.0.0.1:80' weight 1 proto h2")) is None


def test_an_added_server_of_a_slow_start_pool_ramps_up_too() -> None:
    """``add server`` takes slowstart (HAProxy 2.6): a joining server ramps up like one coming back."""
    ramp = HEAD + "    default-server slowstart 30s\n"
    old = cfg("'a' '10.0.0.1:80' weight 1", head=ramp)
    new = cfg("'a' '10.0.0.1:80' weight 1", "'b' '10.0.0.2:80' weight 1", head=ramp)
    assert runtime_commands("haproxy", old, new) == [
        "add server be_web/b 10.0.0.2:80 weight 1 slowstart 30s", "enable server be_web/b"]


def test_lines_indented_less_than_a_server_keep_the_backend_and_other_sections_end_it() -> None:
    head = HEAD + "  # a comment indented by two\n"
    old, new = cfg("'a' '10.0.0.1:80' weight 1", head=head), cfg("'a' '10.0.0.1:80' weight 3", head=head)
    assert runtime_commands("haproxy", old, new) == ["set server be_web/a weight 3"]
    listen = HEAD + "listen 'stats'\n"
    assert runtime_commands("haproxy", cfg("'a' '10.0.0.1:80' weight 1", head=listen),
                            cfg("'a' '10.0.0.1:80' weight 3", head=listen)) is None  # not a backend's server


def test_an_apply_compares_two_releases_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from ctlplane import decide as deciding
    from ctlplane.render import RenderedFile
    from ctlplane.render.release import seal

    calls: list[int] = []
    real = deciding.runtime_commands
    monkeypatch.setattr(deciding, "runtime_commands", lambda *a: calls.append(1) or real(*a))

    def release(weight: int) -> dict[str, RenderedFile]:
        text = cfg(f"'a' '10.0.0.1:80' weight {weight}", head=HEAD + "    description ctlplane release ctlplane-release\n")
        return seal({"haproxy.cfg": RenderedFile(text["haproxy.cfg"], 0o644)})

    for _ in range(2):
        change = deciding.decide(release(1), release(5), True, "haproxy")
        assert change.commands == ("set server be_web/a weight 5",)
    assert len(calls) == 1
    assert deciding.decide(release(1), release(6), True, "haproxy").commands == ("set server be_web/a weight 6",)
    assert len(calls) == 2
