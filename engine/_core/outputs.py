"""Output folders (``--out``, the studio's *Save weights*): the never-overwrite rule in one place.

A writer claims its folder with :meth:`OutputFolder.claim` before any costly work:

* the path must be a folder (or not exist yet) and writable: else :class:`NotWritable`;
* a lock file (``.lethe.lock``, holding the writer's pid) makes a second concurrent writer
  fail with :class:`OutputLocked`; a lock left by a dead process is taken over;
* a folder that already holds a Lethe artefact (``record.json``, weights, checkpoint sidecars,
  reports) is refused with :class:`WouldOverwrite` unless ``overwrite=True``, and even then the
  run's own inputs are never replaced (:func:`engine._core.fileio.check_not_input`);
* orphaned temporary files of an earlier crash are swept;
* :meth:`OutputFolder.rollback` removes the files this claim created when the save fails half
  way (a disk that fills after the weights), so a failed run leaves the folder as it found it.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from engine._core.errors import NotWritable, OutputLocked, WouldOverwrite
from engine._core.fileio import check_not_input, pid_alive, resource_error, sweep_orphan_tmp, writing
import contextlib

LOCK_NAME = ".lethe.lock"
ARTEFACT_NAMES = frozenset({"record.json"})
ARTEFACT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".html")
_MAX_LISTED = 3
STALE_UNREADABLE_LOCK_S = 60.0


def _is_lethe_sidecar(path: Path) -> bool:
    """A ``.json`` beside weights of the same stem, or one whose content says it is Lethe's."""
    if any(path.with_suffix(s).exists() for s in ARTEFACT_SUFFIXES[:4]):
        return True
    try:
        if path.stat().st_size > 1 << 20:
            return False
        head = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(head, dict) and (head.get("format") == "lethe-checkpoint" or ("spec" in head and "metrics" in head))


def lethe_artefacts(folder: Path) -> list[Path]:
    """Files directly in ``folder`` that Lethe writes or reads as a run's output (sorted)."""
    found: list[Path] = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return found
    for p in entries:
        if not p.is_file() or p.name == LOCK_NAME:
            continue
        if p.name in ARTEFACT_NAMES or p.suffix.lower() in ARTEFACT_SUFFIXES or (
            p.suffix.lower() == ".json" and _is_lethe_sidecar(p)
        ):
            found.append(p)
    return found


class OutputFolder:
    """A claimed output folder; use as a context manager (releases the lock) or call :meth:`release`."""

    def __init__(self, path: Path, overwrite: bool, lock: Path, existed: set[str], created: bool) -> None:
        self.path = path
        self.overwrite = overwrite
        self.lock = lock
        self._existed = existed  # names present when claimed: never removed by rollback
        self._created = created  # the claim made the folder: an empty one is removed on release
        self.written: list[Path] = []

    @classmethod
    def claim(cls, path: str | os.PathLike[str], *, overwrite: bool = False) -> OutputFolder:
        """Check, create and lock ``path`` for one writer (see the module doc for every refusal).

        Even with ``overwrite=True`` a file that is an input of a running job is never replaced:
        every write checks :func:`engine._core.fileio.check_not_input`.
        """
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise NotWritable(f"the output folder {folder} is a file, not a folder",
                              hint="choose a folder name for the output")
        created = not folder.exists()
        with writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
        lock = folder / LOCK_NAME
        try:
            cls._take_lock(lock)
        except BaseException:
            if created:
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise
        out = cls(folder, overwrite, lock, {p.name for p in folder.iterdir()}, created)
        existing = lethe_artefacts(folder)
        if existing and not overwrite:
            out.release()
            more = f" (+{len(existing) - _MAX_LISTED} more)" if len(existing) > _MAX_LISTED else ""
            names = ", ".join(p.name for p in existing[:_MAX_LISTED]) + more
            raise WouldOverwrite(f"the output folder {folder} already holds Lethe files ({names})")
        sweep_orphan_tmp(folder)
        return out

    @staticmethod
    def _take_lock(lock: Path) -> None:
        payload = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode()
        for _attempt in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _read_lock(lock)
                if _stale(lock, holder):
                    with contextlib.suppress(FileNotFoundError):  # left by a process that died: take it over
                        lock.unlink()
                    continue
                who = f"process {holder[0]} on {holder[1]}" if holder else "another process"
                raise OutputLocked(f"{lock.parent} is being written by {who} (lock file {lock})",
                                   hint=f"wait for that run to finish, choose another output folder, "
                                        f"or delete {lock} if no Lethe run is using it") from None
            except OSError as exc:
                err = resource_error(exc, lock)
                raise (err or exc) from exc
            try:
                with writing(lock):
                    os.write(fd, payload)
            finally:
                os.close(fd)
            return
        raise OutputLocked(f"could not take the lock {lock}")  # pragma: no cover - a race lost twice

    def target(self, name: str) -> Path:
        """The path of ``name`` in this folder, checked against the run's inputs; recorded for rollback."""
        path = self.path / name
        check_not_input(path)
        self.written.append(path)
        return path

    def rollback(self) -> None:
        """Remove the files this claim created (never files that were there before it)."""
        for p in self.written:
            if p.name not in self._existed:
                with contextlib.suppress(OSError):
                    p.unlink(missing_ok=True)

    def release(self) -> None:
        """Remove the lock file (only our own), and the folder when this claim made it and it stayed empty."""
        holder = _read_lock(self.lock)
        if holder is not None and holder[0] == os.getpid():
            with contextlib.suppress(OSError):
                self.lock.unlink()
        if self._created:
            with contextlib.suppress(OSError):
                self.path.rmdir()  # only succeeds when empty

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _stale(lock: Path, holder: tuple[int, str] | None) -> bool:
    """A lock of a dead process on this host, or an unreadable one older than a minute."""
    if holder is not None:
        return holder[1] == socket.gethostname() and not pid_alive(holder[0])
    try:
        return time.time() - lock.stat().st_mtime > STALE_UNREADABLE_LOCK_S
    except OSError:
        return True


def _read_lock(lock: Path) -> tuple[int, str] | None:
    try:
        info = json.loads(lock.read_text(encoding="utf-8"))
        return int(info["pid"]), str(info["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
