"""The error page files (``error_pages[].file``) are confined and read like certificates: no '..' or NUL,
nothing outside the allowed directories (a symlink leading out included), a regular file only (a FIFO is
refused without waiting, a directory refused), at most 12 KiB; the release holds a copy, never the path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ctlplane.render import render_proxy
from tests.security.test_paths import model, refused, stage1

PAGE = b"<h1>sorry</h1>\n"


def with_page(value: str) -> dict[str, Any]:
    data = model()
    data["services"][0]["error_pages"] = [{"status": [404, 502], "file": value}]
    return data


@pytest.mark.parametrize("value", ["../outside/404.html", "errors/../../outside/404.html", "errors/a\x00b.html",
                                   "errors/404.html\n", "errors/ 404.html", "errors/$x.html", "errors/'x.html"])
def test_traversal_nul_and_odd_characters_never_pass_the_model(tmp_path: Path, value: str) -> None:
    finding = refused(tmp_path, with_page(value))
    assert finding.path == "services[0].error_pages[0].file"


def test_a_page_outside_the_allowed_directories_is_refused_symlink_or_not(tmp_path: Path) -> None:
    secret = tmp_path / "vault" / "secret.html"
    secret.parent.mkdir()
    secret.write_bytes(PAGE)
    base = tmp_path / "m"
    (base / "errors").mkdir(parents=True)
    finding = refused(base, with_page(str(secret)))
    assert "outside the allowed directories" in finding.message and finding.path.endswith(".file")
    (base / "errors" / "link.html").symlink_to(secret)
    assert "outside the allowed directories" in refused(base, with_page("errors/link.html")).message
    (base / "errors" / "passwd.html").symlink_to("/etc/passwd")
    assert "outside the allowed directories" in refused(base, with_page("errors/passwd.html")).message


def test_only_a_small_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "errors").mkdir()
    os.mkfifo(tmp_path / "errors" / "fifo.html")
    assert "not a regular file" in refused(tmp_path, with_page("errors/fifo.html")).message
    (tmp_path / "errors" / "dir.html").mkdir()
    assert "not a regular file" in refused(tmp_path, with_page("errors/dir.html")).message
    (tmp_path / "errors" / "big.html").write_bytes(b"x" * (12 * 1024 + 1))
    assert "12 KiB" in refused(tmp_path, with_page("errors/big.html")).message


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_the_release_holds_a_copy_and_never_names_the_models_path(tmp_path: Path, engine: str) -> None:
    (tmp_path / "errors").mkdir()
    (tmp_path / "errors" / "404.html").write_bytes(PAGE)
    data = with_page("errors/404.html")
    data["proxies"][0]["engine"] = engine
    assets = stage1(tmp_path, data)
    from ctlplane.model.load import load_file

    files = render_proxy(load_file(tmp_path / "model.yaml").model, "lb", assets)
    copies = [rel for rel, f in files.items() if rel.startswith("errors/pages/")]
    assert copies and all(PAGE in files[rel].content and files[rel].mode == 0o644 for rel in copies)
    assert all(str(tmp_path).encode() not in f.content for f in files.values())
