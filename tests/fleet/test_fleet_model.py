"""The fleet section of the model: a valid fleet loads with its defaults, and each refusal of what one node
cannot run on its own is a located error naming the fix."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ctlplane.errors import ModelError
from ctlplane.model.load import load_file

BASE: dict[str, Any] = {
    "pools": [{"name": "app", "servers": [{"name": "a1", "address": "127.0.0.1", "port": 8080}]}],
    "services": [{"name": "web", "mode": "http", "listen": {"address": "0.0.0.0", "port": 8000},
                  "default_pool": "app"}],
    "proxies": [{"name": "edge", "engine": "haproxy", "services": ["web"],
                 "runtime": {"kind": "docker", "container": "edge", "network": "host"}}],
    "fleet": {"name": "edge", "manager": {"url": "ssh://ops@manager1"},
              "nodes": {"labels": {"ctlplane.fleet": "edge"}}, "proxies": ["edge"]},
}


def load(tmp_path: Path, data: dict[str, Any]) -> Any:
    path = tmp_path / "model.yaml"
    path.write_text(json.dumps(data, indent=1))
    return load_file(path)


def refused(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    with pytest.raises(ModelError) as caught:
        load(tmp_path, data)
    for finding in caught.value.findings:
        assert finding.file == str(tmp_path / "model.yaml") and finding.line and finding.path, finding.one_line()
    return [f"{f.path}: {f.message}" for f in caught.value.findings]


def test_a_fleet_loads_with_its_defaults(tmp_path: Path) -> None:
    fleet = load(tmp_path, BASE).model.fleet
    assert fleet.name == "edge" and fleet.agent_image == "ctlplane-agent:latest"
    assert fleet.rollout.canary == 1 and fleet.rollout.soak == 30_000 and fleet.rollout.deadline == 120_000
    assert fleet.rollout.gate.max_5xx_increase == 0.01 and fleet.rollout.gate.pools_healthy
    assert load(tmp_path, {k: v for k, v in BASE.items() if k != "fleet"}).model.fleet is None


@pytest.mark.parametrize("url", ["unix:///var/run/docker.sock", "ssh://ops@10.0.0.2:2222", "ssh://ops@[2001:db8::2]"])
def test_manager_urls_the_docker_sdk_takes(tmp_path: Path, url: str) -> None:
    data = copy.deepcopy(BASE)
    data["fleet"]["manager"] = {"url": url}
    assert load(tmp_path, data).model.fleet.manager.url == url


def test_tcp_needs_tls_unless_plain_tcp_is_allowed(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["fleet"]["manager"] = {"url": "tcp://10.0.0.2:2376"}
    assert refused(tmp_path, data) == ["fleet.manager.url: a tcp:// manager needs tls (ca, cert, key): anyone who "
                                       "reaches a plain engine API runs containers as root; use tls, or ssh://"]
    data["fleet"]["manager"]["allow_plain_tcp"] = True
    assert load(tmp_path, data).model.fleet.manager.allow_plain_tcp
    data["fleet"]["manager"] = {"url": "tcp://10.0.0.2:2376",
                                "tls": {"ca": "certs/ca.pem", "cert": "certs/c.pem", "key": "certs/c.key"}}
    assert load(tmp_path, data).model.fleet.manager.tls.key == "certs/c.key"  # not read by validate
    data["fleet"]["manager"]["url"] = "ssh://ops@manager1"
    assert refused(tmp_path, data)[0].startswith("fleet.manager.tls: tls applies to a tcp:// manager only")


@pytest.mark.parametrize("url", ["tcp://10.0.0.2", "tcp://10.0.0.2:99999", "http://10.0.0.2:2375",
                                 "unix:///a/../b", "ssh://ops@host;id", "tcp://h:1\n", "ssh://@host"])
def test_bad_manager_urls_are_refused(tmp_path: Path, url: str) -> None:
    data = copy.deepcopy(BASE)
    data["fleet"]["manager"] = {"url": url}
    assert refused(tmp_path, data)[0].startswith("fleet.manager.url: ")


def test_no_node_labels_is_refused(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["fleet"]["nodes"] = {"labels": {}}
    assert refused(tmp_path, data)[0].startswith("fleet.nodes.labels: ")
    data["fleet"]["nodes"] = {"labels": {"fleet": "edge"}}  # outside ctlplane's namespace
    assert refused(tmp_path, data)[0].startswith("fleet.nodes.labels.fleet")


def test_fleet_names_fit_swarm_object_names(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["fleet"]["name"] = "a" * 25
    assert refused(tmp_path, data)[0].startswith("fleet.name: ")
    data["fleet"]["name"] = "a" * 24
    assert load(tmp_path, data).model.fleet.name == "a" * 24


def test_a_fleet_proxy_must_be_a_host_network_container(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["proxies"][0]["runtime"] = {"kind": "local"}
    assert refused(tmp_path, data) == ["proxies[0].runtime: proxy 'edge' runs in fleet 'edge', whose agents "
                                       "hot-reload a container on each node's own network: use runtime kind docker "
                                       "with network: host"]
    data["proxies"][0]["runtime"] = {"kind": "docker", "container": "edge", "network": "bridge"}
    assert refused(tmp_path, data)[0].startswith("proxies[0].runtime: ")
    data["proxies"][0]["runtime"] = {"kind": "docker", "container": "edge", "network": "host", "config_dir": "st"}
    assert refused(tmp_path, data)[0].startswith("proxies[0].runtime.config_dir: proxy 'edge' runs in fleet")


def test_unknown_and_repeated_fleet_proxies(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["fleet"]["proxies"] = ["edge", "nope", "edge"]
    assert refused(tmp_path, data) == ["fleet.proxies: a proxy is listed twice", "fleet.proxies[1]: unknown proxy "
                                       "'nope'"]


def test_discovered_pools_static_content_and_pairs_are_refused_in_a_fleet(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["pools"][0]["discover"] = {"docker": {"labels": {"ctlplane.pool": "app"}, "port": 80}}
    assert refused(tmp_path, data) == ["pools[0].discover: pool 'app' discovers its members from a Docker engine and "
                                       "runs in fleet 'edge', where each node's engine would see other members (not "
                                       "yet): list its servers instead"]
    data = copy.deepcopy(BASE)
    data["proxies"][0]["engine"] = "nginx"
    (tmp_path / "www").mkdir()
    data["services"][0]["static"] = [{"path_prefix": "/s/", "root": "www"}]
    assert refused(tmp_path, data)[0].startswith("services[0].static: service 'web' serves static directories")
    data = copy.deepcopy(BASE)
    data["proxies"][0]["admin"] = {"port": 8404}
    data["proxies"].append({**copy.deepcopy(data["proxies"][0]), "name": "edge2",
                            "runtime": {"kind": "docker", "container": "edge2", "network": "host"}})
    data["pairs"] = [{"name": "p", "mode": "active_passive", "nodes": [{"proxy": "edge"}, {"proxy": "edge2"}],
                      "virtual_ips": [{"address": "192.0.2.10/24", "router_id": 5, "owner": "edge"}]}]
    assert refused(tmp_path, data) == ["fleet.proxies[0]: proxy 'edge' is a member of a keepalived pair, which a "
                                       "fleet does not run on its nodes (not yet): remove it from the pair or from the "
                                       "fleet"]


def test_rollout_rules(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["fleet"]["rollout"] = {"soak": "2m", "deadline": "2m"}
    assert refused(tmp_path, data) == ["fleet.rollout.soak: the soak must end before the wave's deadline: use a "
                                       "shorter soak or a longer deadline"]
    data["fleet"]["rollout"] = {"wave_size": 2, "wave_share": 0.5}
    assert "set wave_size or wave_share, not both" in refused(tmp_path, data)[0]
    for bad in ({"canary": 0}, {"wave_share": 0}, {"wave_share": 1.5}, {"gate": {"max_5xx_increase": 2}}):
        data["fleet"]["rollout"] = bad
        assert refused(tmp_path, data)[0].startswith("fleet.rollout.")
    data["fleet"]["rollout"] = {"canary": 2, "wave_share": 0.25, "soak": "10s", "deadline": "1m",
                                "gate": {"max_5xx_increase": 0, "pools_healthy": False}}
    rollout = load(tmp_path, data).model.fleet.rollout
    assert (rollout.canary, rollout.wave_share, rollout.gate.pools_healthy) == (2, 0.25, False)
