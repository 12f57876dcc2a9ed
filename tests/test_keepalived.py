"""keepalived.conf per node: roles, priorities, preemption, unicast, the health
check, refusals, and the real keepalived config test on every rendered file."""

from __future__ import annotations

import copy
import os
import re
from typing import Any

import pytest

from ctlplane.errors import RenderError
from ctlplane.model.root import Model
from ctlplane.render.keepalived import render_keepalived_for
from ctlplane.validate import binary_status, check_output, errors_only

BASE: dict[str, Any] = {
    "pools": [{"name": "app", "servers": [{"name": "a1", "address": "127.0.0.1", "port": 9001}]}],
    "services": [{"name": "web", "mode": "http", "listen": {"port": 8080}, "default_pool": "app"}],
    "proxies": [
        {"name": "lb1", "engine": "nginx", "services": ["web"], "admin": {"port": 8404},
         "runtime": {"kind": "docker", "container": "lb1"}},
        {"name": "lb2", "engine": "haproxy", "services": ["web"], "admin": {"address": "127.0.0.5", "port": 8405},
         "runtime": {"kind": "docker", "container": "lb2"}},
        {"name": "solo", "engine": "nginx", "services": ["web"], "runtime": {"kind": "docker", "container": "solo"}},
    ],
}

ACTIVE_PASSIVE = {
    "name": "edge", "mode": "active_passive",
    "nodes": [{"proxy": "lb1"}, {"proxy": "lb2", "interface": "eth0"}],
    "virtual_ips": [{"address": "192.0.2.10/24", "router_id": 51, "owner": "lb1"}],
}

ACTIVE_ACTIVE = {
    "name": "edge", "mode": "active_active", "unicast": True, "auth_password": "s3cret",
    "priority_owner": 200, "priority_peer": 90,
    "nodes": [{"proxy": "lb1", "address": "192.0.2.2"}, {"proxy": "lb2", "address": "192.0.2.3"}],
    "virtual_ips": [{"address": "192.0.2.10/24", "router_id": 51, "owner": "lb1"},
                    {"address": "192.0.2.11/24", "router_id": 52, "owner": "lb2"}],
}


def model(pair: dict[str, Any], **changes: Any) -> Model:
    data = copy.deepcopy(BASE)
    data["pairs"] = [{**copy.deepcopy(pair), **changes}]
    return Model.model_validate(data)


def conf(m: Model, proxy: str) -> str:
    return render_keepalived_for(m, m.proxy(proxy))["keepalived.conf"].content.decode()


def instances(text: str) -> dict[str, str]:
    """vrrp_instance name -> its body."""
    return dict(re.findall(r"^vrrp_instance (\S+) \{\n(.*?)^\}", text, re.S | re.M))


def setting(body: str, key: str) -> str | None:
    match = re.search(rf"^    {key} (.+)$", body, re.M)
    return match.group(1) if match else None


def test_active_passive_multicast_roles() -> None:
    m = model(ACTIVE_PASSIVE)
    lb1, lb2 = instances(conf(m, "lb1")), instances(conf(m, "lb2"))
    assert list(lb1) == list(lb2) == ["edge_vrid51"]
    master, backup = lb1["edge_vrid51"], lb2["edge_vrid51"]
    assert (setting(master, "state"), setting(master, "priority")) == ("MASTER", "150")
    assert (setting(backup, "state"), setting(backup, "priority")) == ("BACKUP", "100")
    for body in (master, backup):
        assert "nopreempt" not in body and "unicast" not in body and "authentication" not in body
        assert setting(body, "virtual_router_id") == "51" and setting(body, "advert_int") == "1"
        assert "        192.0.2.10/24 dev eth0\n" in body
    assert "        chk_lb1\n" in master and "        chk_lb2\n" in backup


def test_global_defs_and_health_script() -> None:
    m = model(ACTIVE_PASSIVE, check={"interval": "2s", "timeout": "3s", "fall": 4, "rise": 5})
    text = conf(m, "lb2")
    assert "global_defs {\n    router_id lb2\n    enable_script_security\n    script_user root\n}\n" in text
    script = re.search(r"^vrrp_script chk_lb2 \{\n(.*?)^\}", text, re.S | re.M)
    assert script is not None
    body = script.group(1)
    # the check goes to lb2's own (loopback) admin address
    assert setting(body, "script") == (
        '"/usr/bin/curl -fsS -o /dev/null --noproxy 127.0.0.5 --max-time 3 http://127.0.0.5:8405/healthz"'
    )
    assert [setting(body, k) for k in ("interval", "timeout", "fall", "rise", "weight")] == ["2", "3", "4", "5", "0"]


