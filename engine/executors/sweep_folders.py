"""Temporary sweep folders: made when nobody chose where a sweep goes, removed when it is done with.

A studio sweep without a chosen folder writes its journal and ``sweep.json`` into
:func:`temp_sweep_folder` (``<temp>/lethe-sweep-<method>-<time>-p<pid>-<random>``). Such a folder
is removed by :func:`remove_sweep_folder` when the studio no longer needs it (the next sweep
replaces it, the window closes), and :func:`remove_orphan_sweep_folders` removes those left by a
process that is gone (a crash). Both remove a folder only when it holds nothing but the files a
sweep writes (:func:`is_sweep_file`): anything else put there (a run exported into it by hand)
keeps the folder, and a folder the person chose is never passed here.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import time
from pathlib import Path

from engine._core.fileio import pid_alive
from engine.executors.sweep import JOURNAL_NAME, SWEEP_NAME

log = logging.getLogger(__name__)

TEMP_PREFIX = "lethe-sweep-"
_PID_RE = re.compile(r"-p(?P<pid>\d+)-[^-]*$")


def is_sweep_file(name: str) -> bool:
    """Whether a file called ``name`` is one :func:`~engine.executors.sweep.run_sweep` writes:
    the journal (and its lock files), ``sweep.json``, or an atomic write's hidden temporary file."""
    bare = name.removeprefix(".")
    return bare.startswith(JOURNAL_NAME) or bare.startswith(SWEEP_NAME)


def temp_sweep_folder(method: str, parent: str | Path | None = None) -> Path:
    """A new, empty folder for a sweep's journal and sweep.json under the system's temporary folder
    (or ``parent``), named after ``method``, the time and this process (see the module doc)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.]", "_", method)[:40]
    return Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{safe}-{stamp}-p{os.getpid()}-", dir=parent))


def remove_sweep_folder(folder: str | Path) -> bool:
    """Delete ``folder`` when it holds only a sweep's own files (plain files, no sub-folders or
    links to folders); True when it is gone (or was not there). Anything else in it keeps it."""
    folder = Path(folder)
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return True
    except OSError as exc:
        log.warning("the sweep folder %s cannot be read (%s); it is kept", folder, exc)
        return False
    foreign = [p.name for p in entries if not (is_sweep_file(p.name) and (p.is_symlink() or p.is_file()))]
    if foreign:
        log.info("the sweep folder %s holds other files (%s); it is kept", folder, ", ".join(sorted(foreign)[:3]))
        return False
    try:
        for p in entries:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        folder.rmdir()
    except OSError as exc:  # a file appeared meanwhile, or no permission
        log.warning("the sweep folder %s was not removed (%s)", folder, exc)
        return False
    return True


def remove_orphan_sweep_folders(parent: str | Path | None = None) -> list[Path]:
    """Remove the temporary sweep folders (under ``parent``, default the system's temporary folder)
    whose process is gone and that hold only sweep files; returns those removed. Folders of a
    running process, of an unknown process, and folders without a process id are kept."""
    root = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    removed = []
    try:
        candidates = [p for p in root.iterdir() if p.name.startswith(TEMP_PREFIX)]
    except OSError:
        return []
    for folder in candidates:
        m = _PID_RE.search(folder.name)
        if m is None or folder.is_symlink() or not folder.is_dir() or pid_alive(int(m["pid"])):
            continue
        if remove_sweep_folder(folder):
            removed.append(folder)
    return removed
