"""The CI workflow example and the pre-commit hook do what they say, run for real:
the validate, baseline and plan steps of examples/ci/ctlplane.yml are taken
from the YAML and run with bash (as GitHub runs them) against a git copy of
examples/ with the venv's ctlplane on PATH; the pre-commit hook's entry, args
and file names are run exactly as pre-commit would, on the examples and on a
broken model."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT, example_certs, need_binary

WORKFLOW = ROOT / "examples" / "ci" / "ctlplane.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
BIN = Path(sys.executable).parent


def steps() -> dict[str, dict[str, Any]]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    return {s["id"]: s for s in workflow["jobs"]["ctlplane"]["steps"] if "id" in s}


def path_env(**extra: str) -> dict[str, str]:
    if not (BIN / "ctlplane").exists():
        pytest.fail(f"the ctlplane script is not installed beside {sys.executable}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "NO_COLOR": "1", **extra}


def run_step(step: dict[str, Any], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """As GitHub runs a `shell: bash` step: bash --noprofile --norc -eo pipefail, the step's env on top."""
    step_env = {k: v for k, v in step.get("env", {}).items() if "${{" not in str(v)}
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=cwd,
                          env={**env, **step_env}, capture_output=True, text=True, timeout=300)


def test_workflow_shape() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in on and workflow["defaults"]["run"]["shell"] == "bash"
    assert workflow["permissions"]["pull-requests"] == "write"
    found = steps()
    assert list(found) == ["install", "validate", "baseline", "plan"]
    assert "ctlplane validate" in found["validate"]["run"]
    assert "ctlplane plan \"$model\" --against \"$RUNNER_TEMP/ctlplane-base-render/$model\" --detailed-exitcode" in found["plan"]["run"]
    for step in found.values():  # expressions go through env:, never into a script (no injection)
        assert "${{" not in step["run"]
    comment = workflow["jobs"]["ctlplane"]["steps"][-1]
    assert comment["uses"].startswith("actions/github-script@") and "<!-- ctlplane-plan -->" in comment["with"]["script"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding a copy of examples/ (with certificates), one commit."""
    for binary in ("nginx", "haproxy", "keepalived"):
        need_binary(binary)
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "examples", work / "examples", ignore=shutil.ignore_patterns(".ctlplane", "__pycache__"))
    example_certs(work / "examples" / "certs")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run([*git, *args], cwd=work, check=True, capture_output=True)
    return work


def test_validate_baseline_and_plan_steps(repo: Path, tmp_path: Path) -> None:
    found = steps()
    runner = tmp_path / "runner"
    runner.mkdir()
    env = path_env(MODELS="examples/*.yaml", RUNNER_TEMP=str(runner), GITHUB_OUTPUT=str(runner / "output"),
                   GITHUB_STEP_SUMMARY=str(runner / "summary"), GITHUB_WORKSPACE=str(repo))
    validate = run_step(found["validate"], repo, env)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert validate.stdout.count("is valid (model and binaries)") == len(list((repo / "examples").glob("*.yaml")))

    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    billing = repo / "examples" / "video-billing.yaml"
    billing.write_text(billing.read_text().replace("weight: 2}", "weight: 4}", 1))  # the pull request's change
    baseline = run_step(found["baseline"], repo, {**env, "BASE_SHA": base})
    assert baseline.returncode == 0, baseline.stdout + baseline.stderr
    assert (runner / "ctlplane-base-render" / "examples" / "video-billing.yaml" / "lb" / "haproxy.cfg").is_file()

    plan = run_step(found["plan"], repo, env)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "changed=true" in (runner / "output").read_text()
    body = (runner / "ctlplane-plan" / "plan.md").read_text()
    assert body.startswith("<!-- ctlplane-plan -->\n### ctlplane plan\n")
    assert "- `examples/video-billing.yaml` · **lb**: 1 file(s) would change" in body
    assert re.search(r"^-\s+server 'video1' .*weight 2\b", body, re.M) and re.search(r"^\+\s+server 'video1' .*weight 4\b",
                                                                                   body, re.M)
    assert "- `examples/quickstart.yaml` · **edge**: no changes" in body
    assert "- `examples/edge.yaml` · **cdn**: no changes" in body
    assert body.count("would change") == 1 and "PRIVATE KEY" not in body
    assert (runner / "summary").read_text() == body


def test_plan_step_fails_on_a_broken_model(repo: Path, tmp_path: Path) -> None:
    (repo / "examples" / "broken.yaml").write_text("pools: []\nservices: []\nproxies: []\n")
    runner = tmp_path / "runner"
    runner.mkdir()
    env = path_env(MODELS="examples/quickstart.yaml examples/broken.yaml", RUNNER_TEMP=str(runner),
                   GITHUB_OUTPUT=str(runner / "output"), GITHUB_STEP_SUMMARY=str(runner / "summary"))
    assert run_step(steps()["validate"], repo, env).returncode == 1
    plan = run_step(steps()["plan"], repo, env)
    assert plan.returncode == 1 and "ctlplane plan failed" in plan.stderr
    body = (runner / "ctlplane-plan" / "plan.md").read_text()
    # the HAProxy proxy's config and its two error pages are new
    assert "- :x: `examples/broken.yaml`: " in body and "**edge**: 3 file(s) would change" in body


# --- pre-commit -------------------------------------------------------------------------------------

def hook() -> dict[str, Any]:
    hooks = yaml.safe_load(HOOKS.read_text())
    return next(h for h in hooks if h["id"] == "ctlplane-validate")


def run_hook(files: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """entry + args + file names, as pre-commit runs a language: python hook (its venv's bin on PATH)."""
    h = hook()
    argv = [*shlex.split(h["entry"]), *h.get("args", []), *(str(f.relative_to(cwd)) for f in files)]
    return subprocess.run(argv, cwd=cwd, env=path_env(), capture_output=True, text=True, timeout=120)


def test_hook_definition() -> None:
    h = hook()
    assert h["entry"] == "ctlplane validate" and h["language"] == "python" and h["pass_filenames"] is True
    pattern = re.compile(h["files"])
    for path in ("ctlplane/lb.yaml", "infra/models/edge.yml", "lb.ctlplane.yaml"):
        assert pattern.search(path), path
    for path in (".pre-commit-config.yaml", ".github/workflows/ctlplane.yml", "examples/ci/ctlplane.yml",
                 "docs/x.md", "x/.ctlplane/lb/config.yaml"):
        assert not pattern.search(path), path


def test_hook_on_the_examples_and_a_broken_model(tmp_path: Path) -> None:
    example_certs(ROOT / "examples" / "certs")
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    ok = run_hook(examples, ROOT)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("is valid (model)") == len(examples)
    broken = ROOT / "tests" / "model" / "invalid" / "unknown_pool.yaml"
    bad = run_hook([examples[0], broken], ROOT)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert [ln for ln in lines if ln.startswith("error:")] == [
        "error: tests/model/invalid/unknown_pool.yaml:10:38 (services[0].routes[0].pool): unknown pool 'nope'"]
    # a checkout the workers may not read (a 0700 clone directory) adds located warnings, never errors
    assert all(": warning: " in ln for ln in lines if not ln.startswith("error:")), lines
    assert f"ok: {examples[0].relative_to(ROOT)} is valid" in bad.stdout
