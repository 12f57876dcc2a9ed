"""The CLI verbs end to end, run as a user would run them (a subprocess of
`python -m ctlplane`): exit codes, one-line located errors, JSON output, plan's
detailed exit codes, render's files, and a start-up that imports no heavy package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.apply.local import free_port
from tests.helpers import ROOT, example_certs, need_binary

MINIMAL = ROOT / "tests" / "model" / "valid" / "minimal.yaml"


def ctl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "ctlplane", *args], capture_output=True, text=True, env=env,
                          cwd=cwd or ROOT, timeout=120)


def test_validate_ok_without_binaries() -> None:
    run = ctl("validate", str(MINIMAL), "--no-binaries")
    assert run.returncode == 0, run.stderr
    assert "is valid" in run.stdout


def test_validate_error_is_one_located_line() -> None:
    bad = ROOT / "tests" / "model" / "invalid" / "unknown_pool.yaml"
    run = ctl("validate", str(bad))
    assert run.returncode == 1
    assert run.stderr.strip() == f"error: {bad}:10:38 (services[0].routes[0].pool): unknown pool 'nope'"
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("content", [b"", b"\x00\x01binary", b"key: [unclosed", b"- just\n- a list\n"])
def test_validate_refuses_non_models_without_traceback(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(content)
    run = ctl("validate", str(path))
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and run.stderr.startswith(f"error: {path}"), run.stderr


def test_validate_missing_file() -> None:
    run = ctl("validate", "/nonexistent/model.yaml")
    assert run.returncode == 1
    assert "cannot read" in run.stderr


def test_validate_json_output() -> None:
    bad = ROOT / "tests" / "model" / "invalid" / "unknown_field.yaml"
    run = ctl("validate", str(bad), "--output", "json")
    assert run.returncode == 1
    payload = json.loads(run.stdout)
    assert payload["ok"] is False
    assert payload["findings"][0]["path"] == "pools[0].servers[0].wieght"
    assert payload["findings"][0]["line"] == 5


def test_render_writes_one_folder_per_proxy(tmp_path: Path) -> None:
    run = ctl("render", str(MINIMAL), "--out", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "lb" / "nginx.conf").is_file()


def test_render_unknown_proxy(tmp_path: Path) -> None:
    run = ctl("render", str(MINIMAL), "--out", str(tmp_path), "--proxy", "nope")
    assert run.returncode == 1 and "no proxy named 'nope'" in run.stderr


def test_plan_detailed_exitcode(tmp_path: Path) -> None:
    """2 while the proxy does not serve the model (not running, then a changed port), 0 once it does."""
    need_binary("nginx")
    port = free_port()
    model = tmp_path / "model.yaml"
    text = MINIMAL.read_text().replace("listen: {port: 8080}", f"listen: {{address: 127.0.0.1, port: {port}}}")
    model.write_text(text)
    first = ctl("plan", str(model), "--detailed-exitcode")
    assert first.returncode == 2, first.stderr
    assert "lb: start" in first.stdout and "+++ rendered/nginx.conf" in first.stdout
    try:
        assert ctl("apply", str(model), "--yes").returncode == 0
        second = ctl("plan", str(model), "--detailed-exitcode")
        assert second.returncode == 0, second.stdout + second.stderr
        assert "lb: no changes" in second.stdout
        model.write_text(text.replace("port: 9001", "port: 9002"))
        third = ctl("plan", str(model), "--detailed-exitcode", "--output", "json")
        assert third.returncode == 2
        payload = json.loads(third.stdout)
        assert payload["changed"] is True and payload["proxies"][0]["how"] == "reload"
        assert payload["proxies"][0]["reload_cuts_connections_after"] == "1m"
        assert "9002" in payload["proxies"][0]["changes"][0]["diff"]
        # issue 12 item 14: the plan says what a reload does to long connections
        text_plan = ctl("plan", str(model))
        assert "lb: the reload cuts connections still open 1m after it (drain_timeout)" in text_plan.stdout
    finally:
        ctl("down", str(model))


def test_plan_error_exit_code_is_1() -> None:
    run = ctl("plan", str(ROOT / "tests" / "model" / "invalid" / "bad_port.yaml"), "--detailed-exitcode")
    assert run.returncode == 1


def test_plan_hides_secret_content(tmp_path: Path) -> None:
    example_certs(ROOT / "examples" / "certs")
    run = ctl("plan", str(ROOT / "examples" / "webapp-tls.yaml"), "--output", "json")
    assert run.returncode == 0, run.stderr
    assert "PRIVATE KEY" not in run.stdout


def test_schema_prints() -> None:
    run = ctl("schema", "--out", "-")
    assert run.returncode == 0
    assert json.loads(run.stdout)["title"] == "Model"


def test_help_imports_no_heavy_package() -> None:
    code = ("import sys; sys.argv=['ctlplane','--help']\nfrom ctlplane.cli import main\ntry: main()\n"
            "except SystemExit: pass\nprint('HEAVY', sorted(m for m in ('docker','watchdog','cryptography',"
            "'jinja2','pydantic') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "HEAVY []" in run.stdout, run.stdout + run.stderr


def test_python_dash_m_and_version_of_commands() -> None:
    run = ctl("--help")
    assert run.returncode == 0
    for verb in ("validate", "render", "plan", "schema"):
        assert verb in run.stdout


def test_version_and_global_options() -> None:
    from importlib import metadata

    run = ctl("--version")
    assert run.returncode == 0 and run.stdout == f"ctlplane {metadata.version('ctlplane')}\n"
    help_text = ctl("--help").stdout
    for option in ("--version", "--verbose", "--quiet", "--install-completion", "status"):
        assert option in help_text
    assert ctl("-v", "-q", "validate", str(MINIMAL)).returncode == 2  # usage error


def test_quiet_and_verbose() -> None:
    quiet = ctl("-q", "validate", str(MINIMAL), "--no-binaries")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    bad = ROOT / "tests" / "model" / "invalid" / "unknown_pool.yaml"
    verbose = ctl("-v", "validate", str(bad))
    assert verbose.returncode == 1
    assert verbose.stderr.splitlines()[0] == "error: invalid model" and "unknown pool 'nope'" in verbose.stderr


def test_validate_several_models() -> None:
    bad = ROOT / "tests" / "model" / "invalid" / "unknown_pool.yaml"
    run = ctl("validate", str(MINIMAL), str(bad), "--no-binaries")
    assert run.returncode == 1
    assert f"ok: {MINIMAL} is valid" in run.stdout and "unknown pool 'nope'" in run.stderr
    both = ctl("validate", str(MINIMAL), str(bad), "--no-binaries", "--output", "json")
    payload = json.loads(both.stdout)
    assert both.returncode == 1 and payload["ok"] is False
    assert [(m["model"], m["ok"]) for m in payload["models"]] == [(str(MINIMAL), True), (str(bad), False)]


def test_version_imports_no_heavy_package() -> None:
    code = ("import sys; sys.argv=['ctlplane','--version']\nfrom ctlplane.cli import main\ntry: main()\n"
            "except SystemExit: pass\nprint('HEAVY', sorted(m for m in ('docker','watchdog','cryptography',"
            "'jinja2','pydantic','rich.table') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "HEAVY []" in run.stdout, run.stdout + run.stderr


def test_quiet_silences_informational_lines(tmp_path: Path) -> None:
    run = ctl("-q", "render", str(MINIMAL), "--out", str(tmp_path / "out"))
    assert run.returncode == 0 and run.stdout == "" and run.stderr == ""
    assert (tmp_path / "out" / "lb" / "nginx.conf").is_file()


def test_large_render_reports_progress_with_verbose(tmp_path: Path) -> None:
    servers = "\n".join(f"      - {{name: s{i}, address: 10.0.{i // 250}.{i % 250 + 1}, port: 80}}" for i in range(1000))
    model = tmp_path / "big.yaml"
    model.write_text(f"pools:\n  - name: web\n    servers:\n{servers}\nservices:\n"
                     "  - {name: front, mode: http, listen: {port: 8080}, default_pool: web}\n"
                     "proxies:\n  - {name: lb, engine: nginx, services: [front]}\n")
    run = ctl("-v", "render", str(model), "--out", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    assert "... rendering 1 proxies with 1000 servers" in run.stderr
    quiet = ctl("-q", "render", str(model), "--out", str(tmp_path / "out2"))
    assert "rendering" not in quiet.stderr


def test_shell_completion_script_is_offered() -> None:
    # typer finds the shell among the command's ancestors, as a user's terminal has it: run it from bash, so the
    # test does not depend on how pytest itself was started (a detached run has no shell above it)
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(["bash", "-c", '"$@"; exit $?', "bash", sys.executable, "-m", "ctlplane",
                          "--show-completion"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "complete" in run.stdout and "COMP_WORDS" in run.stdout
