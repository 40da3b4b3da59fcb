"""Every file Lethe writes goes through here: atomic, never onto a run's input, faults as messages.

* Atomic: a file is written to a temporary name in the destination folder, flushed to disk, then
  moved into place with ``os.replace`` (atomic on POSIX and Windows within one volume). A crash,
  a full disk or an exception never leaves a half-written file under the final name.
* Never onto an input: while a run holds :func:`protect_inputs`, a write whose target is one of
  its input files (same device and inode, so symbolic and hard links count) is refused with
  :class:`WouldOverwrite`.
* Faults are messages: a full disk is :class:`DiskFull`, a read-only file system, a missing
  permission or a path that is not a folder is :class:`NotWritable`, each naming the path
  (:func:`resource_error` also recognises safetensors' own error, which is no ``OSError``).
* JSON never holds ``NaN`` or ``Infinity``: :func:`dumps_json` writes them as ``null``.
* A crash (kill -9, power loss) can leave a temporary file behind; its name says which process
  wrote it, and :func:`sweep_orphan_tmp` removes those of dead processes when a run starts.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any


from engine._core.errors import DiskFull, LetheError, NotWritable, WouldOverwrite

_DISK_FULL_ERRNOS = {errno.ENOSPC} | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())
_READ_ONLY_ERRNOS = {errno.EROFS}
_PERMISSION_ERRNOS = {errno.EACCES, errno.EPERM}
_NOT_A_FOLDER_ERRNOS = {errno.ENOTDIR, errno.EEXIST, errno.EISDIR}
_OS_ERROR_IN_TEXT = re.compile(r"os error (\d+)")

# Temporary names: ".<final name>.lethe-<pid>-<8 hex>.tmp" (the pid lets a later run tell an
# orphan from a write in progress). Earlier versions wrote ".<final name>.<12 hex>.tmp".
_TMP_RE = re.compile(r"^\..+\.lethe-(?P<pid>\d+)-[0-9a-f]{8}\.tmp$")
_LEGACY_TMP_RE = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")
ORPHAN_MIN_AGE_S = 60.0  # never sweep a file younger than this (another host may still write it)
LEGACY_ORPHAN_MIN_AGE_S = 3600.0  # legacy names carry no pid: only sweep them when clearly stale


# ----------------------------------------------------------------------------------------------
# resource faults -> messages


def _errno_error(code: int | None, path: Path, detail: str) -> LetheError | None:
    if code in _DISK_FULL_ERRNOS:
        return DiskFull(f"the disk is full while writing {path}")
    if code in _READ_ONLY_ERRNOS:
        return NotWritable(f"cannot write {path}: the file system is read-only")
    if code in _PERMISSION_ERRNOS:
        return NotWritable(f"cannot write {path}: permission denied")
    if code in _NOT_A_FOLDER_ERRNOS:
        return NotWritable(f"cannot write {path}: a part of the path is a file, not a folder ({detail})")
    if code is not None:
        return NotWritable(f"cannot write {path}: {detail}")
    return None


def resource_error(exc: BaseException, path: str | os.PathLike[str]) -> LetheError | None:
    """The user-facing error for a failed write of ``path``, or None when ``exc`` is no resource fault.

    ``OSError`` with ENOSPC / EDQUOT -> :class:`DiskFull`; EROFS, EACCES / EPERM, ENOTDIR and any
    other errno -> :class:`NotWritable`. safetensors raises ``SafetensorError`` (an ``Exception``)
    whose text carries ``os error N``; that errno is mapped the same way.
    """
    target = Path(path)
    if isinstance(exc, LetheError):
        return exc
    if isinstance(exc, OSError):
        return _errno_error(exc.errno, target, exc.strerror or str(exc))
    if type(exc).__name__ == "SafetensorError":
        found = _OS_ERROR_IN_TEXT.search(str(exc))
        if found:
            code = int(found.group(1))
            return _errno_error(code, target, os.strerror(code))
    return None


@contextlib.contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a resource fault raised inside the block into :class:`DiskFull` / :class:`NotWritable` naming ``path``."""
    try:
        yield
    except LetheError:
        raise
    except Exception as exc:
        err = resource_error(exc, path)
        if err is None:
            raise
        raise err from exc


# ----------------------------------------------------------------------------------------------
# the run's inputs are never a write target

_protected: dict[tuple[int, int], list[str]] = {}
_protected_lock = threading.Lock()


def file_identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the file ``path`` names after following links; None if it does not exist."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        try:  # "a/missing/../f" names an existing file once the name is resolved
            st = os.stat(os.path.realpath(path))
        except (OSError, ValueError):
            return None
    return st.st_dev, st.st_ino


@contextlib.contextmanager
def protect_inputs(paths: Iterable[str | os.PathLike[str] | None]) -> Iterator[None]:
    """While the block runs, no Lethe writer in this process may replace any of ``paths``.

    Files are identified by device and inode, so another name for the same file (a symbolic
    link, a hard link, ``..`` in the path) is refused as well. Missing paths are ignored.
    Nested and concurrent uses add up (the studio may run a job while it saves another).
    """
    added: list[tuple[int, int]] = []
    with _protected_lock:
        for p in paths:
            if p is None:
                continue
            ident = file_identity(p)
            if ident is not None:
                _protected.setdefault(ident, []).append(os.fspath(p))
                added.append(ident)
    try:
        yield
    finally:
        with _protected_lock:
            for ident in added:
                names = _protected.get(ident, [])
                if names:
                    names.pop()
                if not names:
                    _protected.pop(ident, None)


