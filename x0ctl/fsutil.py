"""Crash-safe writes of the files x0ctl produces (keystore files, rule files, plots, reports).

A write is: create a temporary file beside the target (O_EXCL), write, fsync, rename over the
target, fsync the directory. After a SIGKILL or power loss the target holds either the old or the
new bytes, never a mix, and a reader holding the old file open keeps reading the whole old file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from x0ctl.errors import IOFailure

TMP_SUFFIX = ".tmp"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` (file mode `mode`); IOFailure (exit 4) when it cannot be written."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)  # the umask may have narrowed or we may be replacing a wider file
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise IOFailure(f"cannot write {path}: {exc.strerror or exc}") from None
