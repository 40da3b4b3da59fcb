"""Atomic file writes: a crash, a full disk or an exception never leaves a half-written file.

Everything is written to a temporary file in the destination folder, flushed to disk, then
moved into place with ``os.replace`` (atomic on POSIX and Windows within one volume).
"""
from __future__ import annotations

import errno
import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from engine._core.errors import DiskFull
import contextlib

_DISK_FULL_ERRNOS = {errno.ENOSPC} | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())


def _fsync_path(path: Path) -> None:
    """Flush a file the writer closed itself (e.g. safetensors' save_file) to disk."""
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; folders cannot be opened on Windows, which needs no such step."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` to produce the file, then move it to ``path`` atomically.

    Raises :class:`DiskFull` (naming ``path``) when the disk runs out; on any failure the
    temporary file is removed and ``path`` is left exactly as it was.
    """
    path = Path(path)
    folder = path.parent
    tmp = folder / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Create the file ourselves (mode 0o666 & ~umask, like a plain open()) so the final file
        # gets ordinary permissions, not mkstemp's 0o600.
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o666))
        mode = tmp.stat().st_mode & 0o777
        writer(tmp)
        if tmp.stat().st_mode & 0o777 != mode:  # some writers (safetensors) recreate the file as 0o600
            os.chmod(tmp, mode)
        _fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
            raise DiskFull(f"the disk is full while writing {path}") from exc
        raise
    _fsync_dir(folder)
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    return atomic_write(path, write)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (``\\n`` line endings on every platform)."""
    return atomic_write_bytes(path, text.encode(encoding))


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (checkpoints can be hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()
