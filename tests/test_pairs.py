"""HA pairs without Docker: the rolling order (passive first), the rolling apply over fake
drivers (one node at a time, a failure on the first stops before the second), parsing what
the containers say (``ip -o addr``, keepalived's JSON dump), the status table, and the
container description of a pair member (capabilities, fixed address)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ctlplane.cli.status_cmd import tables
from ctlplane.drivers import Driver, container_spec
from ctlplane.drivers.container import VRRP_CAPS, has_vrrp_caps
from ctlplane.drivers.container_data import launch_command
from ctlplane.drivers.keepalived import KeepalivedControl, keepalived_command
from ctlplane.errors import ApplyError, DriverError
from ctlplane.model.proxy import Pair, Proxy
from ctlplane.model.root import Model
from ctlplane.pairs import (NodeVrrp, VrrpInstance, apply_groups, apply_pair, parse_addresses, parse_instances,
                            pair_lock_path, parse_snapshot, rolling_order)
from ctlplane.render import text_file
from ctlplane.render.release import release_id, seal
from ctlplane.status import ProxyStatus
from ctlplane.transaction import apply_proxy
from tests.apply.fakes import HAPROXY_HEAD, fake_driver

MODEL: dict[str, Any] = {
    "pools": [{"name": "app", "servers": [{"name": "a1", "address": "10.0.0.5", "port": 8080}]}],
    "services": [{"name": "web", "mode": "http", "listen": {"port": 80}, "default_pool": "app"}],
    "proxies": [
        {"name": "solo", "engine": "nginx", "services": ["web"], "runtime": {"kind": "docker", "container": "s"}},
        *({"name": n, "engine": "haproxy", "services": ["web"], "admin": {"port": 8404},
           "runtime": {"kind": "docker", "container": n, "network": "ha"}} for n in ("lb1", "lb2")),
        {"name": "last", "engine": "nginx", "services": ["web"], "runtime": {"kind": "docker", "container": "l"}},
    ],
    "pairs": [{"name": "edge", "mode": "active_passive",
               "nodes": [{"proxy": "lb1", "address": "10.0.0.11"}, {"proxy": "lb2", "address": "10.0.0.12"}],
               "virtual_ips": [{"address": "10.0.0.100/24", "router_id": 51, "owner": "lb1"}]}],
}
ACTIVE_ACTIVE = {"mode": "active_active", "virtual_ips": [
    {"address": "10.0.0.100/24", "router_id": 51, "owner": "lb1"},
    {"address": "10.0.0.101/24", "router_id": 52, "owner": "lb2"}]}


def model(**pair: Any) -> Model:
    data = copy.deepcopy(MODEL)
    data["pairs"][0].update(pair)
    return Model.model_validate(data)


def pair(**changes: Any) -> Pair:
    return model(**changes).pairs[0]


# --- the rolling order ----------------------------------------------------------------------------


@pytest.mark.parametrize(("held", "order"), [
    ({"lb1": 1, "lb2": 0}, ("lb2", "lb1")),  # the passive node first, the VIP's holder last
    ({"lb1": 0, "lb2": 1}, ("lb1", "lb2")),  # after a failover the owner is the passive one
    ({}, ("lb1", "lb2")),  # nobody holds it (first deploy, both down): the owner first, so it wins the election
    ({"lb1": 0, "lb2": 0}, ("lb1", "lb2")),
])
def test_rolling_order_active_passive(held: dict[str, int], order: tuple[str, str]) -> None:
    assert rolling_order(pair(), held) == order


def test_rolling_order_owner_first_follows_the_vip_not_the_node_order() -> None:
    owned_by_lb2 = pair(virtual_ips=[{"address": "10.0.0.100/24", "router_id": 51, "owner": "lb2"}])
    assert rolling_order(owned_by_lb2, {}) == ("lb2", "lb1")
    assert rolling_order(owned_by_lb2, {"lb2": 1}) == ("lb1", "lb2")


@pytest.mark.parametrize(("held", "order"), [
    ({"lb1": 1, "lb2": 1}, ("lb1", "lb2")),  # each holds its own: model order, one at a time
    ({"lb1": 0, "lb2": 2}, ("lb1", "lb2")),  # lb2 carries both after lb1 failed: lb1 first
    ({"lb1": 2, "lb2": 0}, ("lb2", "lb1")),
])
def test_rolling_order_active_active(held: dict[str, int], order: tuple[str, str]) -> None:
    assert rolling_order(pair(**ACTIVE_ACTIVE), held) == order


def test_apply_groups_put_the_pair_at_its_first_member() -> None:
    m = model()
    assert apply_groups(m, ["solo", "lb1", "lb2", "last"]) == ["solo", m.pairs[0], "last"]
    assert apply_groups(m, ["lb2", "last"]) == [m.pairs[0], "last"]


# --- the rolling apply over fake drivers ----------------------------------------------------------

FILES = seal({"haproxy.cfg": text_file(HAPROXY_HEAD), "keepalived.conf": text_file("vrrp\n", 0o644)})


def node_state(name: str, held: int) -> NodeVrrp:
    return NodeVrrp("edge", name, True, ("10.0.0.100/24",) * held)


def run_pair(drivers: dict[str, Driver], held: dict[str, int], log: list[str],
             healthy: set[str] | None = None) -> list[Any]:
    def verify(driver: Any, proxy: Proxy) -> None:
        log.append(f"verify {proxy.name}")
        if healthy is not None and proxy.name not in healthy:
            raise ApplyError(f"{proxy.name}: applied, but its /healthz does not answer")

    def apply_one(driver: Any, files: Any) -> Any:
        log.append(f"apply {driver.proxy}")
        return apply_proxy(driver, files)

    lock = next(iter(drivers.values())).store.state_dir.parent / "pair.lock"
    return apply_pair(model(), model().pairs[0], drivers, {n: FILES for n in drivers}, apply_one, lock,
                      read=lambda d, p: node_state(d.proxy, held.get(d.proxy, 0)), verify=verify)


def fakes(tmp_path: Path, failing: str | None = None) -> dict[str, Driver]:
    found = {}
    for name in ("lb1", "lb2"):
        found[name], host = fake_driver(tmp_path, "haproxy", name=name, vrrp=True)
        if name == failing:
            host.faults.add("start")
    return found


def events(driver: Driver) -> list[str]:
    return driver.control.host.events  # type: ignore[attr-defined, no-any-return]


def test_rolling_apply_passive_first_each_verified_before_the_next(tmp_path: Path) -> None:
    drivers, log = fakes(tmp_path), []
    results = run_pair(drivers, {"lb1": 1}, log)
    assert log == ["apply lb2", "verify lb2", "apply lb1", "verify lb1"]
    assert [(r.proxy, r.outcome) for r in results] == [("lb2", "started"), ("lb1", "started")]
    assert all("spawn keepalived" in events(d) for d in drivers.values())  # synced beside each proxy


def test_a_failed_apply_on_the_first_node_stops_before_the_second(tmp_path: Path) -> None:
    drivers, log = fakes(tmp_path, failing="lb2"), []
    with pytest.raises(ApplyError) as info:
        run_pair(drivers, {"lb1": 1}, log)
    assert log == ["apply lb2"]
    assert events(drivers["lb1"]) == []  # never touched
    assert "stopped before lb1, which was not touched" in str(info.value)


def test_a_first_node_that_does_not_serve_stops_the_rollout(tmp_path: Path) -> None:
    drivers, log = fakes(tmp_path), []
    with pytest.raises(ApplyError) as info:
        run_pair(drivers, {"lb1": 1}, log, healthy={"lb1"})
    assert info.value.message == "lb2: applied, but its /healthz does not answer"
    assert log == ["apply lb2", "verify lb2"] and events(drivers["lb1"]) == []
    assert "stopped before lb1" in str(info.value)


def test_a_failure_on_the_second_node_keeps_the_first(tmp_path: Path) -> None:
    drivers, log = fakes(tmp_path, failing="lb1"), []
    with pytest.raises(ApplyError) as info:
        run_pair(drivers, {"lb1": 1}, log)
    assert log == ["apply lb2", "verify lb2", "apply lb1"]
    assert drivers["lb2"].control.observe().release == release_id(FILES) and "stopped before" not in str(info.value)


def test_only_the_selected_member_is_applied(tmp_path: Path) -> None:
    drivers, log = {"lb1": fakes(tmp_path)["lb1"]}, []
    run_pair(drivers, {}, log)
    assert log == ["apply lb1", "verify lb1"]


def test_the_pair_lock_is_the_same_whichever_members_are_selected(tmp_path: Path) -> None:
    """Defect 10: `apply --proxy lb2` and a full apply must serialize on one lock."""
    dirs = {"lb1": tmp_path / "a", "lb2": tmp_path / "b"}
    assert pair_lock_path(dirs, pair()) == pair_lock_path(dict(reversed(list(dirs.items()))), pair()) == \
        tmp_path / "a" / "run" / "pair.lock"


# --- what the containers say ----------------------------------------------------------------------

IP_ADDR = """1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1202: eth0    inet 10.0.0.11/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever preferred_lft forever
1202: eth0    inet 10.0.0.100/24 scope global secondary eth0\\       valid_lft forever preferred_lft forever
1202: eth0    inet6 fe80::42:aff:fe00:b/64 scope link \\       valid_lft forever preferred_lft forever
"""


def dump(*instances: tuple[str, int, int, list[str]]) -> str:
    return json.dumps([{"data": {"iname": name, "state": state, "effective_priority": prio, "vrid": 51,
                                 "vips": [f"{v} dev eth0 scope global set" for v in vips]}, "stats": {}}
                       for name, state, prio, vips in instances])


def test_parse_addresses_and_instances() -> None:
    assert parse_addresses(IP_ADDR) == {"127.0.0.1", "10.0.0.11", "10.0.0.100", "fe80::42:aff:fe00:b"}
    assert parse_instances(dump(("edge_vrid52", 1, 100, ["10.0.0.101/24"]), ("edge_vrid51", 2, 150, []))) == (
        VrrpInstance("edge_vrid51", "MASTER", 150, ()), VrrpInstance("edge_vrid52", "BACKUP", 100, ("10.0.0.101/24",)))


def test_parse_snapshot_master_backup_and_broken_states() -> None:
    p = pair()
    master = parse_snapshot(p, "lb1", f"== addr\n{IP_ADDR}== pid 13\n== json\n{dump(('edge_vrid51', 2, 150, []))}\n")
    assert (master.held, master.state, master.keepalived, master.problem) == (("10.0.0.100/24",), "MASTER", True, None)
    no_keepalived = parse_snapshot(p, "lb2", "== addr\n1: eth0    inet 10.0.0.12/24 scope global eth0\n")
    assert (no_keepalived.held, no_keepalived.state) == ((), "keepalived not running")
    garbled = parse_snapshot(p, "lb2", "== addr\n== pid 9\n== json\n[{\"data\"")
    assert garbled.problem == "keepalived gave no readable state dump" and garbled.state == "unknown"
    assert parse_snapshot(p, "lb2", "").problem == "container not running"
    mixed = NodeVrrp("edge", "lb1", True, (), (VrrpInstance("a", "MASTER", 1, ()), VrrpInstance("b", "FAULT", 1, ())))
    assert mixed.state == "a MASTER, b FAULT"


def test_status_shows_vips_and_vrrp_state_per_node() -> None:
    def status(name: str, vrrp: NodeVrrp) -> ProxyStatus:
        return ProxyStatus(name, "haproxy", "docker", 7, (8,), "r1", (), vrrp=vrrp)

    statuses = [status("lb1", NodeVrrp("edge", "lb1", True, ("10.0.0.100/24",),
                                       (VrrpInstance("edge_vrid51", "MASTER", 150, ()),))),
                status("lb2", NodeVrrp("edge", "lb2", False))]
    found = {t.title: t for t in tables(statuses, -1)}
    assert list(found) == ["proxies", "pairs"]
    assert found["pairs"].headers == ["PAIR", "NODE", "VRRP", "VIPS HELD"]
    assert found["pairs"].rows == [["edge", "lb1", "MASTER", "10.0.0.100/24"],
                                   ["edge", "lb2", "keepalived not running", "-"]]
    assert statuses[0].as_dict()["vrrp"]["vips"] == ["10.0.0.100/24"]  # type: ignore[index]


# --- the container of a pair member ---------------------------------------------------------------


def test_pair_members_get_vrrp_capabilities_and_their_node_address(tmp_path: Path) -> None:
    m = model()
    node = m.pairs[0].nodes[0]
    kwargs = container_spec(m.proxy("lb1"), tmp_path, (), node).create_kwargs()
    assert kwargs["cap_add"] == list(VRRP_CAPS)
    assert kwargs["networking_config"] == {"ha": {"IPAMConfig": {"IPv4Address": "10.0.0.11"}}}
    plain = container_spec(m.proxy("solo"), tmp_path).create_kwargs()
    assert "cap_add" not in plain and "networking_config" not in plain


def test_keepalived_runs_on_the_active_release_with_its_files_under_the_state_dir(tmp_path: Path) -> None:
    command = keepalived_command(tmp_path)
    assert command[:2] == ["keepalived", f"--use-file={tmp_path}/config/keepalived.conf"]
    assert {"--dont-fork", "--log-console", "--vrrp"} <= set(command)
    assert f"--pid={tmp_path}/run/keepalived.pid" in command
    assert launch_command(["keepalived"], tmp_path / "logs" / "keepalived.log")[:4] == (
        "sh", "-c", 'exec "$@" >>"$0" 2>&1', f"{tmp_path}/logs/keepalived.log")
    assert has_vrrp_caps(["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BROADCAST"]) and has_vrrp_caps(["ALL"])
    assert not has_vrrp_caps(["NET_ADMIN"]) and not has_vrrp_caps(None)


def test_keepalived_without_net_admin_is_refused_with_advice(tmp_path: Path) -> None:
    from ctlplane.drivers.container import ContainerHost
    from ctlplane.drivers.exec_frame import FRAME_SCRIPT, frame

    class Container:
        status = "running"
        labels: dict[str, str] = {}
        attrs = {"Mounts": [{"Destination": str(tmp_path)}], "HostConfig": {"CapAdd": None}}

        def exec_run(self, argv: list[str], **_: Any) -> Any:  # every command runs and prints nothing
            framed = argv[:3] == ["sh", "-c", FRAME_SCRIPT]
            return type("R", (), {"exit_code": 0, "output": frame(0, "").encode() if framed else b""})()

    class Client:
        containers = type("C", (), {"get": staticmethod(lambda name: Container())})()

    host = ContainerHost(container_spec(model().proxy("lb1"), tmp_path), "lb1", lambda: Client())
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "keepalived.conf").write_text("vrrp\n")
    with pytest.raises(DriverError, match="run 'ctlplane down' for this proxy and apply again"):
        KeepalivedControl(host, tmp_path).sync()
