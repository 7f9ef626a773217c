"""Crash-safe file primitives of the keystore: the lock, permissions, durable unlink and exchange
(atomic_write and fsync_dir live in x0ctl.fsutil, shared with every other writer).

A write is: create a temporary file beside the target (O_EXCL, mode 0600), write, fsync, rename
over the target, fsync the directory. After a SIGKILL or power loss the target holds either the
old or the new bytes, never a mix; a stray temporary file is removed on the next locked open.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import stat
import time
from pathlib import Path
from typing import Self

from x0ctl.errors import IOFailure
from x0ctl.fsutil import fsync_dir

LOCK_NAME = ".lock"


def make_private_dir(path: Path) -> None:
    path = Path(path)
    existed = path.exists()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not existed:
            os.chmod(path, 0o700)
            fsync_dir(path.parent)
    except OSError as exc:
        raise IOFailure(f"cannot create {path}: {exc.strerror or exc}") from None


def unlink_durable(path: Path) -> None:
    try:
        Path(path).unlink()
    except FileNotFoundError:
        return
    fsync_dir(Path(path).parent)


def loose_permissions(path: Path) -> str | None:
    """Why `path` is readable or writable by others than its owner, or None when it is private."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return f"{path} is a symbolic link"
    if info.st_mode & 0o077:
        wanted = "0700" if stat.S_ISDIR(info.st_mode) else "0600"
        return f"{path} has mode {stat.S_IMODE(info.st_mode):04o} (group/others have access; want {wanted})"
    if info.st_uid != os.geteuid():
        return f"{path} is owned by uid {info.st_uid}, not by the user running x0ctl"
    return None


class KeystoreLock:
    """An exclusive (writers) or shared (readers) flock on `<keystore>/.lock`.

    After the lock is won, the lock file is checked to still be the one at the path: a restore
    with --force swaps whole directories, and a waiter must not then act on the old one.
    """

    def __init__(self, directory: Path, *, exclusive: bool = True, wait: bool = False,
                 timeout: float | None = None) -> None:
        self.directory = Path(directory)
        self.exclusive = exclusive
        self.wait = wait
        self.timeout = timeout
        self.fd: int | None = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        path = self.directory / LOCK_NAME
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            try:
                # O_NOFOLLOW: a symlinked .lock must not make x0ctl create or lock a file elsewhere.
                if self.exclusive or not path.exists():
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
                else:
                    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError as exc:
                raise IOFailure(f"cannot open the keystore lock {path}: {exc.strerror or exc}") from None
            operation = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
            try:
                if self.wait and deadline is None:
                    fcntl.flock(fd, operation)
                else:
                    self._poll(fd, operation, deadline)
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return
            os.close(fd)  # the directory was swapped while we waited: lock the new one

    def _poll(self, fd: int, operation: int, deadline: float | None) -> None:
        while True:
            try:
                fcntl.flock(fd, operation | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if deadline is None or time.monotonic() >= deadline:
                    raise IOFailure(f"keystore locked: another x0ctl process holds {self.directory / LOCK_NAME}",
                                    hint="retry later or pass --wait") from None
                time.sleep(0.05)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_paths(first: Path, second: Path) -> bool:
    """Atomically swap two directory entries (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise IOFailure(f"cannot swap {first} and {second}: {os.strerror(code)}")
