"""Stage-2 validation is sandboxed.

The real config tests run in a private directory made for them: mode 0700,
holding nothing but the rendered files (with their modes; keys 0600) under
``config/`` and the empty runtime directories, named alone on the command
line, and removed afterwards, whatever happens. Under ``strace`` the binaries
are seen never to open anything in the model's directory (the model file,
the original certificates and keys, the static roots) or anything in the
staging directory besides the staged files: they judge exactly the bytes
that will be deployed.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from ctlplane.drivers import process
from ctlplane.state.layout import CONFIG_DIR, RUNTIME_DIRS, SERVER_STATE
from ctlplane.model.assets import read_assets
from ctlplane.render import Output, render_all
from ctlplane.validate import check_output, errors_only
from tests.helpers import need_binary
from tests.security.base_models import BASES
from tests.security.checks import load
from tests.security.world import World

ENGINE_FILES = {"nginx": "nginx", "haproxy": "haproxy", "keepalived": "haproxy"}  # engine -> base model


def outputs(engine: str, world: World) -> Output:
    loaded = load(BASES[ENGINE_FILES[engine]](world), world)
    files = render_all(loaded.model, read_assets(loaded))[loaded.model.proxies[0].name]
    if engine == "keepalived":
        return {"keepalived.conf": files["keepalived.conf"]}
    return files


def snapshot(stage: str) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for root, dirs, files in os.walk(stage):
        for name in dirs + files:
            full = os.path.join(root, name)
            info = os.lstat(full)
            tree[os.path.relpath(full, stage)] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode))
    tree["."] = (stat.S_IFDIR, stat.S_IMODE(os.lstat(stage).st_mode))
    return tree


@pytest.mark.parametrize("engine", ["nginx", "haproxy", "keepalived"])
def test_the_staging_directory_is_private_exact_and_removed(engine: str, world: World) -> None:
    need_binary(engine)
    files = outputs(engine, world)
    seen: dict[str, Any] = {}

    def spy(argv: list[str], *, cwd: Any = None, timeout: float = 30.0, env: Any = None) -> process.Completed:
        stage = next(os.path.dirname(os.path.dirname(a)) for a in argv if a.endswith(("/nginx.conf", "/haproxy.cfg",
                                                                                       "/keepalived.conf")))
        stage = stage.split("=", 1)[-1]
        seen.update(stage=stage, tree=snapshot(stage), argv=argv, cwd=cwd)
        return process.run(argv, cwd=cwd, timeout=timeout, env=env)

    findings = check_output(engine, files, runner=spy)
    assert errors_only(findings) == [], [f.one_line() for f in findings]
    stage, tree = seen["stage"], seen["tree"]
    assert not os.path.exists(stage), "the staging directory was left behind"
    expected = {".": (stat.S_IFDIR, 0o700), CONFIG_DIR: (stat.S_IFDIR, 0o700)}
    expected.update({d: (stat.S_IFDIR, 0o700) for d in RUNTIME_DIRS})
    expected[SERVER_STATE] = (stat.S_IFREG, 0o600)  # "no saved server states", so HAProxy does not warn
    for rel, rendered in files.items():
        parts = rel.split("/")
        for i in range(1, len(parts)):
            expected[os.path.join(CONFIG_DIR, *parts[:i])] = (stat.S_IFDIR, 0o700)
        expected[os.path.join(CONFIG_DIR, rel)] = (stat.S_IFREG, rendered.mode)
    assert tree == expected
    assert all(files[rel].mode == 0o600 for rel in files if b"PRIVATE KEY" in files[rel].content)
    for arg in seen["argv"][1:]:  # nothing outside the stage is named on the command line
        path = arg.split("=", 1)[-1]
        if path.startswith("/"):
            assert path.startswith(stage + "/") or path == stage + "/", arg
    assert seen["cwd"] in (None, stage)


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_the_staging_directory_is_removed_when_the_check_fails(engine: str, world: World) -> None:
    made: list[str] = []

    def boom(argv: list[str], **_: Any) -> process.Completed:
        made.append(os.path.dirname(os.path.dirname(argv[-1] if engine == "haproxy" else argv[6])))
        raise KeyboardInterrupt  # the harshest interruption: nothing may be left behind

    with pytest.raises(KeyboardInterrupt):
        check_output(engine, outputs(engine, world), runner=boom, binary="/bin/true")
    assert made and not os.path.exists(made[0])


_PATH = re.compile(r'^\d+\s+\w+\((?:AT_FDCWD, |\d+, )?"((?:[^"\\]|\\.)*)"')


def traced_opens(log: Path, cwd: str | None) -> dict[str, bool]:
    """Every path a traced process touched, and whether any of those calls succeeded."""
    paths: dict[str, bool] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = _PATH.match(line)
        if match:
            path = match.group(1)
            path = os.path.normpath(path if path.startswith("/") or cwd is None else os.path.join(cwd, path))
            paths[path] = paths.get(path, False) or not re.search(r"= -1 E", line)
    return paths


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_the_config_test_reads_nothing_of_the_model_directory(engine: str, world: World, tmp_path: Path) -> None:
    need_binary(engine)
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    files = outputs(engine, world)
    seen: dict[str, Any] = {}

    def traced(argv: list[str], *, cwd: Any = None, timeout: float = 30.0, env: Any = None) -> process.Completed:
        log = tmp_path / "trace.log"
        done = process.run([strace, "-f", "-qq", "-e", "trace=%file", "-o", str(log), *argv], cwd=cwd,
                           timeout=timeout, env=env)
        if not log.exists() or "ptrace" in done.stderr.lower() and done.returncode:
            pytest.skip(f"strace cannot trace here: {done.stderr.strip()[:200]}")
        seen.update(paths=traced_opens(log, cwd), argv=argv)
        return done

    findings = check_output(engine, files, runner=traced)
    assert errors_only(findings) == [], [f.one_line() for f in findings]
    paths = seen["paths"]
    model_dir = str(world.base.resolve())
    assert not [p for p in paths if p == model_dir or p.startswith(model_dir + "/")], \
        "the config test opened files of the model directory"
    stage = next(p for p in (a.split("=", 1)[-1] for a in seen["argv"]) if "ctlplane-check-" in p)
    stage = stage[: stage.index("ctlplane-check-")] + stage[stage.index("ctlplane-check-"):].split("/", 1)[0]
    staged = {os.path.normpath(os.path.join(stage, CONFIG_DIR, rel)) for rel in files}
    allowed = staged | {os.path.normpath(os.path.join(stage, d)) for d in ("", CONFIG_DIR, *RUNTIME_DIRS)}
    # (HAProxy also probes for absent <cert>.ocsp/.sctl/.issuer files beside each certificate: failed calls.)
    inside = {p for p, ok in paths.items() if ok and (p == stage or p.startswith(stage + "/"))}
    strays = {p for p in inside if p not in allowed and not any(p.startswith(os.path.join(stage, d) + "/")
                                                                   for d in RUNTIME_DIRS)}
    assert not strays, f"opened in the stage but not staged: {sorted(strays)}"
    assert staged & {p for p, ok in paths.items() if ok}, "the trace saw none of the staged files (is the trace working?)"
