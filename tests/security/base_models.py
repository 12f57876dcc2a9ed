"""Two benign models, one per engine, that together set every string field
of the model at least once (``test_hostile.py`` checks that they do). Each
hostile value is put into one of their slots in turn; the rendered result is
compared with theirs."""

from __future__ import annotations

from typing import Any

from tests.security.world import CA_FILE, HTPASSWD_FILE, World


def nginx_model(world: World) -> dict[str, Any]:
    www, wild, _ = world.certs
    return {
        "version": 1,
        "pools": [
            {"name": "web", "balance": {"strategy": "hash", "key": "header", "name": "X-Tenant"},
             "health": {"passive": {"max_fails": 2, "window": "10s"}},
             "servers": [{"name": "w1", "address": "10.0.0.1", "port": 8080},
                         {"name": "w2", "address": "10.0.0.2", "port": 8080, "state": "disabled"}]},
            {"name": "api", "balance": {"strategy": "round_robin"}, "persistence": {"type": "cookie", "cookie": "SRV", "domain": "shop.example.com", "same_site": "strict"},
             "tls": {"verify": CA_FILE, "sni": "api.internal", "client_cert": {"cert": www.cert, "key": www.key}},
             "servers": [{"name": "a1", "address": "2001:db8::1", "port": 9000, "weight": 3}]},
            {"name": "ck", "balance": {"strategy": "hash", "key": "cookie", "name": "session"},
             "servers": [{"name": "c1", "address": "10.0.1.1", "port": 80}]},
            {"name": "rnd", "balance": {"strategy": "random"},
             "servers": [{"name": "r1", "address": "10.0.2.1", "port": 80, "state": "disabled"},
                         {"name": "r2", "address": "10.0.2.2", "port": 80}]},
            {"name": "src", "balance": {"strategy": "source_ip_hash"},
             "servers": [{"name": "s1", "address": "10.0.3.1", "port": 80}]},
            {"name": "db", "balance": {"strategy": "weighted_round_robin"},
             "persistence": {"type": "source_ip"}, "tls": {"verify": "none", "sni": "db.internal"},
             "send_proxy_protocol": "v1",
             "servers": [{"name": "d1", "address": "10.0.4.1", "port": 5432}]},
            {"name": "lc", "balance": {"strategy": "least_connections"},
             "servers": [{"name": "l1", "address": "10.0.5.1", "port": 6379},
                         {"name": "l2", "address": "10.0.5.2", "port": 6379, "backup": True}],
             "discover": {"docker": {"labels": {"ctlplane.pool": "lc", "ctlplane.tier": "cache"},
                                     "network": "app-net", "port": 6379}}},
            {"name": "rpc", "protocol": "grpc", "servers": [{"name": "g1", "address": "10.0.6.1", "port": 50051}]},
        ],
        "services": [
            {"name": "front", "mode": "http", "listen": {"address": "0.0.0.0", "port": 8443},
             "routes": [
                 {"host": "api.example.com", "path_prefix": "/api/", "pool": "api", "max_body_size": "10m",
                  "headers": {"request": {"set": [{"name": "X-Api", "value": "v1"}]},
                              "response": {"remove": ["X-Api-Debug"]}},
                  "access": {"allow": ["10.3.0.0/16"], "deny": ["10.3.9.0/24"]},
                  "limits": {"requests_per_second": 2, "burst": 1, "connections_per_client": 3, "status": 503},
                  "timeouts": {"server": "5s", "tunnel": "2m"}, "cache": False},
                 {"host": "*.example.org", "path_prefix": "/v2", "header": {"name": "X-Tenant", "value": "gold"},
                  "pool": "web"},
                 {"path_prefix": "/v2", "pool": "ck"},
                 {"path_prefix": "/pkg.Rpc/", "pool": "rpc"},
             ],
             "default_pool": "rnd",
             "tls": {"certificates": [{"cert": www.cert, "key": www.key},
                                      {"cert": wild.cert, "key": wild.key, "hosts": ["shop.example.org"]}],
                     "min_version": "1.2", "redirect_http_port": 8080,
                     "hsts": {"max_age": "365d", "include_subdomains": True},
                     "client_ca": CA_FILE, "client_verify": "optional", "client_subject_header": "X-SSL-Client-DN"},
             "compression": {"types": ["text/css", "application/json"], "min_length": "1k"},
             "cache": {"max_size": "100m", "valid": "60s", "key": "uri"},
             "static": [{"path_prefix": "/assets/", "root": world.static[0]}],
             "access": {"allow": ["10.0.0.0/8"], "deny": ["10.1.0.0/16"]},
             "limits": {"connections_per_client": 20, "requests_per_second": 10, "burst": 5},
             "timeouts": {"connect": "2s", "client": "30s", "server": "45s", "request_header": "5s",
                          "keep_alive": "20s", "tunnel": "15m"},
             "retries": {"attempts": 2, "on_status": [502]},
             "max_body_size": "2m", "trusted_proxies": ["10.2.0.0/16"],
             "hide_response_headers": ["X-Powered-By", "X-Backend"],
             "headers": {"request": {"set": [{"name": "X-Env", "value": "prod"}],
                                     "add": [{"name": "X-Client-IP", "value_from": "client_ip"}],
                                     "remove": ["X-Internal"]},
                         "response": {"set": [{"name": "X-Frame-Options", "value": "DENY"}],
                                      "add": [{"name": "X-Request-ID", "value_from": "request_id"}]}},
             "auth": {"htpasswd": HTPASSWD_FILE, "realm": "Front (staff) area"}},
            {"name": "plain", "mode": "http", "listen": {"address": "127.0.0.1", "port": 8081, "also": ["127.0.0.2"]},
             "routes": [{"path_prefix": "/s", "pool": "src",
                         "auth": {"request": {"pool": "web", "path": "/auth/check"}}},
                        {"host": "old.example.com", "path_prefix": "/go/",
                         "redirect": {"to_host": "www.example.com", "to_path_prefix": "/new/", "status": 308}},
                        {"path_prefix": "/one", "redirect": {"to_path": "/two", "keep_query": False}},
                        {"path_prefix": "/api/v1/", "pool": "src", "rewrite": {"strip_prefix": True}},
                        {"path_prefix": "/legacy/", "pool": "src", "rewrite": {"replace_prefix": "/app/"}},
                        {"path_prefix": "/health", "respond": {"status": 503, "body": "down", "content_type":
                                                               "text/html"}}],
             "default_pool": "src",
             "error_pages": [{"status": [404, 502], "file": f"{world.static[0]}/index.html"}]},
            {"name": "sql", "mode": "tcp", "listen": {"address": "127.0.0.1", "port": 5432,
                                                      "accept_proxy_protocol": True}, "pool": "db",
             "access": {"deny": ["192.0.2.0/24"]}, "limits": {"connections_per_client": 5}},
            {"name": "kv", "mode": "tcp", "listen": {"address": "127.0.0.1", "port": 6379, "also": ["::1"]},
             "pool": "lc"},
        ],
        "proxies": [
            {"name": "edge", "engine": "nginx", "runtime": {"kind": "local", "state_dir": "state/edge"},
             "services": ["front", "plain", "sql", "kv"], "workers": "auto",
             "admin": {"address": "127.0.0.1", "port": 9000, "auth": {"htpasswd": HTPASSWD_FILE, "realm": "Ops"}},
             "metrics": {"address": "127.0.0.1", "port": 9100}, "access_log": "json", "user": "www-data",
             "group": "www-data", "drain_timeout": "2m"},
        ],
        "files": {"allowed_bases": [str(world.base / "certs")]},
    }


