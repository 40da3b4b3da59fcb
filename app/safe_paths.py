"""Where the studio may write: new names by default, never over the inputs of the session (issue 11.3).

*Save weights…* and *Export HTML report…* propose a name that does not exist yet
(``<method>-<n>``), ask before replacing an earlier result, and refuse outright to write over the
loaded original checkpoint (or its sidecar, or the dataset file), compared by resolved path and
by inode so a hard link or a symlink is caught too.

The engine's writers keep their own rule for ``--out`` (engine/_core/fileio); this module is the
studio's side of the same promise. NOTE for the merge: if the engine gains a shared "is this an
input of the run" helper, :func:`refuse_inputs` should call it.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine import LetheError

SAVED_RUN_FILES = ("unlearned.safetensors", "unlearned.json", "record.json")  # what save_run writes


class WouldOverwriteInput(LetheError):
    """A write would replace a file the session reads (the original checkpoint, the dataset)."""

    default_hint = "choose another folder or file name"


def slug(text: Any, default: str = "run") -> str:
    """A file-name-safe form of a method name or label ("POUR-P (small)" -> "pour-p-small")."""
    s = re.sub(r"[^a-z0-9._-]+", "-", str(text).lower()).strip("-.")
    return s[:48] or default


def next_free(folder: str | Path, stem: str, suffix: str = "") -> Path:
    """``folder/<stem>-<n><suffix>`` for the smallest n ≥ 1 that does not exist yet."""
    folder = Path(folder)
    n = 1
    while (folder / f"{stem}-{n}{suffix}").exists() or (folder / f"{stem}-{n}{suffix}").is_symlink():
        n += 1
    return folder / f"{stem}-{n}{suffix}"


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` are one file: the same resolved path, or the same inode (hard link)."""
    try:
        if Path(a).resolve() == Path(b).resolve():
            return True
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them does not exist (yet): not the same file
        return False


def session_inputs(model: dict[str, Any], source: str) -> list[Path]:
    """The files a session reads: the original checkpoint and its ``.json`` sidecar, the dataset file."""
    out: list[Path] = []
    ck = model.get("checkpoint")
    if isinstance(ck, str) and ck:
        out += [Path(ck), Path(ck).with_suffix(".json")]
    scheme, _, arg = source.partition(":")
    if scheme in ("npz", "folder") and arg:
        out.append(Path(arg))
    return out


def refuse_inputs(targets: Iterable[str | Path], inputs: Iterable[str | Path]) -> None:
    """Raise :class:`WouldOverwriteInput` when any target is (or is inside a folder that is) an input."""
    inputs = list(inputs)
    for t in targets:
        for i in inputs:
            inside_folder = Path(i).is_dir() and _is_within(Path(t), Path(i))
            if same_file(t, i) or inside_folder:
                raise WouldOverwriteInput(
                    f"refusing to write {t}: it is {'inside ' if inside_folder else ''}the session's input {i}"
                )


def existing_results(folder: str | Path) -> list[Path]:
    """The files of a saved run already in ``folder`` (what *Save weights…* would replace)."""
    folder = Path(folder)
    return [folder / name for name in SAVED_RUN_FILES if (folder / name).exists()]


def is_empty_folder(folder: str | Path) -> bool:
    folder = Path(folder)
    try:
        return folder.is_dir() and not any(folder.iterdir())
    except OSError:
        return False


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except (ValueError, OSError):
        return False
