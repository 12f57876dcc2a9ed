"""Which HAProxy changes go through the runtime API, and which need a reload."""

from __future__ import annotations

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
    assert runtime_commands("haproxy", base, cfg("'a' '10.0.0.1:80' weight 1")) is None  # removal
    assert runtime_commands("haproxy", base, cfg("'a' '10.0.0.9:80' weight 1", "'b' '10.0.0.2:80' weight 1")) is None
    assert runtime_commands("haproxy", base, cfg("'a' '10.0.0.1:80' weight 1 backup",
                                                 "'b' '10.0.0.2:80' weight 1")) is None
    added_with_check = cfg("'a' '10.0.0.1:80' weight 1", "'b' '10.0.0.2:80' weight 1", "'c' '10.0.0.3:80' check")
    assert runtime_commands("haproxy", base, added_with_check) is None  # dynamic servers ignore default-server
    other_line = cfg("'a' '10.0.0.1:80' weight 1", "'b' '10.0.0.2:80' weight 1", head=HEAD.replace("100", "200"))
    assert runtime_commands("haproxy", base, other_line) is None
    assert runtime_commands("haproxy", {**base, "certs/x.pem": b"1"}, {**base, "certs/x.pem": b"2"}) is None
    assert runtime_commands("nginx", base, cfg("'a' '10.0.0.1:80' weight 3", "'b' '10.0.0.2:80' weight 1")) is None
    assert runtime_commands("haproxy", base, base) is None  # nothing to do is not a runtime change