def protected_input(path: str | os.PathLike[str]) -> str | None:
    """The input path ``path`` is another name for, when a run protects it; else None."""
    ident = file_identity(path)
    if ident is None:
        return None
    with _protected_lock:
        names = _protected.get(ident)
        return names[-1] if names else None


def check_not_input(path: str | os.PathLike[str]) -> None:
    """Raise :class:`WouldOverwrite` when writing ``path`` would replace an input of a running job."""
    source = protected_input(path)
    if source is not None:
        same = os.fspath(path) == source
        what = "" if same else f" (the same file as {source})"
        raise WouldOverwrite(f"refusing to write {path}{what}: it is an input of this run",
                             hint="choose another output folder; Lethe never replaces a run's own inputs")


# ----------------------------------------------------------------------------------------------
# atomic writes


def tmp_name(path: Path) -> Path:
    """The temporary name a write of ``path`` uses (same folder, hidden, tagged with this pid)."""
    return path.parent / f".{path.name}.lethe-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"


def _fsync_path(path: Path) -> None:
    """Flush a file the writer closed itself to disk."""
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

    Raises :class:`WouldOverwrite` when ``path`` is an input of a running job (nothing written),
    :class:`DiskFull` / :class:`NotWritable` naming ``path`` on a resource fault; on any failure
    the temporary file is removed and ``path`` is left exactly as it was.
    """
    path = Path(path)
    folder = path.parent
    check_not_input(path)
    if path.is_dir():
        raise NotWritable(f"cannot write {path}: it is a folder")
    tmp = tmp_name(path)
    try:
        with writing(path):
            folder.mkdir(parents=True, exist_ok=True)
            # Create the file ourselves (mode 0o666 & ~umask, like a plain open()) so the final file
            # gets ordinary permissions, not mkstemp's 0o600.
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o666))
            mode = tmp.stat().st_mode & 0o777
            writer(tmp)
            if tmp.stat().st_mode & 0o777 != mode:  # some writers recreate the file as 0o600
                os.chmod(tmp, mode)
            _fsync_path(tmp)
            check_not_input(path)  # an input may have appeared under this name meanwhile
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
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


# ----------------------------------------------------------------------------------------------
# JSON without NaN


def json_safe(value: Any, default: Callable[[Any], Any] | None = None) -> Any:
    """``value`` as plain JSON data: non-finite floats become None, NumPy scalars Python numbers,
    tuples lists; any other object goes through ``default`` (then is made safe in turn)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, str) else k: json_safe(v, default) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, default) for v in value]
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:  # NumPy / torch scalars
        try:
            return json_safe(item(), default)
        except (TypeError, ValueError):
            pass
    if default is not None:
        return json_safe(default(value), None)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def dumps_json(value: Any, *, indent: int | None = None, sort_keys: bool = False,
               default: Callable[[Any], Any] | None = None) -> str:
    """``json.dumps`` for every file Lethe writes: NaN and infinities become ``null``, and
    ``allow_nan=False`` guarantees no ``NaN`` / ``Infinity`` token can slip through."""
    return json.dumps(json_safe(value, default), indent=indent, sort_keys=sort_keys, allow_nan=False)


def atomic_write_json(path: str | os.PathLike[str], value: Any, *, indent: int | None = 2,
                      default: Callable[[Any], Any] | None = None) -> Path:
    """Write ``value`` as strict JSON (see :func:`dumps_json`) to ``path`` atomically."""
    return atomic_write_text(path, dumps_json(value, indent=indent, default=default) + "\n")


# ----------------------------------------------------------------------------------------------
# orphans


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (True when that cannot be told safely)."""
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True  # no safe liveness probe here: leave the file to the age rule of legacy names
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: the process exists but belongs to someone else
        return True
    return True


def is_orphan_tmp(path: Path, now: float | None = None) -> bool:
    """True for a temporary file of Lethe's own pattern whose writer is gone (see module doc)."""
    now = time.time() if now is None else now
    try:
        st = path.lstat()
    except OSError:
        return False
    if not path.is_file() or path.is_symlink():
        return False
    age = now - st.st_mtime
    found = _TMP_RE.match(path.name)
    if found:
        return age >= ORPHAN_MIN_AGE_S and not pid_alive(int(found.group("pid")))
    if _LEGACY_TMP_RE.match(path.name):
        return age >= LEGACY_ORPHAN_MIN_AGE_S
    return False


def sweep_orphan_tmp(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove orphaned temporary files of Lethe's own name pattern directly in ``folder``.

    Anything else (the user's files, other programs' temporaries, writes in progress) is left
    alone. Errors (a read-only or missing folder) are ignored: sweeping is housekeeping.
    """
    removed: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    now = time.time()
    for p in entries:
        if is_orphan_tmp(p, now):
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (checkpoints can be hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()
