"""Issue 13 item 7 in the model and the rendered configs: basic auth from an htpasswd file (hashed entries only,
refused with the file and line), per service and per route, on the admin and metrics listeners; an
authorization service (NGINX auth_request; refused on HAProxy, naming NGINX). The real ``nginx -t`` /
``haproxy -c`` judge the output; the traffic proof is the parity suite (``scenarios_auth.py``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from ctlplane.errors import ModelError
from ctlplane.model.assets import read_assets
from ctlplane.model.htpasswd import hash_problem, parse_htpasswd
from ctlplane.model.load import load_file
from ctlplane.render import render_proxy
from ctlplane.render.auth_names import user_file, userlist
from ctlplane.state.releases import ReleaseStore
from integration.harness.auth_lab import hashed
from tests.render.test_issue12 import ENGINES, binary_ok, model, refusal

USERS = "users.htpasswd"


@pytest.fixture(scope="module")
def entries() -> dict[str, str]:
    return {"sha512": hashed("$6$"), "sha256": hashed("$5$"), "b2b": hashed("$2b$"), "b2y": hashed("$2y$"),
            "yes": hashed("$y$")}


def _write(tmp_path: Path, data: dict[str, Any], entries: dict[str, str], text: str | None = None) -> Path:
    (tmp_path / USERS).write_text(text if text is not None else "".join(f"{u}:{h}\n" for u, h in entries.items()))
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _render(path: Path) -> tuple[str, dict[str, Any]]:
    loaded = load_file(path)
    files = render_proxy(loaded.model, "lb", read_assets(loaded))
    name = "nginx.conf" if loaded.model.proxies[0].engine == "nginx" else "haproxy.cfg"
    return files[name].content.decode(), files


def test_accepted_hashes_parse_and_the_rest_is_refused_by_line(entries: dict[str, str]) -> None:
    users, problems = parse_htpasswd("".join(f"{u}:{h}\n" for u, h in entries.items()).encode())
    assert problems == [] and [u for u, _ in users] == list(entries)
    text = ("# comment\n\nplain:secret\ndes:abhWCwoTZY2c6\nmd5:$1$xQVZUfqu$2i0X.s1.1Tq2WeK5A2fGx/\n"
            "apr:$apr1$BpqxuL/n$r9zzOB//FaKL7FOJuU5Js0\nsha:{SHA}/vNB+F2HQ559kaLUZbmHHvZrXpg=\n"
            f"a2a:{entries['b2b'].replace('$2b$', '$2a$')}\nbad user:{entries['sha512']}\nnocolon\n"
            f"sha512:{entries['sha512']}\nsha512:{entries['sha256']}\ntrail:{entries['sha512']} \n")
    _, problems = parse_htpasswd(text.encode())
    found = {p.line: p.message for p in problems}
    assert sorted(found) == [3, 4, 5, 6, 7, 8, 9, 10, 12, 13]
    assert "plaintext" in found[3] and "DES" in found[4] and "MD5" in found[5] and "$apr1$" in found[6]
    assert "{SHA}" in found[7] and "$2a$" in found[8] and "user name" in found[9] and "user:hash" in found[10]
    assert "twice" in found[12] and "malformed" in found[13]
    assert all("secret" not in m for m in found.values())  # a plaintext password is never echoed
    assert hash_problem("$6$" + "a" * 8 + "$" + "b" * 86 + "\n") is not None
    assert parse_htpasswd(b"\n# only comments\n")[1][0].message == "the file names no user"


def test_a_refused_entry_is_located_in_the_htpasswd_file_and_the_model(tmp_path: Path,
                                                                       entries: dict[str, str]) -> None:
    data = model("nginx", service={"auth": {"htpasswd": USERS}})
    path = _write(tmp_path, data, entries, text=f"ok:{entries['sha512']}\nbob:hunter2\n")
    with pytest.raises(ModelError) as caught:
        read_assets(load_file(path))
    [finding] = caught.value.findings
    assert finding.file == str(tmp_path / USERS) and finding.line == 2 and finding.path == "services[0].auth.htpasswd"
    assert "plaintext" in finding.message and "hunter2" not in finding.message


def test_an_htpasswd_file_outside_the_allowed_bases_is_refused(tmp_path: Path, entries: dict[str, str]) -> None:
    data = model("haproxy", service={"auth": {"htpasswd": "/etc/passwd"}})
    with pytest.raises(ModelError) as caught:
        read_assets(load_file(_write(tmp_path, data, entries)))
    assert "outside the allowed directories" in caught.value.findings[0].one_line()


@pytest.mark.parametrize("engine", ENGINES)
def test_service_auth_renders_and_passes_the_binary(engine: str, tmp_path: Path, entries: dict[str, str]) -> None:
    data = model(engine, service={"auth": {"htpasswd": USERS, "realm": "Lab (test) area"}, "cache": {}})
    text, files = _render(_write(tmp_path, data, entries))
    if engine == "nginx":
        assert '            auth_basic "Lab (test) area";\n' in text
        assert f'            auth_basic_user_file "{user_file(USERS)}";\n' in text
        assert '            set $ctl_authorization "";\n' in text
        assert "        proxy_set_header Authorization $ctl_authorization;\n" in text
        assert "proxy_cache_bypass $http_authorization" in text  # the client's header: never cached
        users = files[user_file(USERS)]
        assert users.mode == 0o640 and users.content.decode().count("\n") == len(entries)
    else:
        ul = userlist(USERS)
        assert f"userlist {ul}\n    user 'sha512' password '{entries['sha512']}'\n" in text
        assert f"    http-request auth realm 'Lab (test) area' unless {{ http_auth({ul}) }}\n" in text
        assert "    http-request del-header Authorization\n" in text
        assert "set-var(txn.ctl_no_cache) bool(true) if { req.hdr(authorization) -m found }" in text
        assert files["haproxy.cfg"].mode == 0o600  # it holds the hashes
        assert text.index("http-request deny deny_status 403") < text.index("http-request auth") if \
            "deny_status 403" in text else True
    binary_ok(engine, files)


@pytest.mark.parametrize("engine", ENGINES)
def test_route_auth_follows_the_routing_order(engine: str, tmp_path: Path, entries: dict[str, str]) -> None:
    routes = [{"path_prefix": "/admin/", "pool": "app", "auth": {"htpasswd": USERS, "realm": "Admin"}},
              {"path_prefix": "/admin/public/", "pool": "app"}]
    text, files = _render(_write(tmp_path, model(engine, service={"routes": routes}), entries))
    if engine == "nginx":
        admin = text[text.index('location "/admin/" {'):]
        assert admin[:admin.index("}")].count('auth_basic "Admin";') == 1
        public = text[text.index('location "/admin/public/" {'):]
        assert "auth_basic" not in public[:public.index("}")]
    else:  # least specific first: the longer prefix sets the variable last
        assert ("    http-request set-var(txn.ctl_auth) int(1) if { path,url_dec,regsub(/+,/,g) -m beg '/admin/' }\n"
                "    http-request set-var(txn.ctl_auth) int(0) if { path,url_dec,regsub(/+,/,g) -m beg '/admin/public/' }\n") in text
        assert f"if {{ var(txn.ctl_auth) -m int 1 }} !{{ http_auth({userlist(USERS)}) }}" in text
    binary_ok(engine, files)


@pytest.mark.parametrize("engine", ENGINES)
def test_internal_listeners_with_auth_may_listen_anywhere(engine: str, tmp_path: Path,
                                                          entries: dict[str, str]) -> None:
    basic = {"htpasswd": USERS, "realm": "Ops"}
    data = model(engine, admin={"address": "0.0.0.0", "port": 18404, "auth": basic},
                 metrics={"address": "0.0.0.0", "port": 18405, "auth": dict(basic)})
    text, files = _render(_write(tmp_path, data, entries))
    if engine == "nginx":
        status = text[text.index("location = /status {"):]
        assert 'satisfy any;\n            allow 127.0.0.0/8;\n            allow ::1;\n            deny all;\n' \
            '            auth_basic "Ops";' in status[:status.index("}")]  # ctlplane status reads it from loopback
        healthz = text[text.index("location = /healthz {"):]
        assert "auth_basic" not in healthz[:healthz.index("}")]
    else:
        ul = userlist(USERS)
        assert (f"    http-request auth realm 'Ops' if !{{ path /healthz }} !{{ src 127.0.0.0/8 ::1 }} "
                f"!{{ http_auth({ul}) }}\n") in text
        assert f"    http-request auth realm 'Ops' if {{ path /metrics }} !{{ http_auth({ul}) }}\n" in text
    binary_ok(engine, files)


def test_nginx_asks_an_authorization_service(tmp_path: Path, entries: dict[str, str]) -> None:
    data = model("nginx", service={"cache": {}, "routes": [{"path_prefix": "/sso/", "pool": "app",
                                                            "auth": {"request": {"pool": "app", "path": "/check"}}}]})
    text, files = _render(_write(tmp_path, data, entries))
    assert "            auth_request /_ctlplane_auth_1;\n" in text
    endpoint = text[text.index("location = /_ctlplane_auth_1 {"):]
    endpoint = endpoint[:endpoint.index("}")]
    assert "internal;" in endpoint and "proxy_pass_request_body off;" in endpoint and "proxy_cache off;" in endpoint
    assert 'proxy_pass "http://pool_app/check";' in endpoint and "X-Original-URI $request_uri" in endpoint
    binary_ok("nginx", files)


def test_haproxy_refuses_an_authorization_service() -> None:
    line = refusal(model("haproxy", service={"auth": {"request": {"pool": "app"}}}))
    assert "(services[0].auth.request)" in line and "without Lua" in line and "use engine nginx" in line


def test_nginx_refuses_header_routes_that_disagree_on_auth() -> None:
    routes = [{"path_prefix": "/api/", "pool": "app"},
              {"path_prefix": "/api/", "header": {"name": "X-Tenant", "value": "gold"}, "pool": "app",
               "auth": {"htpasswd": USERS}}]
    line = refusal(model("nginx", service={"routes": routes}))
    assert "(services[0].routes[1].auth)" in line and "per host and path" in line and "haproxy" in line


@pytest.mark.parametrize(("auth", "why"), [
    ({"realm": "R"}, "htpasswd, request or both"),
    ({"request": {"pool": "app"}, "realm": "R"}, "realm needs htpasswd"),
    ({"htpasswd": USERS, "realm": "off"}, "turn NGINX's authentication off"),
    ({"htpasswd": USERS, "realm": 'a"b'}, "should match pattern"),
    ({"htpasswd": USERS, "realm": "a$b"}, "should match pattern"),
])
def test_bad_auth_settings_are_refused(auth: dict[str, Any], why: str) -> None:
    assert why in refusal(model("nginx", service={"auth": auth}))


def test_the_workers_group_may_read_a_0640_file(tmp_path: Path, entries: dict[str, str]) -> None:
    data = model("nginx", service={"auth": {"htpasswd": USERS}})
    _, files = _render(_write(tmp_path, data, entries))
    gid = os.getgid()
    store = ReleaseStore(tmp_path / "state", workers_gid=gid)
    rid = store.stage(files)
    found = os.stat(tmp_path / "state" / "releases" / rid / user_file(USERS))
    assert found.st_gid == gid and found.st_mode & 0o777 == 0o640
