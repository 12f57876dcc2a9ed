"""Stage-2 validation: tiny hand-written configs through the real nginx, HAProxy and
keepalived binaries; findings must point at the rendered file and line, the
private staging directory must be 0700 and gone afterwards, and a missing
binary must give one "skipped" finding. Also the subprocess seam itself."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
import trustme

from ctlplane import validate
from ctlplane.drivers import process
from ctlplane.drivers.process import Completed, MissingBinary
from ctlplane.errors import DriverError
from ctlplane.render import RenderedFile, text_file
from ctlplane.validate import check_output, check_proxy_outputs, errors_only, is_error

NGINX_OK = """\
pid nginx.pid;
error_log logs/error.log notice;
events {}
http {
    access_log off;
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    server {
        listen 127.0.0.1:18080;
        location / { return 200; }
    }
}
"""

HAPROXY_OK = """\
global
    stats socket unix@admin.sock mode 600 level admin expose-fd listeners
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:18081
    default_backend be
backend be
    server s1 127.0.0.1:9999
"""

KEEPALIVED_OK = """\
global_defs {
    router_id lb1
}
vrrp_instance vi_1 {
    state MASTER
    interface IFACE
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        192.0.2.10/24 dev IFACE
    }
}
"""


def need(engine: str) -> None:
    if validate.binary_status()[engine] is None:
        message = f"{engine} is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def keepalived_ok() -> str:
    """KEEPALIVED_OK on an interface this host has, so the check judges the config, not the host."""
    names = sorted(n for n in os.listdir("/sys/class/net") if n != "lo") if os.path.isdir("/sys/class/net") else []
    return KEEPALIVED_OK.replace("IFACE", names[0] if names else "eth0")


def replace_line(text: str, number: int, new: str) -> str:
    lines = text.splitlines(keepends=True)
    lines[number - 1] = new + "\n"
    return "".join(lines)


# ---------------------------------------------------------------- nginx


def test_nginx_good_config_has_no_findings() -> None:
    need("nginx")
    assert check_output("nginx", {"nginx.conf": text_file(NGINX_OK)}) == []


def test_nginx_error_points_at_rendered_file_and_line() -> None:
    need("nginx")
    bad = replace_line(NGINX_OK, 13, "        foo bar;")
    [finding] = check_output("nginx", {"nginx.conf": text_file(bad)})
    assert (finding.file, finding.line, finding.source) == ("nginx.conf", 13, "nginx")
    assert finding.message == 'unknown directive "foo"'
    assert is_error(finding)


def test_nginx_warning_is_marked_and_not_an_error() -> None:
    need("nginx")
    twice = NGINX_OK.replace("    server {", "    server { listen 127.0.0.1:18080; server_name a; }\n    server {")
    twice = twice.replace("        location /", "        server_name a;\n        location /")
    findings = check_output("nginx", {"nginx.conf": text_file(twice)})
    assert [f.one_line() for f in findings] == ['nginx.conf: warning: conflicting server name "a" on 127.0.0.1:18080, ignored']
    assert errors_only(findings) == []


def test_nginx_resolves_certificates_relative_to_the_staging_dir(tmp_path: Path) -> None:
    need("nginx")
    cert = trustme.CA().issue_cert("www.example.com")
    tls = NGINX_OK.replace(
        "        listen 127.0.0.1:18080;",
        "        listen 127.0.0.1:18443 ssl;\n"
        "        ssl_certificate certs/www.pem;\n        ssl_certificate_key certs/www.key;",
    )
    files = {
        "nginx.conf": text_file(tls),
        "certs/www.pem": RenderedFile(b"".join(b.bytes() for b in cert.cert_chain_pems)),
        "certs/www.key": RenderedFile(cert.private_key_pem.bytes(), 0o600),
    }
    assert check_output("nginx", files) == []
    del files["certs/www.key"]
    [finding] = check_output("nginx", files)
    assert finding.file == "nginx.conf" and '"certs/www.key"' in finding.message
    assert "ctlplane-check-" not in finding.message  # the staging prefix is stripped


# ---------------------------------------------------------------- HAProxy


def test_haproxy_good_config_has_no_findings() -> None:
    need("haproxy")
    assert check_output("haproxy", {"haproxy.cfg": text_file(HAPROXY_OK)}) == []


def test_haproxy_alert_points_at_rendered_file_and_line() -> None:
    need("haproxy")
    bad = HAPROXY_OK.replace("    default_backend be\n", "    bogus_keyword here\n    default_backend be\n")
    findings = check_output("haproxy", {"haproxy.cfg": text_file(bad)})
    assert [(f.file, f.line, f.source) for f in findings] == [("haproxy.cfg", 10, "haproxy")]
    assert findings[0].message == "unknown keyword 'bogus_keyword' in 'frontend' section"


def test_haproxy_warning_is_marked_and_joined() -> None:
    need("haproxy")
    findings = check_output("haproxy", {"haproxy.cfg": text_file(HAPROXY_OK.replace("    timeout server 30s\n", ""))})
    assert len(findings) == 1 and findings[0].one_line().startswith("haproxy.cfg: warning: missing timeouts for backend 'be'.")
    assert "'client', 'connect', 'server'" in findings[0].message  # continuation lines joined
    assert errors_only(findings) == []


def test_haproxy_relative_socket_stays_in_the_staging_dir() -> None:
    need("haproxy")
    bad = HAPROXY_OK.replace("unix@admin.sock", "admin.sock")  # read as host:port, not a path
    findings = check_output("haproxy", {"haproxy.cfg": text_file(bad)})
    assert [(f.line, "missing port" in f.message) for f in findings] == [(2, True)]


# ---------------------------------------------------------------- keepalived


def test_keepalived_good_config_has_no_errors() -> None:
    need("keepalived")
    assert errors_only(check_output("keepalived", {"keepalived.conf": text_file(keepalived_ok())})) == []


def test_keepalived_error_points_at_rendered_file_and_line() -> None:
    need("keepalived")
    bad = replace_line(keepalived_ok(), 8, "    priorty 150")
    findings = errors_only(check_output("keepalived", {"keepalived.conf": text_file(bad)}))
    assert [(f.file, f.line, f.source, f.message) for f in findings] == [
        ("keepalived.conf", 8, "keepalived", "Unknown keyword 'priorty'")
    ]


def test_keepalived_message_naming_a_block_points_at_the_block() -> None:
    need("keepalived")
    bad = keepalived_ok().replace("    priority 150\n", "    priority 150\n    nopreempt\n")
    findings = errors_only(check_output("keepalived", {"keepalived.conf": text_file(bad)}))
    assert [(f.line, "nopreempt" in f.message) for f in findings] == [(4, True)]


def test_keepalived_unbalanced_braces_are_an_error_without_line() -> None:
    need("keepalived")
    findings = errors_only(check_output("keepalived", {"keepalived.conf": text_file("global_defs {\n")}))
    assert findings and findings[0].file == "keepalived.conf" and findings[0].line is None


def test_keepalived_missing_interface_is_a_host_warning() -> None:
    need("keepalived")
    conf = KEEPALIVED_OK.replace("IFACE", "nosuch9")
    findings = check_output("keepalived", {"keepalived.conf": text_file(conf)})
    assert findings and errors_only(findings) == []
    assert {f.line for f in findings if "nosuch9" in f.message} == {6, 11}


# ---------------------------------------------------------------- staging directory


class Spy:
    """A runner that inspects the staging directory while the 'binary' runs."""

    def __init__(self, returncode: int = 0, stderr: str = "") -> None:
        self.returncode, self.stderr = returncode, stderr
        self.calls: list[tuple[list[str], object]] = []
        self.stage: Path | None = None
        self.modes: dict[str, int] = {}

    def __call__(self, argv: list[str], *, cwd=None, timeout: float = 30.0, env=None) -> Completed:
        self.calls.append((argv, cwd))
        root = next(Path(a.removeprefix("--use-file=")) for a in argv if a.endswith((".conf", ".cfg")))
        self.stage = root.parent.parent  # <stage>/config/<root file>
        self.modes = {str(p.relative_to(self.stage)): stat.S_IMODE(p.stat().st_mode) for p in self.stage.rglob("*")}
        self.modes["."] = stat.S_IMODE(self.stage.stat().st_mode)
        return Completed(tuple(argv), self.returncode, "", self.stderr, 0.0)


def test_staging_dir_is_private_holds_only_the_files_and_is_removed() -> None:
    spy = Spy()
    files = {"haproxy.cfg": text_file(HAPROXY_OK), "certs/www.key": RenderedFile(b"k", 0o600)}
    assert check_output("haproxy", files, runner=spy, binary="/bin/haproxy") == []
    assert spy.modes == {".": 0o700, "logs": 0o700, "tmp": 0o700, "cache": 0o700, "run": 0o700, "config": 0o700,
                         "config/certs": 0o700, "config/haproxy.cfg": 0o644, "config/certs/www.key": 0o600,
                         "run/server-state": 0o600}
    [(argv, cwd)] = spy.calls
    assert argv == ["/bin/haproxy", "-c", "-f", f"{spy.stage}/config/haproxy.cfg"] and cwd == str(spy.stage)
    assert spy.stage is not None and not spy.stage.exists()


def test_exact_commands_per_engine() -> None:
    spy = Spy()
    check_output("nginx", {"nginx.conf": text_file("")}, runner=spy, binary="nginx")
    check_output("keepalived", {"keepalived.conf": text_file("")}, runner=spy, binary="keepalived")
    (nginx, nginx_cwd), (keepalived, keepalived_cwd) = spy.calls
    stage = str(Path(nginx[6]).parent.parent)
    assert nginx == ["nginx", "-t", "-q", "-p", f"{stage}/", "-c", f"{stage}/config/nginx.conf", "-e", "stderr"]
    stage = keepalived[1].removeprefix("--use-file=").removesuffix("/config/keepalived.conf")
    assert keepalived == ["keepalived", f"--use-file={stage}/config/keepalived.conf", "--all-config", "--no-syslog",
                          "--config-test"]
    assert nginx_cwd is None and keepalived_cwd is None


def test_staging_dir_is_removed_after_a_real_check() -> None:
    need("nginx")
    seen: list[str] = []

    def spying(argv: list[str], **kw: object) -> Completed:
        seen.append(argv[4])
        return process.run(argv, **kw)  # type: ignore[arg-type]

    check_output("nginx", {"nginx.conf": text_file(NGINX_OK)}, runner=spying)
    assert seen and not Path(seen[0]).exists()


def test_paths_outside_the_staging_dir_are_refused() -> None:
    for bad in ("../escape.conf", "/etc/passwd", "a/../../b", ""):
        with pytest.raises(DriverError):
            check_output("nginx", {bad: text_file("x")}, runner=Spy(), binary="nginx")


def test_nonzero_exit_without_message_is_an_error() -> None:
    findings = check_output("haproxy", {"haproxy.cfg": text_file("")}, runner=Spy(returncode=1), binary="h")
    assert [f.message for f in findings] == ["haproxy config test failed with exit status 1 and printed nothing"]


# ---------------------------------------------------------------- missing binaries and failures


def test_missing_binary_gives_one_skipped_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "find_binary", lambda name, extra_dirs=(): None)
    assert validate.binary_status() == {"nginx": None, "haproxy": None, "keepalived": None}
    [finding] = check_output("keepalived", {"keepalived.conf": text_file("")})
    assert finding.one_line() == "keepalived.conf: skipped: keepalived not installed: stage-2 check skipped"
    assert finding.source == "keepalived" and not is_error(finding)


def test_binary_vanishing_at_run_time_is_skipped(tmp_path: Path) -> None:
    [finding] = check_output("nginx", {"nginx.conf": text_file("")}, binary=str(tmp_path / "nginx"))
    assert finding.severity == "skipped" and finding.message.startswith("nginx not installed")


def test_find_binary_uses_path_then_sbin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert process.find_binary("sh", extra_dirs=()) is None
    assert process.find_binary("sh", extra_dirs=("/bin", "/usr/bin")) in ("/bin/sh", "/usr/bin/sh")


def test_runner_failure_is_an_error_finding() -> None:
    def boom(argv: list[str], **kw: object) -> Completed:
        raise DriverError("nginx: timed out after 30s and was killed")

    [finding] = check_output("nginx", {"nginx.conf": text_file("")}, runner=boom, binary="nginx")
    assert is_error(finding) and "timed out" in finding.message and finding.file == "nginx.conf"


def test_check_proxy_outputs_prefixes_files_with_the_proxy() -> None:
    need("nginx")
    need("keepalived")
    bad_ka = replace_line(keepalived_ok(), 8, "    priorty 150")
    outputs = {
        "lb2": {"nginx.conf": text_file(NGINX_OK), "keepalived.conf": text_file(bad_ka)},
        "lb1": {"nginx.conf": text_file(replace_line(NGINX_OK, 13, "        foo bar;"))},
    }
    findings = errors_only(check_proxy_outputs(outputs, {"lb1": "nginx", "lb2": "nginx"}))
    assert [(f.file, f.line, f.source) for f in findings] == [
        ("lb1/nginx.conf", 13, "nginx"),
        ("lb2/keepalived.conf", 8, "keepalived"),
    ]


# ---------------------------------------------------------------- the subprocess seam


def test_run_captures_output_and_status() -> None:
    done = process.run([sys.executable, "-c", "import sys; print('out'); sys.stderr.write('err'); sys.exit(3)"])
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err")
    assert done.argv[0] == sys.executable and done.duration >= 0


def test_run_missing_binary_and_timeout() -> None:
    with pytest.raises(MissingBinary, match="not installed"):
        process.run(["/nonexistent/ctlplane-no-such-binary"])
    with pytest.raises(DriverError, match="timed out"):
        process.run([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2)
    with pytest.raises(TypeError):
        process.run("echo hi")  # type: ignore[arg-type]


def test_insecure_script_is_a_host_warning_only_for_a_non_root_checker(monkeypatch: pytest.MonkeyPatch) -> None:
    said = "Disabling track script chk_lb1 due to insecure"
    for euid, error in ((1000, False), (0, True)):
        monkeypatch.setattr(validate.os, "geteuid", lambda euid=euid: euid)
        [finding] = check_output("keepalived", {"keepalived.conf": text_file("")},
                                 runner=Spy(returncode=5, stderr=said + "\n" + said + "\n"), binary="k")
        assert is_error(finding) is error and finding.message.endswith(said)


def test_killed_checker_is_an_error() -> None:
    findings = check_output("keepalived", {"keepalived.conf": text_file("")}, runner=Spy(returncode=-15), binary="k")
    assert [f.message for f in findings] == ["keepalived config test was killed by signal 15 and printed nothing"]
