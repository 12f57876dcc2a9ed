"""`pip install .` gives a wheel that carries the templates and renders outside the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

from tests.helpers import ROOT


def test_wheel_renders_from_installed_copy(tmp_path: Path) -> None:
    wheels, source = tmp_path / "wheels", tmp_path / "source"
    source.mkdir()  # a copy of what the wheel is built from: a build/ left in the checkout cannot fill gaps
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("ctlplane", "templates"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
                   check=True, timeout=300, capture_output=True)
    wheel = next(wheels.glob("ctlplane-*.whl"))
    packaged = set(zipfile.ZipFile(wheel).namelist())
    packages = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "ctlplane").rglob("__init__.py"))]
    assert [p for p in packages if p not in packaged] == [], "every package of the source tree is in the wheel"
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   timeout=300, capture_output=True)
    # the dependencies come from the test environment's site-packages, the package itself from the wheel
    site = subprocess.run([str(py), "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True,
                          text=True, check=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    model = work / "model.yaml"
    model.write_text((ROOT / "tests" / "model" / "valid" / "minimal.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import ctlplane, ctlplane.render.env as e; print(ctlplane.__file__); print(e.template_dir())")
    where = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=work, env=env, check=True)
    assert str(env_dir) in where.stdout.splitlines()[0]
    assert str(env_dir) in where.stdout.splitlines()[1]
    run = subprocess.run([str(env_dir / "bin" / "ctlplane"), "render", str(model), "--out", str(work / "out")],
                         capture_output=True, text=True, cwd=work, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "upstream" in (work / "out" / "lb" / "nginx.conf").read_text()
