"""Cache of trained originals and retrains, keyed by what determines them.

Key = (dataset fingerprint, architecture, recipe, seed, forget hash or None). Entries are
ordinary Lethe checkpoints, so a cached model can also be opened as a file. The folder is the
platform user cache (``LETHE_CACHE_DIR`` overrides it).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    override = os.environ.get("LETHE_CACHE_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "lethe" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "lethe"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lethe"


def model_key(
    dataset_fingerprint: str,
    arch: str,
    recipe: dict[str, Any],
    seed: int,
    forget_hash: str | None,
) -> str:
    payload = json.dumps(
        {"v": 1, "dataset": dataset_fingerprint, "arch": arch, "recipe": recipe, "seed": seed, "forget": forget_hash},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def model_path(kind: str, key: str) -> Path:
    """Checkpoint stem for a cached model (``kind`` is ``original`` or ``retrain``)."""
    return cache_dir() / "models" / f"{kind}-{key}"


LOCK_POLL_S = 0.1


@contextlib.contextmanager
def entry_lock(stem: Path, *, wait: Callable[[], None] | None = None) -> Iterator[bool]:
    """Hold an exclusive, cross-process lock on one cache entry (checkpoint ``stem``) while it is made.

    Two workers (local processes or Ray tasks sharing the cache folder) that need the same
    original or retrain would otherwise both train it and both write it; with the lock the second
    waits, then finds the entry and loads it. Yields True when the lock was taken, False when the
    folder cannot hold a lock file (read-only cache: the caller goes on unlocked, as it did before).
    ``wait`` is called every :data:`LOCK_POLL_S` seconds while another process holds the lock
    (raise from it, e.g. ``token.check``, to stop waiting). POSIX uses ``fcntl.flock``, Windows
    ``msvcrt.locking``; the OS drops the lock when its holder dies, so a crashed worker never
    blocks the cache. The lock file, ``<cache>/locks/<folder>-<name>.lock`` (beside the entries'
    folder, so that folder holds only checkpoints), is left in place (empty; removing it would race).
    """
    path = stem.parent.parent / "locks" / f"{stem.parent.name}-{stem.name}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield False
        return
    try:
        while not _try_lock(fd):
            if wait is not None:
                wait()
            time.sleep(LOCK_POLL_S)
        try:
            yield True
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)
