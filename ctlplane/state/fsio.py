"""Rendered files on disk: each file written atomically (temp file in the same
directory, fsync, rename) with its permission bits (secret files are created
0600 from the start, never widened), and a tree of them read back.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from ctlplane.render import Output, RenderedFile


def write_atomic(path: Path, content: bytes, mode: int = 0o644, dir_mode: int | None = None) -> None:
    """Write ``content`` to ``path`` (parents created, with ``dir_mode`` when given) in one rename."""
    _make_parents(path.parent, dir_mode)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _make_parents(directory: Path, mode: int | None) -> None:
    if directory.is_dir():
        return
    _make_parents(directory.parent, mode)
    directory.mkdir(exist_ok=True)
    if mode is not None:
        os.chmod(directory, mode)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_tree(directory: Path, files: Output) -> None:
    """Write every rendered file below ``directory`` (relative paths only)."""
    for rel, rendered in files.items():
        target = (directory / rel).resolve()
        if not target.is_relative_to(directory.resolve()) or rel.startswith("/"):
            raise ValueError(f"refusing to write outside {directory}: {rel}")
        write_atomic(target, rendered.content, rendered.mode)


def read_tree(directory: Path) -> Output:
    """Every regular file below ``directory`` with its mode ({} when it does not exist); symlinks are skipped."""
    files: Output = {}
    if not directory.is_dir():
        return files
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            files[path.relative_to(directory).as_posix()] = RenderedFile(path.read_bytes(), stat.S_IMODE(info.st_mode))
    return files
