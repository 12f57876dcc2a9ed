"""First run as a new user would: state where unprivileged workers reach it, and static content they can
read, or a located refusal naming the file, the user and the fix (and `make demo` moves the quickstart out
of a private home directory for root). Also the default state directories."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctlplane.apply import prepare
from ctlplane.errors import ModelError
from ctlplane.model.assets import read_assets, worker_reach
from ctlplane.model.load import load_file
from ctlplane.model.reach import WORKER_USER, Account, account, blocker, tree_blocker
from ctlplane.state import paths
from tests.helpers import ROOT

MODEL = """pools:
  - name: app
    servers: [{name: a, address: 127.0.0.1, port: 9}]
services:
  - name: site
    mode: http
    listen: {address: 127.0.0.1, port: 19099}
    static: [{path_prefix: /, root: site}]
proxies:
  - {name: lb, engine: nginx, services: [site]}
"""


def nobody() -> Account:
    found = account(WORKER_USER)
    if found is None:
        pytest.fail("this machine has no 'nobody' user")
    return found


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A directory every user may traverse (pytest's own tmp_path lies under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="ctlplane-reach-"))
    os.chmod(path, 0o755)  # noqa: S103
    yield path
    shutil.rmtree(path, ignore_errors=True)


def tree(base: Path, mode: int) -> Path:
    """base/private (``mode``)/model.yaml with a static root site/index.html readable by everyone."""
    private = base / "private"
    (private / "site").mkdir(parents=True)
    (private / "site" / "index.html").write_text("hello\n")
    (private / "model.yaml").write_text(MODEL)
    os.chmod(private, mode)
    return private / "model.yaml"


def test_blocker_names_the_first_directory_that_locks_the_workers_out(open_tmp: Path) -> None:
    model = tree(open_tmp, 0o700)
    who = nobody()
    why = blocker(model.parent / "site" / "index.html", who, read=True)
    assert why == f"{model.parent} is drwx------ root:root"
    os.chmod(model.parent, 0o711)
    assert blocker(model.parent / "site" / "index.html", who, read=True) is None
    os.chmod(model.parent / "site" / "index.html", 0o600)
    assert tree_blocker(model.parent / "site", who) == f"{model.parent}/site/index.html is -rw------- root:root"
    assert blocker(model.parent / "not" / "yet", who, read=False) is None  # judged by its existing ancestor


@pytest.mark.skipif(os.geteuid() != 0, reason="the check is about workers that root's NGINX runs unprivileged")
def test_apply_refuses_static_content_the_workers_cannot_read_with_one_located_line(open_tmp: Path) -> None:
    model = tree(open_tmp, 0o700)
    loaded = load_file(model)
    [finding] = worker_reach(loaded, read_assets(loaded))
    assert (finding.file, finding.line, finding.path) == (str(model), 8, "services[0].static[0].root")
    assert "run as 'nobody' and cannot read static root" in finding.message
    assert "is drwx------ root:root" in finding.message and "o+x on the directories" in finding.message
    with pytest.raises(ModelError) as caught:
        prepare(model)
    assert [f.path for f in caught.value.findings] == ["services[0].static[0].root"]
    os.chmod(model.parent, 0o755)
    assert worker_reach(loaded, read_assets(loaded)) == []


def test_default_state_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "lb" / "model.yaml"
    model.parent.mkdir()
    model.write_text(MODEL + '  - {name: dk, engine: nginx, services: [site], runtime: {kind: docker, '
                             'container: dk}}\n')
    monkeypatch.delenv(paths.STATE_ROOT_ENV, raising=False)
    loaded = load_file(model)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert paths.proxy_dir(loaded, "lb") == model.parent / ".ctlplane" / "lb"  # an ordinary user: beside it
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    root_default = paths.proxy_dir(loaded, "lb")
    assert root_default.parent.parent == Path("/var/lib/ctlplane") and root_default.name == "lb"
    assert root_default.parent.name.startswith("lb-")  # the model's directory, and a digest of its path
    assert paths.proxy_dir(loaded, "dk") == model.parent / ".ctlplane" / "dk"  # a container mounts its own
    monkeypatch.setenv(paths.STATE_ROOT_ENV, str(tmp_path / "state"))
    assert paths.proxy_dir(loaded, "lb") == tmp_path / "state" / root_default.parent.name / "lb"


def test_the_quickstart_demo_runs_where_the_workers_can_read_it() -> None:
    demo = (ROOT / "examples" / "demo.py").read_text()
    assert "/var/lib/ctlplane/demo" in demo and "tree_blocker" in demo
    makefile = (ROOT / "Makefile").read_text()
    assert "examples/demo.py place" in makefile and "--wait-healthy" in makefile
