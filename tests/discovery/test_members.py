"""Which containers join which discovered pool, and why the others do not."""

from __future__ import annotations

import pytest

from ctlplane.discovery.members import resolve
from ctlplane.errors import ModelError
from tests.discovery.helpers import NET, container, loaded, model_data


def snapshot(containers: list, stopping: frozenset[str] = frozenset(), **data: object):  # type: ignore[no-untyped-def]
    return resolve(loaded(model_data(**data)).model, containers, stopping)  # type: ignore[arg-type]


def test_selected_running_containers_join_with_their_labels() -> None:
    found = snapshot([container("web-1", "10.1.0.5"), container("web-2", "10.1.0.6", port="9090", weight="3"),
                      container("web-3", "10.1.0.7", backup="true", drain="false"),
                      container("other", "10.1.0.8", pool="api"), container("down", running=False)])
    assert [(m.name, m.address, m.port, m.weight, m.backup, m.drain) for m in found.members] == [
        ("web-1", "10.1.0.5", 8080, 1, False, False), ("web-2", "10.1.0.6", 9090, 3, False, False),
        ("web-3", "10.1.0.7", 8080, 1, True, False)]
    assert found.members[0].container_id == container("web-1").id[:12]
    assert found.pools == ("web",) and not found.excluded


def test_a_container_joins_only_when_its_healthcheck_says_healthy() -> None:
    found = snapshot([container("a", health="healthy"), container("b", health="starting"),
                      container("c", health="unhealthy"), container("d")])
    assert [(m.name, m.health) for m in found.members] == [("a", "healthy"), ("d", "running")]
    assert [(e.container, e.refused) for e in found.excluded] == [("'b'", False), ("'c'", False)]
    assert "waits for its healthcheck (health: 'unhealthy')" in found.excluded[1].reason


def test_a_multi_homed_container_is_reached_on_the_named_network_only() -> None:
    two = {"front-net": "10.9.0.5", NET: "10.1.0.5"}
    found = snapshot([container("a", networks=two), container("b", networks={"front-net": "10.9.0.6"})])
    assert [(m.name, m.address) for m in found.members] == [("a", "10.1.0.5")]
    assert found.excluded[0].reason == "is not on network 'app-net' (on: 'front-net')"
    unnamed = snapshot([container("a", networks=two), container("c", networks={"only": "10.3.0.1"})], network=None)
    assert [(m.name, m.address) for m in unnamed.members] == [("c", "10.3.0.1")]  # never guessed
    assert unnamed.excluded[0].reason == "is on 2 networks ('app-net', 'front-net'): set discover.docker.network"


def test_a_stopping_container_joins_drained() -> None:
    a, b = container("a"), container("b", "10.1.0.6")
    found = snapshot([a, b], frozenset({b.id}))
    assert [(m.name, m.drain) for m in found.members] == [("a", False), ("b", True)]


@pytest.mark.parametrize(("labels", "reason"), [
    ({"port": "0"}, "label ctlplane.port: '0' is not a whole number from 1 to 65535"),
    ({"port": "80; server evil"}, "label ctlplane.port: '80; server evil' is not a whole number from 1 to 65535"),
    ({"weight": "0"}, "label ctlplane.weight: '0' is not a whole number from 1 to 256"),
    ({"weight": "3\n"}, "label ctlplane.weight: '3\\n' is not a whole number from 1 to 256"),
    ({"backup": "yes"}, "label ctlplane.backup: 'yes' is not true or false"),
    ({"drain": "True"}, "label ctlplane.drain: 'True' is not true or false"),
])
def test_bad_member_labels_leave_the_container_out_with_the_label_and_value(labels: dict[str, str],
                                                                              reason: str) -> None:
    found = snapshot([container("a", **labels), container("b", "10.1.0.6")])
    assert [m.name for m in found.members] == ["b"]
    (out,) = found.excluded
    assert out.refused and out.reason == reason
    assert out.message().startswith("pool 'web': container 'a' (")


