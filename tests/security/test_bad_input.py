"""Bad input of every kind: one located line on stderr, exit status 1, no
traceback, and nothing written or reloaded.

Each case is a model directory with one problem in it. ``ctlplane validate``
and ``ctlplane apply --yes`` are run on it (in process through typer's test
runner, and two cases as a real subprocess); the directory must be exactly as
before afterwards: no ``.ctlplane`` state directory, no release, no file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
import yaml
from typer.testing import CliRunner

from ctlplane.cli import app
from tests.helpers import ROOT

GOOD = {
    "pools": [{"name": "p", "servers": [{"name": "s", "address": "127.0.0.1", "port": 8080}]}],
    "services": [{"name": "web", "mode": "http", "listen": {"address": "127.0.0.1", "port": 18080},
                  "default_pool": "p"}],
    "proxies": [{"name": "lb", "engine": "nginx", "services": ["web"]}],
}


def dump(data: object) -> bytes:
    """YAML without anchors (shared sub-objects are copied first: the dumper would alias them)."""
    return yaml.safe_dump(json.loads(json.dumps(data)), sort_keys=False).encode()


def with_tls(directory: Path, ca: trustme.CA, *, mismatch: bool = False, key_mode: int = 0o600) -> bytes:
    leaf, other = ca.issue_cert("www.example.com"), ca.issue_cert("www.example.com")
    (directory / "site.crt").write_bytes(leaf.cert_chain_pems[0].bytes())
    (directory / "site.key").write_bytes((other if mismatch else leaf).private_key_pem.bytes())
    os.chmod(directory / "site.key", key_mode)
    data = {**GOOD, "services": [{**GOOD["services"][0], "tls": {"certificates": [
        {"cert": "site.crt", "key": "site.key"}]}}]}
    return dump(data)


def billion_laughs() -> bytes:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return ("\n".join(lines) + "\n").encode()


CA = trustme.CA()
CASES: dict[str, tuple[Callable[[Path], bytes], str]] = {
    # name: (writes the model directory's files and returns the model bytes, text the error must contain)
    "unknown field": (lambda d: dump({**GOOD, "colour": "red"}), "unknown field 'colour'"),
    "wrong type": (lambda d: dump({**GOOD, "services": [{**GOOD["services"][0], "listen": {"port": "eighty"}}]}),
                   "services[0].listen.port"),
    "missing file": (lambda d: dump({**GOOD, "services": [{**GOOD["services"][0], "tls": {"certificates": [
        {"cert": "nope.crt", "key": "nope.key"}]}}]}), "does not exist"),
    "key does not match certificate": (lambda d: with_tls(d, CA, mismatch=True), "does not match the certificate"),
    "world-readable key": (lambda d: with_tls(d, CA, key_mode=0o644), "readable by everyone"),
    "duplicate listen ports": (lambda d: dump({**GOOD, "services": [
        GOOD["services"][0], {**GOOD["services"][0], "name": "other"}],
        "proxies": [{"name": "lb", "engine": "nginx", "services": ["web", "other"]}]}), "collides with"),
    "yaml syntax error": (lambda d: b"services: [unclosed\n", "YAML syntax error"),
    "yaml alias bomb": (lambda d: billion_laughs(), "anchors and aliases are not allowed"),
    "yaml merge key": (lambda d: b"base: &b {port: 1}\nlisten:\n  <<: *b\n", "not allowed"),
    "empty file": (lambda d: b"", "empty"),
    "only a comment": (lambda d: b"# nothing here\n", "empty"),
    "binary file": (lambda d: os.urandom(4096) + b"\x00", "not a YAML text file"),
    "not utf-8": (lambda d: b"name: \xff\xfe\n", "not UTF-8"),
    "not a mapping": (lambda d: b"- a\n- b\n", "must be a YAML mapping"),
    "duplicate key": (lambda d: b"services: []\nservices: []\n", "duplicate key"),
    "50 MB file": (lambda d: b"# " + b"x" * (50 * 1024 * 1024) + b"\n", "larger than"),
    "path outside the model directory": (lambda d: dump({**GOOD, "services": [{**GOOD["services"][0], "tls": {
        "certificates": [{"cert": "/etc/ssl/certs/ca-certificates.crt", "key": "/etc/ssl/private/x.key"}]}}]}),
        "outside the allowed directories"),
}


def tree(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): p.lstat().st_size for p in sorted(directory.rglob("*"))}


@pytest.mark.parametrize("verb", ["validate", "apply"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_located_line_and_changes_nothing(case: str, verb: str, tmp_path: Path) -> None:
    write, expected = CASES[case]
    model = tmp_path / "model.yaml"
    model.write_bytes(write(tmp_path))
    before = tree(tmp_path)
    args = [verb, str(model)] + (["--yes"] if verb == "apply" else [])
    result = CliRunner().invoke(app, args, env={"NO_COLOR": "1"})
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), f"escaped exception: {result.exception!r}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {model}"), lines[0]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert tree(tmp_path) == before, "something was written"
    assert not (tmp_path / ".ctlplane").exists()


def test_located_errors_name_line_and_field(tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    model.write_bytes(CASES["unknown field"][0](tmp_path))
    line = CliRunner().invoke(app, ["validate", str(model)]).stderr.strip()
    assert line.startswith(f"error: {model}:") and "(colour)" in line


@pytest.mark.parametrize("case", ["yaml alias bomb", "50 MB file"])
def test_as_a_real_process(case: str, tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    model.write_bytes(CASES[case][0](tmp_path))
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    for verb in (["validate"], ["apply", "--yes"]):
        run = subprocess.run([sys.executable, "-m", "ctlplane", verb[0], str(model), *verb[1:]],
                             capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 1
        assert run.stderr.count("\n") == 1 and CASES[case][1] in run.stderr, run.stderr
        assert "Traceback" not in run.stderr
    assert not (tmp_path / ".ctlplane").exists()
