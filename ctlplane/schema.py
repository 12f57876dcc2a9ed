"""The JSON Schema of the model, generated from the pydantic classes.

Editors use it (``# yaml-language-server: $schema=...``) to complete and check
model files; a test keeps ``schemas/ctlplane.schema.json`` in sync.
"""

from __future__ import annotations

import json
from typing import Any

from ctlplane.model.root import Model

SCHEMA_ID = "https://ctlplane.dev/schemas/ctlplane.schema.json"


_LISTEN = {"address": "0.0.0.0", "port": 443}
_SERVER = {"name": "app1", "address": "10.0.0.11", "port": 8080, "weight": 2}
# Examples for the fields whose type carries none (objects, lists, enums), so an editor can offer every field.
EXAMPLES: dict[tuple[str, str], object] = {
    ("Model", "pools"): [{"name": "web", "servers": [_SERVER]}],
    ("Model", "services"): [{"name": "front", "mode": "http", "listen": _LISTEN, "default_pool": "web"}],
    ("Model", "proxies"): [{"name": "edge", "engine": "nginx", "services": ["front"]}],
    ("Model", "pairs"): [{"name": "edge", "mode": "active_passive", "nodes": [{"proxy": "lb1"}, {"proxy": "lb2"}],
                          "virtual_ips": [{"address": "192.0.2.10/24", "router_id": 51, "owner": "lb1"}]}],
    ("Model", "files"): {"allowed_bases": ["/etc/ssl/ctlplane"]},
    ("Access", "allow"): ["10.0.0.0/8"],
    ("Access", "deny"): ["203.0.113.0/24"],
    ("Certificate", "hosts"): ["www.example.com", "example.com"],
    ("Compression", "types"): ["text/plain", "application/json"],
    ("ConsistentHash", "key"): "header",
    ("Files", "allowed_bases"): ["/etc/ssl/ctlplane"],
    ("HttpService", "listen"): _LISTEN,
    ("HttpService", "access"): {"deny": ["203.0.113.0/24"]},
    ("HttpService", "limits"): {"requests_per_second": 20, "burst": 40},
    ("HttpService", "timeouts"): {"connect": "2s", "client": "30s", "server": "30s"},
    ("HttpService", "retries"): {"attempts": 1, "on_status": [502, 503]},
    ("HttpService", "routes"): [{"host": "api.example.com", "pool": "api"},
                                {"path_prefix": "/video/", "pool": "video"}],
    ("HttpService", "static"): [{"path_prefix": "/assets/", "root": "static"}],
    ("HttpService", "hide_response_headers"): ["Server", "X-Powered-By"],
    ("Pair", "mode"): "active_passive",
    ("Pair", "nodes"): [{"proxy": "lb1", "interface": "eth0"}, {"proxy": "lb2", "interface": "eth0"}],
    ("Pair", "virtual_ips"): [{"address": "192.0.2.10/24", "router_id": 51, "owner": "lb1"}],
    ("Pair", "check"): {"interval": "1s", "fall": 2, "rise": 2},
    ("Pool", "servers"): [_SERVER],
    ("Pool", "discover"): {"docker": {"labels": {"ctlplane.pool": "web"}, "network": "app-net", "port": 8080}},
    ("Discover", "docker"): {"labels": {"ctlplane.pool": "web"}, "network": "app-net", "port": 8080},
    ("Pool", "balance"): {"strategy": "least_connections"},
    ("Pool", "health"): {"passive": {"max_fails": 3, "window": "10s"}},
    ("Proxy", "engine"): "haproxy",
    ("Proxy", "runtime"): {"kind": "docker", "container": "edge"},
    ("Proxy", "services"): ["front"],
    ("Retries", "on_status"): [502, 503],
    ("TcpService", "listen"): {"address": "0.0.0.0", "port": 5432},
    ("TcpService", "access"): {"allow": ["10.0.0.0/8"]},
    ("TcpService", "limits"): {"connections_per_client": 20},
    ("TcpService", "timeouts"): {"connect": "3s", "client": "30m", "server": "30m"},
    ("TcpService", "retries"): {"attempts": 1},
    ("Tls", "certificates"): [{"cert": "certs/www.crt", "key": "certs/www.key"}],
    ("VirtualIp", "router_id"): 51,
}


def _with_examples(schema: dict[str, Any]) -> dict[str, Any]:
    """Every property gets ``examples``: from its type, its default, or the table above."""
    classes = {"Model": schema, **schema.get("$defs", {})}
    for cls, node in classes.items():
        for name, prop in (node.get("properties") or {}).items():
            if "examples" in prop:
                continue
            if (cls, name) in EXAMPLES:
                prop["examples"] = [EXAMPLES[(cls, name)]]
            elif "default" in prop:
                prop["examples"] = [prop["default"]]
            elif "const" in prop:
                prop["examples"] = [prop["const"]]
    return schema


def schema_dict() -> dict[str, object]:
    schema = _with_examples(Model.model_json_schema(mode="validation"))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def schema_text() -> str:
    return json.dumps(schema_dict(), indent=2, sort_keys=True) + "\n"