def test_names_addresses_and_ports_are_checked_too() -> None:
    found = snapshot([container("Web_1"), container("x" * 41), container("no-ip", ""), container("v6", "fe80::1%eth0"),
                      container("w1", "10.1.0.9"), container("no-port", port="")],
                     static=[{"name": "w1", "address": "10.0.0.1", "port": 80}])
    reasons = {e.container: e.reason for e in found.excluded}
    assert reasons["'Web_1'"].startswith("its name cannot name a server")
    assert reasons["'" + "x" * 41 + "'"].startswith("its name cannot name a server")
    assert reasons["'no-ip'"] == "has no usable address on its network ('')"
    assert reasons["'v6'"] == "has no usable address on its network ('fe80::1%eth0')"
    assert reasons["'w1'"] == "its name is already a server of pool 'web'"
    assert reasons["'no-port'"] == "label ctlplane.port: '' is not a whole number from 1 to 65535"
    assert not found.members
    without = snapshot([container("a")], port=None)
    assert without.excluded[0].reason == "no ctlplane.port label and the pool sets no discover.docker.port"


def test_a_label_can_only_fill_a_pool_the_model_discovers() -> None:
    data = model_data()
    data["pools"].append({"name": "admin", "servers": [{"name": "s", "address": "10.0.0.1", "port": 80}]})
    found = resolve(loaded(data).model, [container("evil", pool="admin"), container("ok")])
    assert [(m.pool, m.name) for m in found.members] == [("web", "ok")] and not found.excluded


def test_nginx_pools_that_cannot_have_backups_refuse_the_backup_label() -> None:
    found = snapshot([container("a", backup="true")], engine="nginx", pool={"balance": {"strategy": "random"}})
    assert "NGINX cannot combine backup servers" in found.excluded[0].reason
    assert snapshot([container("a", backup="true")], engine="haproxy",
                    pool={"balance": {"strategy": "random"}}).members


def test_a_selector_cannot_use_member_labels_nor_leave_the_namespace() -> None:
    for labels in ({"ctlplane.port": "80"}, {"com.example.pool": "web"}, {"ctlplane.pool": "web\nx"}, {}):
        data = model_data()
        data["pools"][0]["discover"]["docker"]["labels"] = labels
        with pytest.raises(ModelError):
            loaded(data)


def test_a_static_pool_still_needs_a_server() -> None:
    data = model_data()
    del data["pools"][0]["discover"]
    with pytest.raises(ModelError, match="at least one server, or discover"):
        loaded(data)


def test_a_container_list_entry_is_read_without_trusting_it() -> None:
    from ctlplane.discovery.containers import listed_container

    entry = {"Id": "f" * 64, "Names": ["/web-1"], "Labels": {"ctlplane.pool": "web"}, "State": "running",
             "Status": "Up 4 seconds (health: starting)",
             "NetworkSettings": {"Networks": {"app-net": {"IPAddress": "10.1.0.5"}, "v6": {"IPAddress": "",
                                                                                         "GlobalIPv6Address": "fd00::5"}}}}
    info = listed_container(entry)
    assert (info.id, info.name, info.running, info.health) == ("f" * 64, "web-1", True, "starting")
    assert dict(info.networks) == {"app-net": "10.1.0.5", "v6": "fd00::5"}
    assert listed_container({**entry, "Status": "Up 1 minute (healthy)"}).health == "healthy"
    assert listed_container({**entry, "Status": "Up 1 minute (unhealthy)"}).health == "unhealthy"
    assert listed_container({**entry, "Status": "Up 1 minute", "State": "paused"}).health is None
    assert not listed_container({**entry, "State": "paused"}).running
    junk = listed_container({"Id": 5, "Names": "x", "Labels": [], "NetworkSettings": {"Networks": {"n": 3}}})
    assert (junk.id, junk.name, dict(junk.labels), dict(junk.networks), junk.running) == ("", "", {}, {"n": ""}, False)