def haproxy_model(world: World) -> dict[str, Any]:
    www, _, api = world.certs
    return {
        "version": 1,
        "pools": [
            {"name": "app", "balance": {"strategy": "least_connections"}, "protocol": "h2c", "send_proxy_protocol": "v2",
             "slow_start": "30s",
             "health": {"active": {"type": "http", "path": "/healthz", "host": "app.internal", "expect_status": 204,
                                   "expect_body": "ok", "interval": "3s"},
                        "passive": {"max_fails": 3, "window": "5s"}},
             "servers": [{"name": "a1", "address": "10.0.0.1", "port": 8080, "weight": 0},
                         {"name": "a2", "address": "10.0.0.2", "port": 8080, "backup": True, "state": "drain"}]},
            {"name": "sticky", "balance": {"strategy": "hash", "key": "uri"},
             "persistence": {"type": "cookie", "cookie": "LB", "max_age": "1h", "domain": "example.com"},
             "tls": {"verify": CA_FILE, "sni": "sticky.internal", "client_cert": {"cert": api.cert, "key": api.key}},
             "servers": [{"name": "s1", "address": "10.0.1.1", "port": 80, "max_connections": 100}]},
            {"name": "tcpp", "balance": {"strategy": "source_ip_hash"},
             "health": {"active": {"type": "tcp", "interval": "2s"}},
             "persistence": {"type": "source_ip"}, "tls": {"verify": "none"},
             "servers": [{"name": "t1", "address": "10.0.2.1", "port": 5672, "state": "disabled"},
                         {"name": "t2", "address": "10.0.2.2", "port": 5672}]},
        ],
        "services": [
            {"name": "shop", "mode": "http", "listen": {"address": "0.0.0.0", "port": 443},
             "routes": [{"host": "api.test", "path_prefix": "/v1/", "pool": "sticky",
                         "access": {"allow": ["10.4.0.0/16"], "deny": ["10.4.9.0/24"]},
                         "limits": {"requests_per_second": 3, "connections_per_client": 4},
                         "timeouts": {"server": "7s", "tunnel": "3m"}, "cache": False,
                         "headers": {"response": {"set": [{"name": "Cache-Control", "value": "no-store"}]}},
                         "auth": {"htpasswd": HTPASSWD_FILE, "realm": "API v1", "forward_authorization": True}},
                        {"path_prefix": "/cart", "header": {"name": "X-Beta", "value": "on"}, "pool": "sticky"},
                        {"host": "example.com", "redirect": {"to_host": "www.example.com", "status": 301}},
                        {"path_prefix": "/old/", "redirect": {"to_path_prefix": "/new/", "status": 302}},
                        {"path_prefix": "/promo", "header": {"name": "X-Beta", "value": "on"},
                         "redirect": {"to_path": "/offers", "status": 307}},
                        {"path_prefix": "/api/v2/", "pool": "sticky", "rewrite": {"strip_prefix": True}},
                        {"path_prefix": "/v0/", "pool": "app", "rewrite": {"replace_prefix": "/v1/"}},
                        {"path_prefix": "/ping", "respond": {"status": 200, "body": "pong", "content_type":
                                                             "application/json"}}],
             "default_pool": "app",
             "tls": {"certificates": [{"cert": api.cert, "key": api.key},
                                      {"cert": www.cert, "key": www.key, "hosts": ["www.example.com"]}],
                     "min_version": "1.3", "redirect_http_port": 80, "hsts": {"max_age": "1d", "preload": True},
                     "client_ca": CA_FILE, "client_verify": "required"},
             "compression": {"types": ["text/plain"]},
             "cache": {"max_size": "64m", "valid": "30s", "key": "host_uri"},
             "access": {"allow": ["0.0.0.0/0"], "deny": ["203.0.113.0/24"]},
             "limits": {"connections_per_client": 100, "requests_per_second": 50, "status": 429},
             "timeouts": {"connect": "3s", "client": "20s", "server": "40s", "queue": "2s"},
             "retries": {"attempts": 1, "on_status": [503, 504]},
             "hide_response_headers": ["X-Debug"],
             "headers": {"request": {"set": [{"name": "X-Scheme", "value_from": "scheme"}],
                                     "remove": ["X-Internal"]},
                         "response": {"add": [{"name": "X-Served-By", "value": "edge"}],
                                      "remove": ["X-Runtime"]}},
             "error_pages": [{"status": [429, 503], "file": f"{world.static[1]}/index.html"}],
             "intercept_errors": True},
            {"name": "mq", "mode": "tcp", "listen": {"address": "127.0.0.1", "port": 5672, "accept_proxy_protocol": True},
             "pool": "tcpp",
             "timeouts": {"connect": "1s", "client": "1h", "server": "1h", "queue": "1s"}},
        ],
        "proxies": [
            {"name": name, "engine": "haproxy", "services": ["shop", "mq"], "workers": 2,
             "runtime": {"kind": "docker", "container": f"c-{name}", "image": "haproxy:2.6",
                         "network": "lbnet", "config_dir": f"state/{name}"},
             "admin": {"address": "127.0.0.1", "port": 8404},
             "metrics": {"address": "127.0.0.1", "port": 8405, "auth": {"htpasswd": HTPASSWD_FILE, "realm": "Scrape"}},
             "access_log": "json"}
            for name in ("h1", "h2")
        ],
        "pairs": [
            {"name": "ha", "mode": "active_passive",
             "nodes": [{"proxy": "h1", "interface": "eth0", "address": "192.0.2.11"},
                       {"proxy": "h2", "interface": "eth0", "address": "192.0.2.12"}],
             "virtual_ips": [{"address": "192.0.2.100/24", "router_id": 51, "owner": "h1"}],
             "unicast": True, "auth_password": "secret1", "advert_interval": "1s",
             "check": {"interval": "2s", "timeout": "1s"}},
        ],
    }


BASES = {"nginx": nginx_model, "haproxy": haproxy_model}
