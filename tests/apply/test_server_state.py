"""The server-state file handed to HAProxy's next workers: a server keeps what the running workers knew of it
unless the new config moved it (another address or port), which HAProxy would otherwise silently undo."""

from __future__ import annotations

from ctlplane.drivers import haproxy_api

CONFIG = """# Rendered by ctlplane from the model: do not edit, changes are overwritten.
global
    server-state-file run/server-state

frontend 'fe_web'
    bind '127.0.0.1:8080'
    default_backend 'be_a'

backend 'be_a'
    balance roundrobin
    server 'a1' '10.0.0.1:80' weight 1 check
    server 'a2' '[fd00::2]:8080' weight 1 check

listen 'li_tcp'
    bind '127.0.0.1:9000'
    server 't1' '10.0.0.9:5432' check

backend 'be_b'
    # a comment inside a backend does not end it
    server 'b1' '10.0.1.1:80'
"""

HEADER = "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_port"


def row(backend: str, server: str, address: str, port: int, admin: int = 0) -> str:
    return f"3 {backend} 1 {server} {address} 2 {admin} {port}"


def test_the_servers_of_each_backend_and_listen_section_with_bracketless_ipv6() -> None:
    assert haproxy_api.configured_servers(CONFIG) == {
        ("be_a", "a1"): ("10.0.0.1", "80"),
        ("be_a", "a2"): ("fd00::2", "8080"),
        ("li_tcp", "t1"): ("10.0.0.9", "5432"),
        ("be_b", "b1"): ("10.0.1.1", "80"),
    }


def test_a_moved_server_starts_from_its_config_and_the_others_keep_their_state() -> None:
    state = "\n".join(["1", HEADER,
                       row("be_a", "a1", "10.0.0.1", 80, admin=1),   # in maintenance, unchanged: kept
                       row("be_a", "a2", "fd00::2", 9999),           # its port changed: dropped
                       row("be_b", "b1", "10.0.1.7", 80),            # its address changed: dropped
                       row("be_gone", "x", "10.0.0.5", 80)])         # no longer configured: dropped
    assert haproxy_api.state_for(CONFIG, state) == "\n".join(["1", HEADER, row("be_a", "a1", "10.0.0.1", 80, 1)]) + "\n"


def test_a_dump_without_the_columns_it_needs_is_kept_whole() -> None:
    odd = "1\n# be_id be_name srv_id srv_name\n3 be_a 1 a1\n"
    assert haproxy_api.state_for(CONFIG, odd) == odd
    assert haproxy_api.state_for(CONFIG, "No such backend.\n") == "No such backend.\n"