def test_preempt_false_starts_both_nodes_as_backup_with_nopreempt() -> None:
    for pair in (ACTIVE_PASSIVE, ACTIVE_ACTIVE):
        m = model(pair, preempt=False)
        for proxy in ("lb1", "lb2"):
            for body in instances(conf(m, proxy)).values():
                assert setting(body, "state") == "BACKUP"
                assert "\n    nopreempt\n" in "\n" + body
    m = model(ACTIVE_PASSIVE, preempt=False)
    priorities = [setting(instances(conf(m, p))["edge_vrid51"], "priority") for p in ("lb1", "lb2")]
    assert priorities == ["150", "100"]  # the owner still wins the first election


def test_active_active_mirrors_priorities_and_unicast_peers() -> None:
    m = model(ACTIVE_ACTIVE)
    lb1, lb2 = instances(conf(m, "lb1")), instances(conf(m, "lb2"))
    assert list(lb1) == list(lb2) == ["edge_vrid51", "edge_vrid52"]
    roles = {name: [(setting(b, "state"), setting(b, "priority")) for b in nodes.values()]
             for name, nodes in (("lb1", lb1), ("lb2", lb2))}
    assert roles == {"lb1": [("MASTER", "200"), ("BACKUP", "90")], "lb2": [("BACKUP", "90"), ("MASTER", "200")]}
    for body in lb1.values():
        assert setting(body, "unicast_src_ip") == "192.0.2.2"
        assert "    unicast_peer {\n        192.0.2.3\n    }\n" in body
        assert "        auth_type PASS\n        auth_pass s3cret\n" in body
    for body in lb2.values():
        assert setting(body, "unicast_src_ip") == "192.0.2.3"
        assert "    unicast_peer {\n        192.0.2.2\n    }\n" in body
    assert "192.0.2.11/24 dev eth0" in lb1["edge_vrid52"]


def test_proxy_outside_any_pair_gets_nothing() -> None:
    m = model(ACTIVE_PASSIVE)
    assert render_keepalived_for(m, m.proxy("solo")) == {}


def test_output_is_deterministic_and_private_when_it_holds_a_password() -> None:
    m = model(ACTIVE_ACTIVE)
    first = render_keepalived_for(m, m.proxy("lb1"))
    assert first == render_keepalived_for(model(ACTIVE_ACTIVE), m.proxy("lb1"))
    assert first["keepalived.conf"].mode == 0o600
    m = model(ACTIVE_PASSIVE)
    assert render_keepalived_for(m, m.proxy("lb1"))["keepalived.conf"].mode == 0o644


def test_ipv6_admin_is_bracketed_in_the_url() -> None:
    data = copy.deepcopy(BASE)
    data["proxies"][0]["admin"] = {"address": "::1", "port": 8404}
    data["pairs"] = [copy.deepcopy(ACTIVE_PASSIVE)]
    text = conf(Model.model_validate(data), "lb1")
    assert "--noproxy ::1 --max-time 1 http://[::1]:8404/healthz" in text


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"advert_interval": "1500ms"}, "pairs[0].advert_interval"),
        ({"check": {"interval": "2500ms"}}, "pairs[0].check.interval"),
        ({"check": {"timeout": "1200ms"}}, "pairs[0].check.timeout"),
    ],
)
def test_fractional_seconds_are_refused_not_rounded(changes: dict[str, Any], path: str) -> None:
    m = model(ACTIVE_PASSIVE, **changes)
    with pytest.raises(RenderError) as caught:
        conf(m, "lb1")
    assert caught.value.findings[0].path == path


CASES = {
    "active_passive": (ACTIVE_PASSIVE, {}),
    "active_passive_unicast_nopreempt": (ACTIVE_PASSIVE, {
        "unicast": True, "preempt": False, "auth_password": "abc123",
        "nodes": [{"proxy": "lb1", "address": "192.0.2.2"}, {"proxy": "lb2", "address": "192.0.2.3"}]}),
    "active_active_unicast": (ACTIVE_ACTIVE, {}),
    "active_active_multicast_nopreempt": (ACTIVE_ACTIVE, {"unicast": False, "preempt": False}),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("proxy", ["lb1", "lb2"])
def test_real_keepalived_accepts_every_rendered_node(case: str, proxy: str) -> None:
    if binary_status()["keepalived"] is None:
        if os.environ.get("CI") == "true":
            pytest.fail("keepalived is not installed")
        pytest.skip("keepalived is not installed")
    pair, changes = CASES[case]
    files = render_keepalived_for(model(pair, **changes), model(pair, **changes).proxy(proxy))
    findings = check_output("keepalived", files)
    # Only host-dependent warnings (an interface this host lacks, a non-root checker) may remain.
    assert errors_only(findings) == [], [f.one_line() for f in findings]
