"""Files and folders only their owner can read: prompts and answers are private data.

Everything lmbatch writes that holds requests or results (the job store and its WAL
files, spool and plan folders with their chunk and key files, CLI results files) is
created with :func:`open_private` / :func:`make_private_dir`: mode 0600 for files and
0700 for folders, whatever the umask (a stricter umask still applies). On systems without
POSIX modes these are plain ``open`` / ``mkdir``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "create_private_file",
    "make_private_dir",
    "open_private",
    "private_store_files",
    "tighten",
]

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
_POSIX = os.name == "posix"
_WRITE_FLAGS = {
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
}


def make_private_dir(path: str | os.PathLike[str]) -> Path:
    """``mkdir -p`` where every folder it creates is 0700 (existing ones are left alone)."""
    folder = Path(path)
    missing: list[Path] = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for item in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            item.mkdir(mode=PRIVATE_DIR_MODE)
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)  # raises the right error (a file...)
    return folder


def open_private(path: str | os.PathLike[str], mode: str = "wb", **kwargs: Any) -> IO[Any]:
    """``open(path, mode, **kwargs)`` for writing, the file created 0600.

    An existing file being overwritten (``"w"``) or appended to is tightened to 0600 too.
    ``mode`` is ``w``, ``x`` or ``a``, with ``b`` for bytes.
    """
    flags = _WRITE_FLAGS.get(mode.replace("b", "").replace("t", ""))
    if flags is None:
        raise ValueError(f"open_private writes only (modes w, x, a), not {mode!r}")
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE_MODE)
    try:
        if _POSIX:
            info = os.fstat(fd)
            if info.st_uid == os.getuid() and info.st_mode & 0o077:
                os.fchmod(fd, info.st_mode & PRIVATE_FILE_MODE)
        return open(fd, mode, **kwargs)  # the caller closes it
    except BaseException:
        os.close(fd)
        raise


def create_private_file(path: str | os.PathLike[str]) -> None:
    """Create ``path`` empty and 0600 unless it exists (then it is only tightened)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE_MODE)
    os.close(fd)
    tighten(path, PRIVATE_FILE_MODE)


def private_store_files(store_path: str | os.PathLike[str]) -> None:
    """Before SQLite opens ``store_path``: create it 0600, tighten what lmbatch made before.

    SQLite gives its ``-wal`` and ``-shm`` files the database file's mode, so creating
    the database 0600 first keeps them private as well. Files and the spool folder left
    by earlier versions (made with the umask) are tightened. Best effort: a problem here
    (a folder in the way, no permission) is left for SQLite to report.
    """
    path = os.fspath(store_path)
    try:
        create_private_file(path)
    except OSError:
        return
    for suffix in ("-wal", "-shm", "-journal"):
        tighten(path + suffix, PRIVATE_FILE_MODE)
    tighten(path + ".spool", PRIVATE_DIR_MODE)


def tighten(path: str | os.PathLike[str], mode: int) -> None:
    """Remove group and other access from ``path`` if it exists and is ours.

    Best effort: a file of another user, or a file system without modes, is left as it
    is (lmbatch must still work with a store on such a disk).
    """
    if not _POSIX:
        return
    try:
        info = os.stat(path)
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            os.chmod(path, info.st_mode & mode & 0o7777)
    except OSError:
        pass
