"""Start-up of the CLI: what a command imports. The CLI stands in for pydantic's plugin loader while every plugin
is off (its default), so these tests hold the stand-in to pydantic's own answer and to the one name pydantic
imports from it, and check an operator who names plugins gets pydantic's real loader."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pydantic

from ctlplane.cli import PYDANTIC_LOADER

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "tests" / "model" / "valid" / "minimal.yaml"


def run_validate(extra_env: dict[str, str], probe: str) -> subprocess.CompletedProcess[str]:
    code = (f"import sys; sys.argv=['ctlplane','validate',{str(MINIMAL)!r},'--no-binaries']\n"
            "from ctlplane.cli import main\ntry: main()\nexcept SystemExit: pass\n" + probe)
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**env, "PYTHONPATH": str(ROOT), **extra_env})


def test_validate_reads_no_distribution_metadata() -> None:
    run = run_validate({}, "print('METADATA', 'importlib.metadata' in sys.modules)")
    assert "is valid" in run.stdout and "METADATA False" in run.stdout, run.stdout + run.stderr


def test_an_operator_who_names_plugins_gets_pydantics_loader() -> None:
    probe = f"print('REAL', hasattr(sys.modules[{PYDANTIC_LOADER!r}], 'PYDANTIC_ENTRY_POINT_GROUP'))"
    run = run_validate({"PYDANTIC_DISABLE_PLUGINS": "some-plugin"}, probe)
    assert "is valid" in run.stdout and "REAL True" in run.stdout, run.stdout + run.stderr


def test_the_stand_in_answers_as_pydantics_loader_does_when_plugins_are_off() -> None:
    code = ("import os; os.environ['PYDANTIC_DISABLE_PLUGINS']='__all__'\n"
            "from pydantic.plugin._loader import get_plugins\nprint('PLUGINS', tuple(get_plugins()))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "PLUGINS ()" in run.stdout, run.stdout + run.stderr
    stand_in = run_validate({}, f"print('STAND-IN', tuple(sys.modules[{PYDANTIC_LOADER!r}].get_plugins()))")
    assert "STAND-IN ()" in stand_in.stdout, stand_in.stdout + stand_in.stderr


def test_pydantic_takes_only_get_plugins_from_its_loader() -> None:
    """If a pydantic upgrade imports anything else from the loader, the stand-in must learn it first."""
    names = set()
    for source in Path(pydantic.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("_loader"):
                names |= {alias.name for alias in node.names}
    assert names == {"get_plugins"}
