"""Writing rendered files to disk: each file atomically (temp file in the same
directory, fsync, rename) with its permission bits; secret files are created
0600 from the start, never widened.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ctlplane.render import Output


def write_atomic(path: Path, content: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
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


def write_tree(directory: Path, files: Output) -> None:
    """Write every rendered file below ``directory`` (relative paths only)."""
    for rel, rendered in files.items():
        target = (directory / rel).resolve()
        if not target.is_relative_to(directory.resolve()) or rel.startswith("/"):
            raise ValueError(f"refusing to write outside {directory}: {rel}")
        write_atomic(target, rendered.content, rendered.mode)
